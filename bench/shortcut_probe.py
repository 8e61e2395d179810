"""Can real and fake faces be told apart by image quality alone? A probe for training shortcuts.

    .venv/bin/python bench/shortcut_probe.py [--data DIR ...] [--per-source 1500] [--seed 0]
    .venv/bin/python bench/shortcut_probe.py --weights FILE [FILE ...] [--reals 400]

Sharp generated portraits against soft video and web crops: if quality alone separates a family's fakes
from the reals, a detector can learn "sharp means fake" instead of the manipulation, and a clean real
portrait then looks fake to it. For each crop, as the model sees it (the 128 px centre view of
``lite0_lstm``), eight quality statistics are taken: sharpness (mean absolute Laplacian), the share of
high-frequency energy, JPEG blockiness, a noise estimate, brightness, contrast, saturation, and the
sharpness of the border against the middle (background blur, framing). A logistic regression on those and
their pairwise products is fitted on a sample of the train split and scored on the whole val split: the
AUC of each fake family against all val reals. That is done three times, on the crops

- **raw**: as stored;
- **degraded**: through the training degradations (``Degrade`` at strength 1.3, 15 % of tracks clean:
  the shipped recipe), drawn independently for each crop;
- **matched**: through ``MatchQuality`` (brightness, contrast, saturation and sharpness drawn alike for
  both classes) and then the same degradations (``deepsentry train --match-quality``).

An AUC near 0.5 says quality carries no label; far from it, the family can be told from the reals
without looking at the face. It also prints the sharpness and contrast percentiles that
``augment.SHARPNESS_RANGE`` and ``CONTRAST_RANGE`` are set from.

``--weights`` asks what a trained model took from that: ``--reals`` val reals (an even share of each real
source) are scored as stored and made "clean" (grey levels stretched to a contrast of 60 and sharpened
to a sharpness of 15, the upper range of the generated fakes, each crop's own brightness and colour
kept), and it prints, per weights file, the mean fake probability of each, the share labelled fake, and
the AUC of clean against stored (0.5: cleaning a real photo changes nothing; below it, the model finds a
cleaner photo more real, above it more fake).
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deepsentry.detector.augment import Degrade, MatchQuality, crop_window, sharpness  # noqa: E402
from deepsentry.detector.metrics import auc  # noqa: E402

DATA = [ROOT.parent / "shared" / "datasets" / "faces", ROOT.parent / "shared" / "datasets" / "faces_more"]
VIEW = 128
FEATURES = ("sharpness", "high frequency", "blockiness", "noise", "brightness", "contrast", "saturation",
            "border/middle sharpness")


def view(crop: np.ndarray) -> np.ndarray:
    s = crop.shape[0]
    return crop_window(crop, s / 2, s / 2, s * 0.925, 0.0, VIEW)


def quality(img: np.ndarray) -> np.ndarray:
    """The eight statistics of one RGB uint8 crop."""
    grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)
    lap = np.abs(cv2.Laplacian(grey, cv2.CV_32F))
    power = np.abs(np.fft.rfft2(grey - grey.mean())) ** 2
    fy = np.fft.fftfreq(grey.shape[0])[:, None]
    fx = np.fft.rfftfreq(grey.shape[1])[None, :]
    high = power[np.hypot(fx, fy) > 0.25].sum() / max(power.sum(), 1e-6)
    dx = np.abs(np.diff(grey, axis=1))
    on_grid = dx[:, 7::8].mean()
    blockiness = on_grid / max(dx.mean(), 1e-3)
    noise = np.median(lap)
    hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)
    b = VIEW // 6
    middle = lap[b:-b, b:-b].mean()
    border = (lap.sum() - lap[b:-b, b:-b].sum()) / (lap.size - lap[b:-b, b:-b].size)
    return np.array([np.log(lap.mean() + 1e-3), high, blockiness, np.log(noise + 1e-3), grey.mean() / 255,
                     grey.std() / 255, hsv[..., 1].mean() / 255, np.log((border + 1e-3) / (middle + 1e-3))])


def expand(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    z = (x - mean) / std
    i, j = np.triu_indices(z.shape[1])
    return np.hstack([z, z[:, i] * z[:, j]])


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-2) -> np.ndarray:
    from scipy.optimize import minimize
    from scipy.special import expit

    xb = np.hstack([x, np.ones((len(x), 1))])
    w_pos = 0.5 / max(y.mean(), 1e-6)
    w_neg = 0.5 / max(1 - y.mean(), 1e-6)
    weight = np.where(y == 1, w_pos, w_neg)

    def loss(w):
        z = xb @ w
        p = expit(z)
        nll = np.sum(weight * (np.logaddexp(0, z) - y * z)) / len(y) + l2 * np.sum(w[:-1] ** 2)
        grad = xb.T @ (weight * (p - y)) / len(y)
        grad[:-1] += 2 * l2 * w[:-1]
        return nll, grad

    return minimize(loss, np.zeros(xb.shape[1]), jac=True, method="L-BFGS-B").x


def transform(crops, condition: str, rng: np.random.Generator) -> np.ndarray:
    out = []
    for c in crops:
        v = view(c)
        if condition == "matched":
            v = MatchQuality(rng)(v)
        if condition != "raw" and rng.random() >= 0.15:
            v = Degrade(rng, 1.3)(v)
        out.append(quality(np.ascontiguousarray(v)))
    return np.array(out)


def clean(crop: np.ndarray) -> np.ndarray:
    """A real crop given a studio look: contrast 60, sharpness 15, its own brightness and colour."""
    match = MatchQuality(np.random.default_rng(0))
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    match.brightness, match.contrast, match.sharpness = float(grey.mean()), 60.0, 15.0
    match.saturation = float(cv2.cvtColor(crop, cv2.COLOR_RGB2HSV)[..., 1].mean())
    return match(crop)


def sensitivity(root: Path, rows, weights: list[Path], n: int, seed: int) -> int:
    from deepsentry.detector.data import load_images
    from deepsentry.detector.inference import load_scorer
    from deepsentry.detector.model import model_view

    rng = np.random.default_rng(seed)
    sources = sorted({r.source for r in rows if r.split == "val" and r.label == 0})
    reals = []
    for s in sources:
        pool = np.array([r for r in rows if r.split == "val" and r.label == 0 and r.source == s], dtype=object)
        reals += list(rng.permutation(pool)[:n // len(sources)])
    crops = load_images(root, reals, None, progress=False)
    print(f"{len(reals)} val reals ({', '.join(sources)}), as stored and made clean")
    print("| weights | mean p(fake) stored | clean | labelled fake, stored | clean | AUC clean vs stored |")
    print("|---|---|---|---|---|---|")
    for w in weights:
        scorer = load_scorer(w)
        stored = np.array(scorer.score_crops([model_view(c, scorer.cfg) for c in crops]))
        cleaned = np.array(scorer.score_crops([model_view(clean(c), scorer.cfg) for c in crops]))
        y = np.r_[np.zeros(len(stored)), np.ones(len(cleaned))]
        fake = [np.mean([scorer.label(p) == "fake" for p in v]) for v in (stored, cleaned)]
        print(f"| {w} | {stored.mean():.3f} | {cleaned.mean():.3f} | {fake[0]:.0%} | {fake[1]:.0%} | "
              f"{auc(y, np.r_[stored, cleaned]):.3f} |", flush=True)
    return 0


def sample_split(rows, per_source: int, rng: np.random.Generator) -> tuple[list, list]:
    """At most ``per_source`` train rows of each (source, label), drawn at random, and every val row."""
    by_source = defaultdict(list)
    for r in rows:
        if r.split == "train":
            by_source[(r.source, r.label)].append(r)
    train = [r for group in by_source.values()
             for r in rng.permutation(np.array(group, dtype=object))[:per_source]]
    return train, [r for r in rows if r.split == "val"]


def main() -> int:
    from deepsentry.detector.data import load_images, read_indexes

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, nargs="+", default=DATA)
    ap.add_argument("--per-source", type=int, default=1500, help="train crops per source and label")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--weights", type=Path, nargs="+", default=None,
                    help="score real crops as stored and made clean with these weights instead of the probe")
    ap.add_argument("--reals", type=int, default=400, help="val reals to score with --weights")
    args = ap.parse_args()
    root, rows = read_indexes([d / "index.csv" for d in args.data])
    if args.weights:
        return sensitivity(root, rows, args.weights, args.reals, args.seed)
    rng = np.random.default_rng(args.seed)
    train, val = sample_split(rows, args.per_source, rng)
    print(f"{len(train)} train crops (at most {args.per_source} per source and label), {len(val)} val crops",
          flush=True)
    train_img = load_images(root, train, None, progress=False)
    val_img = load_images(root, val, None, progress=False)
    views = [view(c) for c in train_img]
    labels = np.array([r.label for r in train])
    for name, values in (("sharpness", [sharpness(v) for v in views]),
                         ("contrast", [cv2.cvtColor(v, cv2.COLOR_RGB2GRAY).std() for v in views])):
        values = np.asarray(values)
        pct = [" / ".join(f"{x:.1f}" for x in np.percentile(v, [5, 50, 95]))
               for v in (values, values[labels == 0], values[labels == 1])]
        print(f"{name} of the 128 px train views, 5th / 50th / 95th percentile: all {pct[0]}; reals {pct[1]}; "
              f"fakes {pct[2]}")

    y_train = np.array([r.label for r in train], np.float64)
    y_val = np.array([r.label for r in val])
    families = sorted({r.family or r.source for r in val if r.label == 1})
    results = {}
    for condition in ("raw", "degraded", "matched"):
        xt = transform(train_img, condition, np.random.default_rng([args.seed, 1]))
        xv = transform(val_img, condition, np.random.default_rng([args.seed, 2]))
        mean, std = xt.mean(0), xt.std(0) + 1e-6
        w = fit_logistic(expand(xt, mean, std), y_train)
        score = np.hstack([expand(xv, mean, std), np.ones((len(xv), 1))]) @ w
        real = y_val == 0
        row = {"all": auc(y_val, score)}
        for fam in families:
            pick = real | np.array([r.label == 1 and (r.family or r.source) == fam for r in val])
            row[fam] = auc(y_val[pick], score[pick])
        results[condition] = row
        print(f"{condition}: all {row['all']:.3f}", flush=True)

    print("\nAUC of a quality-only probe (fake family against all val reals; 0.5: quality tells nothing)")
    print("| family | raw | degraded (shipped recipe) | matched + degraded |")
    print("|---|---|---|---|")
    for fam in ["all", *families]:
        print(f"| {fam} | " + " | ".join(f"{results[c][fam]:.3f}" for c in ("raw", "degraded", "matched")) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

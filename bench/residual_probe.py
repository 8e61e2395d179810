"""Do generator traces in the high-pass residual carry over to a family of fakes never trained on?

    .venv/bin/python bench/residual_probe.py [--data DIR ...] [--per-source 1000] [--seed 0]

The synthesis branch is meant to find GAN and diffusion faces it has never seen, and frequency-domain cues
of the high-pass residual are the ones reported to transfer across generators (upsampling leaves periodic
peaks, denoisers a spectrum unlike a camera's). This asks, before any network is trained on them, whether
such cues reach a held-out family *here*, and whether they are more than the image-quality shortcut that
``bench/shortcut_probe.py`` measures.

For each crop's 128 px model view (grey): the residual is the image minus its 3x3 median; features are
the residual's log power along x and along y (mean row and column spectra, 65 bins each, taken relative
to their own mean so that only the shape counts) and its total log energy. A logistic regression is
fitted on train crops (at most ``--per-source`` per source and label) with one fake family left out, and
scores the val crops as stored: the AUC of the held-out family's fakes against all val reals. Three
feature sets are compared in the same run: the quality statistics of ``shortcut_probe`` (and their
products), the residual spectrum, and both. Training crops are taken raw, and through ``MatchQuality``
and the shipped degradations (what ``deepsentry train --match-quality`` shows the network), drawn per
crop. The "in" column fits on every family: the in-training reference for the same features.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from shortcut_probe import DATA, expand, fit_logistic, quality, sample_split, view  # noqa: E402

from deepsentry.detector.augment import Degrade, MatchQuality  # noqa: E402
from deepsentry.detector.metrics import auc  # noqa: E402


def residual_spectrum(img: np.ndarray) -> np.ndarray:
    """Shape of the high-pass residual's row and column power spectra, and its log energy."""
    grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    res = grey.astype(np.float32) - cv2.medianBlur(grey, 3).astype(np.float32)
    px = (np.abs(np.fft.rfft(res, axis=1)) ** 2).mean(axis=0)
    py = (np.abs(np.fft.rfft(res, axis=0)) ** 2).mean(axis=1)
    lx, ly = np.log(px + 1e-3), np.log(py + 1e-3)
    return np.r_[lx - lx.mean(), ly - ly.mean(), np.log(float((res ** 2).mean()) + 1e-3)]


def features(crops, condition: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    q, r = [], []
    for c in crops:
        v = view(c)
        if condition == "matched":
            v = MatchQuality(rng)(v)
            if rng.random() >= 0.15:
                v = Degrade(rng, 1.3)(v)
        v = np.ascontiguousarray(v)
        q.append(quality(v))
        r.append(residual_spectrum(v))
    return np.array(q), np.array(r)


def design(q: np.ndarray, r: np.ndarray, kind: str, stats) -> np.ndarray:
    (qm, qs), (rm, rs) = stats
    parts = []
    if kind in ("quality", "both"):
        parts.append(expand(q, qm, qs))
    if kind in ("residual", "both"):
        parts.append((r - rm) / rs)
    return np.hstack(parts)


def main() -> int:
    from deepsentry.detector.data import load_images, read_indexes

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, nargs="+", default=DATA)
    ap.add_argument("--per-source", type=int, default=1000, help="train crops per source and label")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    root, rows = read_indexes([d / "index.csv" for d in args.data])
    rng = np.random.default_rng(args.seed)
    train, val = sample_split(rows, args.per_source, rng)
    fam = lambda r: r.family or r.source  # noqa: E731
    families = sorted({fam(r) for r in val if r.label == 1})
    print(f"{len(train)} train crops, {len(val)} val crops; families: {', '.join(families)}", flush=True)
    train_img = load_images(root, train, None, progress=False)
    val_img = load_images(root, val, None, progress=False)
    yt = np.array([r.label for r in train], np.float64)
    yv = np.array([r.label for r in val])
    qv, rv = features(val_img, "raw", rng)
    kinds = ("quality", "residual", "both")
    table = {}
    for condition in ("raw", "matched"):
        qt, rt = features(train_img, condition, np.random.default_rng([args.seed, 1]))
        stats = ((qt.mean(0), qt.std(0) + 1e-6), (rt.mean(0), rt.std(0) + 1e-6))
        for kind in kinds:
            xt, xv = design(qt, rt, kind, stats), design(qv, rv, kind, stats)
            xvb = np.hstack([xv, np.ones((len(xv), 1))])
            for held in [None, *families]:
                keep = np.array([r.label == 0 or fam(r) != held for r in train])
                score = xvb @ fit_logistic(xt[keep], yt[keep])
                for f in families if held is None else [held]:
                    pick = (yv == 0) | np.array([r.label == 1 and fam(r) == f for r in val])
                    table[(condition, kind, f, held is None)] = auc(yv[pick], score[pick])
            print(f"{condition} / {kind}: done", flush=True)

    print("\nAUC of each family's val fakes against all val reals; held out: fitted without that family, "
          "in: fitted on all")
    print("| family | training crops | " + " | ".join(f"{k} held out | {k} in" for k in kinds) + " |")
    print("|---|---|" + "---|---|" * len(kinds))
    for f in families:
        for condition in ("raw", "matched"):
            cells = " | ".join(f"{table[(condition, k, f, False)]:.3f} | {table[(condition, k, f, True)]:.3f}"
                               for k in kinds)
            print(f"| {f} | {condition} | {cells} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

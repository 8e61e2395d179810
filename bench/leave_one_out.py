"""Leave-one-family-out evaluation: train once per fake family without it, score every family.

    .venv/bin/python bench/leave_one_out.py [--minutes 25] [--family KEY ...] [--runs runs/lofo] [--no-own]
        [--cache DIR] [--threads 2] [--match-quality P [--match-on pair|track]] [--p-resynth P]
        [--extra-data DIR ...] [--recalibrate]

For each family (a substring of the crop indexes' ``family`` column) it runs ``deepsentry train`` with
``--leave-out KEY`` and a time budget, the same recipe as the shipped lite0_lstm weights, then reads the
run's ``metrics.json``: the AUC of each fake family's validation crops against all validation reals. The
held-out family's AUC is the number that predicts what a user meets; the other families' AUC in the same
run is the in-training reference at the same budget. A finished family (its ``metrics.json`` exists) is
not trained again, so an interrupted bench resumes where it stopped. Runs share one crop and landmark
cache (linked from ``--cache``, made by the first run if absent). Prints one table at the end.

Our own generator's fakes (``runs/genfakes``, made by ``bench/generator_fakes.py --splits train val``) are
two more families, ``own swap`` and ``own animate``: when that folder exists every run trains on it too
(less the family left out) and the table has their columns; ``--no-own`` leaves them out. A run keeps the
data it was trained with, so rows trained before the folder existed have no own-family cells.

Calibration (the branch fusion, temperatures, threshold) is fitted on val without the held-out family, so
the held-out AUC owes nothing to it. Runs trained before that rule (or whose calibration failed) can be
refitted in place with ``--recalibrate``: the network is kept, its calibration is fitted again with the
current code on the data it was trained with, and ``metrics.json`` is rewritten (the old one is kept as
``metrics_before_recalibration.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = [ROOT.parent / "shared" / "datasets" / "faces", ROOT.parent / "shared" / "datasets" / "faces_more"]
OWN = ROOT / "runs" / "genfakes"

# key given to --leave-out (matches the fakes' family column only, never a real's), the source whose
# val AUC is that family's, and the row label
FAMILIES = {
    "faceswap": ("dfdc", "faceswap (DFDC)"),
    "attribute edit": ("stargan_celeba", "StarGAN edits"),
    "Stable Diffusion 2.1": ("sdfd", "Stable Diffusion 2.1"),
    "SFHQ-T2I": ("sfhq_t2i", "SFHQ-T2I (Flux/SDXL/DALL-E 3)"),
}
OWN_FAMILIES = {
    "own swap": ("own_swap", "own swap"),
    "own animate": ("own_animate", "own animate"),
}
SLUG = {k: k.lower().replace(" ", "_").replace(".", "") for k in {**FAMILIES, **OWN_FAMILIES}}


def train(key: str, run: Path, cache: Path, minutes: float, threads: int, data: list[Path], extra: list[str]) -> None:
    run.mkdir(parents=True, exist_ok=True)
    for name in ("crops160.npy", "crops160.json", "landmarks.npz"):
        src, dst = cache / name, run / name
        if src.is_file() and not dst.exists():
            os.symlink(src.resolve(), dst)
    cmd = [str(ROOT / ".venv" / "bin" / "deepsentry"), "train", "--data", *map(str, data),
           "--arch", "lite0_lstm", "--pretrained", "--out", str(run / "model.pt"), "--epochs", "8",
           "--batch-size", "32", "--lr", "1e-3", "--trunk-lr-scale", "0.3", "--threads", str(threads),
           "--workers", "1", "--degrade-strength", "1.3", "--p-clean", "0.15", "--ema", "0.998",
           "--time-budget", str(minutes), "--no-progress", "--leave-out", key, *extra]
    print(f"[{time.strftime('%H:%M:%S')}] training without {key!r} for {minutes} min -> {run}", flush=True)
    with open(run / "train.log", "a") as log:
        subprocess.run(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, check=True)


def recalibrate(key: str, run: Path, threads: int) -> None:
    """Refit a finished run's calibration with the held-out family kept out of the fit (module docstring)."""
    import numpy as np
    import torch

    from deepsentry.detector.data import load_images, row_kinds
    from deepsentry.detector.model import load_weights, save_weights
    from deepsentry.detector.train import TrainOptions, _left_out, _read_data, calibrate_on_val

    torch.set_num_threads(threads)
    old = json.loads((run / "metrics.json").read_text())
    data = [Path(d) for d in re.findall(r"'([^']+)'", old["options"]["data"])]     # str() of the paths' tuple
    model, _ = load_weights(run / "model.pt", device="cpu")
    _, root, rows = _read_data(TrainOptions(data=tuple(data), out=run / "model.pt"), model.cfg, run)
    images = load_images(root, rows, run / "crops160.npy", progress=False)
    va = np.array([i for i, r in enumerate(rows) if r.split == "val"])
    kinds = row_kinds(rows)
    fit = np.array([not _left_out(rows[i], (key,)) for i in va])
    metrics = calibrate_on_val(model, images, np.array([r.label for r in rows]), [r.source for r in rows], va, "cpu",
                               kinds=kinds, fit_mask=fit)
    metrics.update({k: v for k, v in old.items() if k not in metrics})
    if not (run / "metrics_before_recalibration.json").exists():
        (run / "metrics.json").replace(run / "metrics_before_recalibration.json")
    save_weights(model, run / "model.pt", model.cfg, extra={"metrics": metrics})
    (run / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str))
    print(f"[{time.strftime('%H:%M:%S')}] {run}: calibration refitted without {key!r}", flush=True)


def table(results: dict[str, dict], families: dict[str, tuple[str, str]]) -> list[str]:
    cols = [label for _, label in families.values()]
    out = ["| held out | " + " | ".join(cols) + " | all |", "|---" * (len(cols) + 2) + "|"]
    for key, frame in results.items():
        cells = []
        for k, (source, _) in families.items():
            a = frame.get(source, {}).get("auc")
            txt = "–" if a is None else f"{a:.3f}"
            cells.append(f"**{txt}**" if k == key else txt)
        out.append(f"| {families[key][1]} | " + " | ".join(cells) + f" | {frame['all']['auc']:.3f} |")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=25.0, help="training budget per held-out family")
    ap.add_argument("--family", nargs="*", default=None, choices=list(FAMILIES) + list(OWN_FAMILIES),
                    help="families to hold out, one run each (default: all there are data for)")
    ap.add_argument("--runs", type=Path, default=ROOT / "runs" / "lofo")
    ap.add_argument("--cache", type=Path, default=None,
                    help="folder with crops160.npy etc. (default: runs/v12 with our own fakes, runs/v10 without)")
    ap.add_argument("--no-own", action="store_true", help="train and score without runs/genfakes")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--match-quality", type=float, default=0.0,
                    help="passed to deepsentry train: the recipe with quality matching (bench/shortcut_probe.py)")
    ap.add_argument("--match-on", choices=("pair", "track"), default="pair",
                    help="passed to deepsentry train with --match-quality: fit it on a fake's original or each crop")
    ap.add_argument("--p-resynth", type=float, default=0.0,
                    help="passed to deepsentry train: the share of reals made self-resynthesised synthesis fakes")
    ap.add_argument("--extra-data", type=Path, nargs="*", default=[],
                    help="more crop index folders to train and validate on (e.g. runs/gan_faces made with --train-n)")
    ap.add_argument("--recalibrate", action="store_true",
                    help="refit finished runs' calibration without their held-out family (module docstring)")
    args = ap.parse_args()
    extra = (["--match-quality", str(args.match_quality), "--match-on", args.match_on] if args.match_quality else []) \
        + (["--p-resynth", str(args.p_resynth)] if args.p_resynth else [])

    own = not args.no_own and (OWN / "index.csv").is_file()
    families = {**FAMILIES, **(OWN_FAMILIES if own else {})}
    data = DATA + ([OWN] if own else []) + list(args.extra_data)
    cache = args.cache or ROOT / "runs" / ("v12" if own else "v10")
    results = {}
    for key in args.family or list(families):
        if key not in families:
            raise SystemExit(f"no data for {key!r}: make runs/genfakes with bench/generator_fakes.py first")
        run = args.runs / SLUG[key]
        if not (run / "metrics.json").is_file():
            train(key, run, cache, args.minutes, args.threads, data, extra)
        elif args.recalibrate:
            recalibrate(key, run, args.threads)
        results[key] = json.loads((run / "metrics.json").read_text())["frame"]
        print("\n".join(table({key: results[key]}, families)), flush=True)
    print("\nAUC of each family's val fakes against all val reals; bold: the family left out of training")
    print("\n".join(table(results, families)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

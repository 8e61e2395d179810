"""Fakes made by our own generator from DFDC's real face crops, for the detector's held-out families.

    .venv/bin/python bench/generator_fakes.py [--per-split 300] [--splits val] [--out runs/genfakes]

DFDC's actors are paid participants who consented to face-swap research, so their crops may be swapped
and animated for training and evaluation; the generator's functions are called directly (the consent
gate guards media that leaves the machine, and these crops never do). Per split, for each real crop A
(160 px, from ``../shared/datasets/faces``) and the next real crop B of another video:

- ``own swap``: A's face swapped onto B with ``generator.swap.swap_frame`` (Poisson blending);
- ``own animate``: A animated by ``generator.animate`` with a driver motion made from B's landmarks
  (mouth opening, a small head turn and nod, drawn per crop).

Writes ``OUT/<family>/<split>/*.jpg`` and ``OUT/index.csv`` in the shared datasets' index format, so
``bench/detector_families.py --data ../shared/datasets/faces OUT`` scores the two families against the
DFDC and UTKFace reals, and ``deepsentry train --data ... OUT`` can train on them. Research data: keep
it beside the repo (``runs/`` is not committed).
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FACES = ROOT.parent / "shared" / "datasets" / "faces"


def dfdc_reals(data: Path, split: str) -> list[dict]:
    with open(data / "index.csv", newline="") as f:
        return [r for r in csv.DictReader(f) if r["split"] == split and r["source"] == "dfdc" and r["label"] == "real"]


def landmarks(img: np.ndarray) -> np.ndarray | None:
    from deepsentry.generator.landmarks import detect_faces

    faces = detect_faces(img, upsample=1)
    return faces[0].points if faces else None


def driver_motion(points: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """B's landmarks moved as a talking head moves: the jaw and lower lip down, a turn and a nod."""
    moved = points.astype(np.float64).copy()
    h = float(np.ptp(points[:, 1]))
    open_px = rng.uniform(0.03, 0.10) * h
    moved[6:11, 1] += open_px                    # chin
    moved[56:59, 1] += open_px                   # lower outer lip
    moved[65:68, 1] += open_px * 0.8             # lower inner lip
    c = points.mean(0)
    a = np.deg2rad(rng.uniform(-7, 7))
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    moved = (moved - c) @ rot.T + c
    moved[:, 0] += rng.uniform(-0.04, 0.04) * h
    moved[:, 1] += rng.uniform(-0.03, 0.03) * h
    return moved.astype(np.float32)


def make(data: Path, out: Path, split: str, n: int, seed: int) -> list[dict]:
    from deepsentry.generator import animate, swap

    rng = np.random.default_rng(seed)
    reals = dfdc_reals(data, split)
    rng.shuffle(reals)
    rows, made, tried = [], {"own swap": 0, "own animate": 0}, 0
    for a_row, b_row in zip(reals, reals[1:] + reals[:1]):
        if min(made.values()) >= n:
            break
        tried += 1
        if a_row["group"] == b_row["group"]:
            continue
        a = cv2.imread(str(data / a_row["path"]))[:, :, ::-1].copy()
        b = cv2.imread(str(data / b_row["path"]))[:, :, ::-1].copy()
        pa, pb = landmarks(a), landmarks(b)
        if pa is None or pb is None:
            continue
        a_id, b_id = Path(a_row["path"]).stem, Path(b_row["path"]).stem
        outputs = {}
        if made["own swap"] < n:
            outputs["own swap"] = (swap.swap_frame(b, swap.prepare_source(a, pa), pb), b_id)
        if made["own animate"] < n:
            src = animate.prepare_source(a, pa)
            moved = animate.driven_points(pa, pb, driver_motion(pb, rng))
            outputs["own animate"] = (animate.animate_frame(src, moved), a_id)
        for family, (img, original) in outputs.items():
            rel = Path(family.replace(" ", "_")) / split / f"gen_{a_id}_{b_id}.jpg"
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(out / rel), np.ascontiguousarray(img[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 92])
            rows.append({"path": str(rel), "split": split, "label": "fake", "source": family.replace(" ", "_"),
                         "group": f"gen:{a_row['group']}", "cluster": f"gen:{a_row['cluster']}", "family": family,
                         "original": original, "meta": f"source={a_id};target={b_id}"})
            made[family] += 1
    print(f"{split}: {made} from {tried} pairs of DFDC real crops")
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=FACES)
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "genfakes")
    ap.add_argument("--splits", nargs="+", default=["val"])
    ap.add_argument("--per-split", type=int, default=300, help="fakes per family and split")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    rows = []
    for i, split in enumerate(args.splits):
        rows += make(args.data, args.out, split, args.per_split, args.seed + i)
    with open(args.out / "index.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["path", "split", "label", "source", "group", "cluster", "family", "original", "meta"])
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {len(rows)} fakes and {args.out / 'index.csv'} in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

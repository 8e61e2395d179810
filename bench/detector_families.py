"""Per-family scores of detector weights on the validation crops of the shared datasets.

    .venv/bin/python bench/detector_families.py [--weights FILE ...] [--data DIR ...] [--split val]

For every family in the crop indexes (``faces``: DFDC swaps, DFDC and UTKFace reals; ``faces_more``:
StarGAN edits, diffusion faces, CelebA reals) it prints the AUC of that family's fakes against all the
reals of the split, and how often each verdict (real / uncertain / fake) is given to the family, with
the weights' own calibrated threshold and uncertain band. A second AUC scores a family against the reals
listed in its own index only (DFDC swaps against DFDC and UTKFace reals, StarGAN against its CelebA
originals, ``bench/gan_faces.py``'s GAN faces against DFDC reals brought to the GAN's 64 px). Several
``--weights`` are scored on the same crops in one run. Scores come from
``deepsentry.detector.evaluate.evaluate_index`` (the same crops, framing and calibration as ``deepsentry eval``).
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_DATA = [ROOT.parent / "shared" / "datasets" / "faces", ROOT.parent / "shared" / "datasets" / "faces_more"]


def families(index: Path) -> dict[str, str]:
    with open(index, newline="") as f:
        return {r["path"]: (r.get("family") or r.get("source") or "?") for r in csv.DictReader(f)}


def score(weights: Path | None, data: list[Path], split: str) -> list[dict]:
    from deepsentry.detector.evaluate import evaluate_index
    from deepsentry.detector.inference import load_scorer

    scorer = load_scorer(weights)
    items = []
    for d in data:
        index = d / "index.csv"
        fam = families(index)
        res = evaluate_index(index, scorer=scorer, split=split).metrics
        for it in res["items"]:
            label = it["label"]
            family = "real: " + it["source"] if label == "real" else fam[it["path"]]
            items.append({**it, "family": family, "index": str(d)})
    return items


def table(items: list[dict]) -> list[str]:
    from deepsentry.detector.metrics import auc

    reals = [i for i in items if i["label"] == "real"]
    rs = np.array([i["score"] for i in reals])

    def auc_against(real_scores, fs) -> str:
        if not len(real_scores):
            return "-"
        return f"{auc(np.r_[np.zeros(len(real_scores)), np.ones(len(fs))], np.r_[real_scores, fs]):.3f}"

    rows = [f"{'family':<48} {'n':>5} {'AUC vs all reals':>16} {'vs own index reals':>18} {'real':>6} {'uncert':>7} "
            f"{'fake':>6}"]
    for fam in sorted({i["family"] for i in items}):
        group = [i for i in items if i["family"] == fam]
        v = Counter(i["verdict"] for i in group)
        n = len(group)
        if group[0]["label"] == "fake":
            fs = np.array([i["score"] for i in group])
            own = np.array([i["score"] for i in reals if i["index"] == group[0]["index"]])
            a_txt, own_txt = auc_against(rs, fs), auc_against(own, fs)
        else:
            a_txt = own_txt = "-"
        rows.append(f"{fam[:48]:<48} {n:>5} {a_txt:>16} {own_txt:>18} {v['real'] / n:>6.1%} {v['uncertain'] / n:>7.1%} "
                    f"{v['fake'] / n:>6.1%}")
    allv = np.array([i["score"] for i in items])
    ally = np.array([i["label"] == "fake" for i in items], dtype=int)
    rows.append(f"{'all':<48} {len(items):>5} {auc(ally, allv):>16.3f}")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", type=Path, nargs="*", default=[None], help="weights files (default: shipped)")
    ap.add_argument("--data", type=Path, nargs="*", default=DEFAULT_DATA, help="crop index folders")
    ap.add_argument("--split", default="val")
    args = ap.parse_args()
    for w in args.weights:
        print(f"\n== {w or 'shipped weights'} ({args.split} split of {', '.join(d.name for d in args.data)})")
        for line in table(score(w, args.data, args.split)):
            print(line)


if __name__ == "__main__":
    main()

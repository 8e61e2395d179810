"""Video-level evaluation: clips made from held-back DFDC validation faces, through the whole pipeline.

    .venv/bin/python bench/video_eval.py [--per-class 60] [--weights FILE] [--key-every 1 4]
        [--track-score lstm mean lstm+mean] [--keep DIR]

Builds a real/ fake/ folder of H.264 clips (3 s, 10 fps, 640x360): each holds one validation-split face
crop of ``../shared/datasets/faces`` (DFDC reals and DFDC swaps, never trained on), 220 px, drifting over
a face-free scene. Then runs ``deepsentry eval`` on it (MTCNN, tracks, CNN+LSTM, calibrated verdict) once
per ``--key-every`` (1: the whole-frame face search on every sampled frame; 4: the daemon's default key
frames) and ``--track-score`` (how a track's probability is made: the LSTM, the mean frame logit, or
both; the weights file's own choice when not given), and prints for each the video AUC of the track
score, of each track's mean frame probability, and the seconds taken. The clips come from stills, so
they test the face search and the scoring path, not temporal cues.
"""

from __future__ import annotations

import argparse
import csv
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deepsentry.detector.result import TRACK_SCORES  # noqa: E402

DATA = ROOT.parent / "shared" / "datasets" / "faces"


def build(folder: Path, per_class: int, seed: int = 0) -> None:
    import cv2

    from deepsentry.media import load_image
    from tests.mediautil import scene, write_video

    rows = [r for r in csv.DictReader(open(DATA / "index.csv", newline="")) if r["split"] == "val"
            and r["source"] == "dfdc"]
    rng = random.Random(seed)
    for label in ("real", "fake"):
        (folder / label).mkdir(parents=True, exist_ok=True)
        picked = rng.sample([r for r in rows if r["label"] == label], per_class)
        for k, r in enumerate(picked):
            face = cv2.resize(load_image(DATA / r["path"]), (220, 220), interpolation=cv2.INTER_CUBIC)
            bg = scene(640, 360, seed=k % 7)

            def frames(face=face, bg=bg, k=k):
                for i in range(30):
                    f = bg.copy()
                    x, y = 60 + 4 * i + (k * 37) % 200, 40 + (k * 13) % 80
                    f[y:y + 220, x:x + 220] = face
                    yield f

            write_video(folder / label / f"{k:03d}.mp4", frames(), fps=10, crf=20)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-class", type=int, default=60)
    ap.add_argument("--weights", type=Path, default=None)
    ap.add_argument("--key-every", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--track-score", nargs="+", default=None, choices=TRACK_SCORES)
    ap.add_argument("--keep", type=Path, default=None, help="build the clips here and keep them")
    args = ap.parse_args()
    from deepsentry.detector.evaluate import evaluate_folder
    from deepsentry.detector.inference import load_scorer
    from deepsentry.detector.pipeline import Analyzer
    from deepsentry.settings import load_settings

    folder = args.keep or Path(tempfile.mkdtemp(prefix="deepsentry-videoeval-"))
    try:
        if not (folder / "real").is_dir():
            build(folder, args.per_class)
        scorer = load_scorer(args.weights)
        own = scorer.cfg
        for k in args.key_every:
            settings = load_settings(device="cpu", face_key_every=k)
            for how in args.track_score or [own.track_score]:
                scorer.cfg = own.replace(track_score=how)
                t = time.perf_counter()
                res = evaluate_folder(folder, scorer, settings=settings,
                                      analyzer=Analyzer(settings, scorer=scorer)).metrics
                took = time.perf_counter() - t
                print(f"key frames every {k}, track score {how}: {res['n']} clips with a face "
                      f"({res['no_face']['count']} without), video AUC {res['auc']:.4f} (track score), "
                      f"{res['mean_of_frames']['auc']:.4f} (mean of frame probabilities); accuracy "
                      f"{res['accuracy']:.3f}; {took:.1f} s", flush=True)
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

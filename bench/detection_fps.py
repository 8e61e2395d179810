"""Frames/s of frame sampling + face detection (+ tracking) on a 10 s 720p clip with two faces.

    .venv/bin/python bench/detection_fps.py [--seconds 10] [--fps 2] [--device cpu] [--dense]

Times decoding and two ways of finding the faces on the sampled frames: MTCNN's whole search on every
frame (``FaceDetector.detect``) and the daemon's key frames with carried boxes
(``FaceDetector.detect_sequence``), and how closely the second's boxes match the first's (faces per frame
and mean IoU). ``--dense`` also does it for every frame (30 fps).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deepsentry.detector.faces import FaceDetector, box_iou, link_tracks  # noqa: E402
from deepsentry.detector.pipeline import set_torch_threads  # noqa: E402
from deepsentry.media import sample_frames  # noqa: E402
from deepsentry.settings import Limits  # noqa: E402
from tests.mediautil import face_clip  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--fps", type=float, default=Limits().sample_fps)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dense", action="store_true", help="also time every frame (30 fps)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: the daemon's default)")
    args = ap.parse_args()
    set_torch_threads(args.threads)
    tmp = Path(tempfile.mkdtemp())
    clip, _ = face_clip(tmp / "clip720.mp4", seconds=args.seconds, fps=30, size=(1280, 720), faces=2, drift=1)
    det = FaceDetector(device=args.device)
    det.detect([__import__("numpy").zeros((720, 1280, 3), "uint8")])   # warm-up
    import torch

    report = {"clip": "1280x720, 30 fps, %.0f s, 2 faces" % args.seconds, "torch_threads": torch.get_num_threads()}
    modes = [("sampled", args.fps)] + ([("every_frame", 30.0)] if args.dense else [])
    for label, fps in modes:
        limits = Limits(sample_fps=fps, max_frames=10_000)
        t0 = time.perf_counter()
        frames = list(sample_frames(clip, limits))
        t_dec = time.perf_counter() - t0
        images = [f.image for f in frames]
        times = [f.t for f in frames]
        row = {"sample_fps": fps, "frames": len(frames), "decode_s": round(t_dec, 3),
               "decode_frames_per_s": round(len(frames) / t_dec, 1)}
        found = {}
        for name, fn in (("whole_search", det.detect), ("key_frames", det.detect_sequence)):
            t1 = time.perf_counter()
            found[name] = fn(images)
            tracks = link_tracks(found[name], times)
            t_det = time.perf_counter() - t1
            row[name] = {"detect_s": round(t_det, 3), "tracks": len(tracks),
                         "detect_frames_per_s": round(len(frames) / t_det, 1),
                         "end_to_end_frames_per_s": round(len(frames) / (t_dec + t_det), 1)}
        same = sum(len(a) == len(b) for a, b in zip(found["whole_search"], found["key_frames"]))
        ious = [max(box_iou(d.box, g.box) for g in b) for a, b in zip(found["key_frames"], found["whole_search"])
                for d in a if b]
        row["key_frames"]["frames_with_the_same_face_count"] = f"{same}/{len(frames)}"
        row["key_frames"]["mean_iou_with_whole_search"] = round(float(sum(ious) / max(1, len(ious))), 3)
        report[label] = row
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

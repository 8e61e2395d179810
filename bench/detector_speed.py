"""Detector speed: end-to-end verdict time on a 10 s 720p clip, vs a re-implementation of the seed pipeline.

    .venv/bin/python bench/detector_speed.py [--seconds 10] [--threads 1] [--device cpu] [--skip-seed]

1. deepsentry: the daemon's pipeline (``deepsentry.detector.pipeline.Analyzer.analyze_file``: sampled
   decode, MTCNN on sampled frames, tracks, CNN+LSTM from the shipped weights, calibrated verdict).
2. seed: decode every frame, MTCNN on every frame at full resolution, first face only, 112 px crops,
   ResNeXt-50 + one-layer LSTM (hidden 2048, dropout 0.4) over the first 20 frames, untrained.

Each runs in its own process so the peak RSS (``resource.getrusage``) is its own; the model load and
warm-up are timed apart from the verdict. Prints seconds, frames/s, peak memory and the speed ratio.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_clip(path: Path, seconds: float, fps: int = 25, size=(1280, 720)) -> Path:
    """Astronaut face drifting over a face-free scene, real H.264 (PyAV), like tests/mediautil."""
    import cv2

    from tests.mediautil import astronaut, scene, write_video

    w, h = size
    bg = scene(w, h, seed=1)
    face = cv2.resize(astronaut(), (400, 400), interpolation=cv2.INTER_AREA)
    n = int(round(seconds * fps))

    def gen():
        for i in range(n):
            f = bg.copy()
            x, y = 100 + 3 * i % (w - 500), 150 + int(20 * (i % 50) / 50)
            f[y:y + 400, x:x + 400] = face
            yield f

    write_video(path, gen(), fps=fps, crf=23)
    return path


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_deepsentry(clip: str, threads: int, device: str, q) -> None:
    import torch

    torch.set_num_threads(threads)
    from deepsentry.detector.inference import load_scorer
    from deepsentry.detector.pipeline import Analyzer
    from deepsentry.settings import load_settings

    t0 = time.perf_counter()
    settings = load_settings(device=device)
    scorer = load_scorer(device=device)
    analyzer = Analyzer(settings, scorer=scorer)
    load_s = time.perf_counter() - t0
    analyzer.analyze_file(clip)                 # warm-up (first MTCNN/torch calls allocate)
    runs = []
    for _ in range(2):
        t = time.perf_counter()
        res = analyzer.analyze_file(clip)
        runs.append(time.perf_counter() - t)
    q.put({"name": "deepsentry", "load_s": load_s, "verdict_s": min(runs), "runs_s": runs,
           "frames_processed": res["media"]["frames_sampled"], "timings": res["timings"],
           "verdict": res["verdict"], "faces": len(res["faces"]), "peak_rss_mb": _peak_mb(),
           "model": scorer.info()["arch"] if scorer else None})


def run_seed(clip: str, threads: int, device: str, q) -> None:
    import av
    import numpy as np
    import torch
    import torch.nn as nn
    import torchvision
    from facenet_pytorch import MTCNN

    torch.set_num_threads(threads)

    class SeedModel(nn.Module):
        """The seed: ResNeXt-50 trunk -> avgpool -> LSTM(2048, 2048) -> dropout 0.4 -> linear(2)."""

        def __init__(self):
            super().__init__()
            m = torchvision.models.resnext50_32x4d(weights=None)
            self.trunk = nn.Sequential(*list(m.children())[:-2])
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.lstm = nn.LSTM(2048, 2048, 1, batch_first=True)
            self.drop = nn.Dropout(0.4)
            self.fc = nn.Linear(2048, 2)

        def forward(self, x):                 # (B, T, 3, 112, 112)
            b, t = x.shape[:2]
            f = self.pool(self.trunk(x.flatten(0, 1))).view(b, t, 2048)
            out, _ = self.lstm(f)
            return self.fc(self.drop(out.mean(1)))

    t0 = time.perf_counter()
    model = SeedModel().eval().to(device)
    mtcnn = MTCNN(keep_all=False, device=device, post_process=False)
    with torch.inference_mode():
        model(torch.zeros(1, 2, 3, 112, 112, device=device))
    load_s = time.perf_counter() - t0

    t = time.perf_counter()
    frames = []
    with av.open(clip) as c:                       # decode every frame
        for fr in c.decode(video=0):
            frames.append(fr.to_ndarray(format="rgb24"))
    t_decode = time.perf_counter() - t
    crops = []
    t1 = time.perf_counter()
    for f in frames:                               # detect on every frame, full resolution
        boxes, _ = mtcnn.detect(f)
        if boxes is None:
            continue
        x1, y1, x2, y2 = [int(v) for v in boxes[0]]            # first face only
        face = f[max(0, y1):y2, max(0, x1):x2]
        if face.size:
            crops.append(face)
    t_detect = time.perf_counter() - t1
    t2 = time.perf_counter()
    import cv2

    seq = [cv2.resize(c_, (112, 112)) for c_ in crops[:20]]     # first 20 frames
    x = torch.from_numpy(np.stack(seq)).permute(0, 3, 1, 2).float().div(255)
    x = ((x - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
    with torch.inference_mode():
        p = torch.softmax(model(x[None].to(device)), 1)[0, 1].item()
    t_model = time.perf_counter() - t2
    total = time.perf_counter() - t
    q.put({"name": "seed", "load_s": load_s, "verdict_s": total, "frames_processed": len(frames),
           "timings": {"decode_s": t_decode, "detect_s": t_detect, "score_s": t_model},
           "faces_found": len(crops), "fake_prob_untrained": p, "peak_rss_mb": _peak_mb()})


def _in_process(fn, *args) -> dict:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=fn, args=(*args, q))
    p.start()
    res = q.get()
    p.join()
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 on a shared CPU: spinning "
                                                           "worker threads make small models much slower)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--skip-seed", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(Path(tmp) / "clip720p.mp4", args.seconds)
        n_frames = int(round(args.seconds * 25))
        ours = _in_process(run_deepsentry, str(clip), args.threads, args.device)
        seed = None if args.skip_seed else _in_process(run_seed, str(clip), args.threads, args.device)

    video_s = args.seconds
    print(f"clip: {args.seconds:.0f} s 1280x720 H.264 @25 fps ({n_frames} frames); torch threads {args.threads}; "
          f"device {args.device}")
    print(f"deepsentry ({ours['model']}): verdict in {ours['verdict_s']:.2f} s "
          f"(runs {', '.join(f'{r:.2f}' for r in ours['runs_s'])}; model+detector load {ours['load_s']:.2f} s); "
          f"{ours['frames_processed']} sampled frames -> {ours['frames_processed'] / ours['verdict_s']:.1f} "
          f"analysed frames/s, {n_frames / ours['verdict_s']:.1f} video frames/s covered, "
          f"{video_s / ours['verdict_s']:.2f}x real time; stages {json.dumps(ours['timings'])}; "
          f"verdict {ours['verdict']['label']} p={ours['verdict']['fake_prob']}; peak RSS {ours['peak_rss_mb']:.0f} MB")
    if seed:
        print(f"seed pipeline (ResNeXt-50+LSTM, untrained): verdict in {seed['verdict_s']:.2f} s "
              f"(load {seed['load_s']:.2f} s); {seed['frames_processed']} frames decoded+detected -> "
              f"{seed['frames_processed'] / seed['verdict_s']:.1f} frames/s; stages "
              f"{json.dumps({k: round(v, 3) for k, v in seed['timings'].items()})}; faces in "
              f"{seed['faces_found']} frames; peak RSS {seed['peak_rss_mb']:.0f} MB")
        print(f"speed ratio (seed / deepsentry verdict time): {seed['verdict_s'] / ours['verdict_s']:.1f}x")
    if args.json:
        print(json.dumps({"deepsentry": ours, "seed": seed}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

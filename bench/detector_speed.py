"""Verdict speed: a warm deepsentry daemon against the seed pipeline, side by side on 720p and 1080p clips.

    .venv/bin/python bench/detector_speed.py [--seconds 10] [--runs 3] [--threads 0] [--skip-seed] [--json]

Both sides get the same 10 s H.264 clips (1280x720 at 25 fps and 1920x1080 at 30 fps, a face drifting
over a scene), each measured in its own process so each peak RSS (VmHWM) is its own; model loading is
timed apart from the verdict on both sides.

1. **deepsentry**: ``deepsentry serve`` on loopback (ledger off), warmed up by one analysis, then
   ``POST /v1/analyze?wait=1&nocache=1`` with the clip uploaded, ``--runs`` times (median): the verdict
   alone (``provenance=0``), then the full answer with the provenance check (C2PA, watermark). Also the
   extension's path (20 frames of the 720p clip as JPEG in ``{"frames": ...}``) and ``deepsentry check
   --json`` run cold in a new process, with and without the provenance check; the start-up (imports and
   model load, what a CLI user pays on every call) is the verdict-only run's wall time less its analysis.
2. **seed**: the seed app as written: OpenCV decodes every frame into a list; dlib's HOG face detector
   (``get_frontal_face_detector()``, upsample 1) runs on the frames in order until 20 frames have a
   face; the first face of each, padded by 40 px, resized to 112 px, goes through ResNeXt-50 features and
   an LSTM(2048) (untrained weights: the timing is the same).

Prints, per clip: seconds, frames/s (video frames covered per second of waiting), peak RSS, the ratio.
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing as mp
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CLIPS = {"720p": ((1280, 720), 25), "1080p": ((1920, 1080), 30)}


def make_clip(path: Path, seconds: float, fps: int = 25, size=(1280, 720)) -> Path:
    """The astronaut's face drifting over a face-free scene, real H.264 (PyAV), like tests/mediautil;
    the face is 400 px at 720p and scales with the frame."""
    import cv2

    from tests.mediautil import astronaut, scene, write_video

    w, h = size
    side = int(round(400 * h / 720))
    bg = scene(w, h, seed=1)
    face = cv2.resize(astronaut(), (side, side), interpolation=cv2.INTER_AREA)
    n = int(round(seconds * fps))

    def gen():
        for i in range(n):
            f = bg.copy()
            x = (100 * h // 720 + 3 * i) % (w - side - 100)
            y = 150 * h // 720 + int(20 * (i % 50) / 50)
            f[y:y + side, x:x + side] = face
            yield f

    write_video(path, gen(), fps=fps, crf=23)
    return path


# ---------------------------------------------------------------------------------------------- ours

def _post(url: str, token: str, clip: Path | None = None, frames: list | None = None,
          provenance: bool = True, explain: bool = False) -> tuple[float, dict]:
    import requests

    headers = {"Authorization": f"Bearer {token}"}
    query = "/v1/analyze?wait=1&nocache=1" + ("" if provenance else "&provenance=0") + ("&explain=1" if explain else "")
    t = time.perf_counter()
    if clip is not None:
        with open(clip, "rb") as f:
            r = requests.post(url + query, headers=headers, files={"file": (clip.name, f, "video/mp4")}, timeout=600)
    else:
        r = requests.post(url + query, headers=headers, json={"frames": frames}, timeout=600)
    wall = time.perf_counter() - t
    body = r.json()
    if r.status_code != 200:
        raise SystemExit(f"daemon answered {r.status_code}: {body}")
    return wall, body.get("result", body)


def _timed(runs: int, **post) -> dict:
    walls, res = [], None
    for _ in range(runs):
        w, res = _post(**post)
        walls.append(w)
    return {"verdict_s": statistics.median(walls), "runs_s": walls, "timings": res["timings"],
            "frames_sampled": res["media"]["frames_sampled"], "verdict": res["verdict"]["label"],
            "fake_prob": res["verdict"]["fake_prob"], "faces": len(res["faces"])}


def run_ours(clips: dict[str, Path], runs: int, threads: int) -> dict:
    """The verdict alone (``provenance=0``) on every clip first, so that the peak RSS read after each is the
    detector's (after the 720p clip: that clip's; after the 1080p: the larger of the two); then the full
    answer with provenance, then the extension's frames."""
    import cv2

    from bench.daemon_load import peak_rss_mb, start_daemon
    from deepsentry.media import open as open_media

    env = {"DEEPSENTRY_TORCH_THREADS": str(threads)} if threads else {}
    t0 = time.perf_counter()
    proc, url, token = start_daemon("deepsentry-speed-", **env)
    out: dict = {"daemon_start_s": time.perf_counter() - t0, "clips": {}, "full": {}}
    try:
        _post(url, token, clip=clips["720p"], provenance=False)           # warm-up
        out["idle_rss_mb"] = peak_rss_mb(proc.pid)
        for name, clip in clips.items():              # 720p first: the high-water mark after it is its own
            out["clips"][name] = {**_timed(runs, url=url, token=token, clip=clip, provenance=False),
                                  "peak_rss_mb": peak_rss_mb(proc.pid)}
        out["peak_rss_mb"] = peak_rss_mb(proc.pid)
        for name, clip in clips.items():
            out["full"][name] = _timed(runs, url=url, token=token, clip=clip)
        out["peak_rss_full_mb"] = peak_rss_mb(proc.pid)
        # the extension's path: 20 captured frames of the 720p clip (2 per second), JPEG, in one request
        frames = []
        for fr in open_media(clips["720p"]).sample():
            _ok, buf = cv2.imencode(".jpg", fr.image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
            frames.append({"t": round(fr.t, 3), "jpeg": base64.b64encode(buf.tobytes()).decode()})
        out["frames_720p"] = {**_timed(runs, url=url, token=token, frames=frames), "frames": len(frames)}
        # what the extension asks for: explain=1 adds a Grad-CAM heatmap per face and every frame's thumbnail
        out["frames_720p_explain"] = _timed(runs, url=url, token=token, frames=frames, explain=True)
    finally:
        proc.terminate()
        proc.wait(30)
    return out


def run_cli_cold(clip: Path, threads: int) -> dict:
    """``deepsentry check --json`` in a fresh process, as a user runs it (with the provenance check) and
    with ``--no-provenance``, whose wall time less its analysis is the start-up (imports, model load)
    that a CLI user pays on every call."""
    import os

    env = {**os.environ, "DEEPSENTRY_HOME": tempfile.mkdtemp(prefix="deepsentry-speed-cli-"),
           "DEEPSENTRY_LEDGER": "0", **({"DEEPSENTRY_TORCH_THREADS": str(threads)} if threads else {})}
    out = {}
    for name, extra in (("full", []), ("verdict", ["--no-provenance"])):
        t = time.perf_counter()
        p = subprocess.run([sys.executable, "-m", "deepsentry", "check", str(clip), "--json", *extra], env=env,
                           cwd=ROOT, capture_output=True, text=True, timeout=600)
        wall = time.perf_counter() - t
        if p.returncode != 0:
            raise SystemExit(f"deepsentry check failed: {p.stderr[-2000:]}")
        out[name] = {"wall_s": wall, "analysis_s": json.loads(p.stdout)["timings"]["total_s"]}
    return {"wall_s": out["full"]["wall_s"], "verdict_wall_s": out["verdict"]["wall_s"],
            "analysis_s": out["verdict"]["analysis_s"],
            "cold_start_s": out["verdict"]["wall_s"] - out["verdict"]["analysis_s"]}


# ---------------------------------------------------------------------------------------------- seed

def run_seed(clip: str, q) -> None:
    import cv2
    import dlib
    import numpy as np
    import torch
    import torch.nn as nn
    import torchvision

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
            return self.fc(self.drop(out[:, -1]))

    t0 = time.perf_counter()
    model = SeedModel().eval()
    hog = dlib.get_frontal_face_detector()
    load_s = time.perf_counter() - t0

    t = time.perf_counter()
    frames = []
    cap = cv2.VideoCapture(clip)                   # every frame into a list, as the seed's app does
    while True:
        ok, img = cap.read()
        if not ok:
            break
        frames.append(img)
    cap.release()
    t_decode = time.perf_counter() - t
    t1 = time.perf_counter()
    crops, searched = [], 0
    for img in frames:                             # in order, until 20 frames have a face
        searched += 1
        rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        dets = hog(rgb, 1)
        if len(dets):
            d = dets[0]
            y1, y2 = max(0, d.top() - 40), min(rgb.shape[0], d.bottom() + 40)
            x1, x2 = max(0, d.left() - 40), min(rgb.shape[1], d.right() + 40)
            crops.append(cv2.resize(rgb[y1:y2, x1:x2], (112, 112)))
            if len(crops) == 20:
                break
    t_detect = time.perf_counter() - t1
    t2 = time.perf_counter()
    x = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float().div(255)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.inference_mode():
        p = torch.softmax(model(((x - mean) / std)[None]), 1)[0, 1].item()
    t_model = time.perf_counter() - t2
    q.put({"load_s": load_s, "verdict_s": time.perf_counter() - t, "frames_decoded": len(frames),
           "frames_searched": searched, "faces_found": len(crops),
           "timings": {"decode_s": t_decode, "detect_s": t_detect, "score_s": t_model},
           "fake_prob_untrained": p, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0})


def _in_process(fn, *args) -> dict:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=fn, args=(*args, q))
    p.start()
    res = q.get()
    p.join()
    return res


# ---------------------------------------------------------------------------------------------- main

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--runs", type=int, default=3, help="timed daemon requests per clip (median reported)")
    ap.add_argument("--threads", type=int, default=0, help="daemon torch threads (0: the daemon's default)")
    ap.add_argument("--skip-seed", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="deepsentry-speed-"))
    try:
        clips = {name: make_clip(tmp / f"clip{name}.mp4", args.seconds, fps, size)
                 for name, (size, fps) in CLIPS.items()}
        ours = run_ours(clips, args.runs, args.threads)
        cli = run_cli_cold(clips["720p"], args.threads)
        seed = {} if args.skip_seed else {name: _in_process(run_seed, str(c)) for name, c in clips.items()}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"{args.seconds:.0f} s clips; deepsentry: warm daemon, ledger off, upload + analysis, median of "
          f"{args.runs}; seed: model load apart")
    print(f"{'clip':<6} {'answer':<22} {'deepsentry s':>12} {'frames/s':>9} {'peak RSS MB':>11} {'seed s':>7} "
          f"{'frames/s':>9} {'seed RSS MB':>11} {'ratio':>6}")
    for name, (size, fps) in CLIPS.items():
        n = int(round(args.seconds * fps))
        s = seed.get(name)
        seed_txt = (f"{s['verdict_s']:>7.2f} {n / s['verdict_s']:>9.1f} {s['peak_rss_mb']:>11.0f}" if s
                    else f"{'-':>7} {'-':>9} {'-':>11}")
        for label, o, rss in (("verdict", ours["clips"][name], ours["clips"][name]["peak_rss_mb"]),
                              ("verdict + provenance", ours["full"][name], ours["peak_rss_full_mb"])):
            ratio = f"{s['verdict_s'] / o['verdict_s']:>5.1f}x" if s else f"{'-':>6}"
            print(f"{name:<6} {label:<22} {o['verdict_s']:>12.2f} {n / o['verdict_s']:>9.1f} {rss:>11.0f} "
                  f"{seed_txt} {ratio}")
    for name in CLIPS:
        o = ours["clips"][name]
        print(f"deepsentry {name} stages: {json.dumps(o['timings'])} ({o['frames_sampled']} frames, "
              f"{o['faces']} face track(s), {o['verdict']})")
    for name, s in seed.items():
        print(f"seed {name}: decoded {s['frames_decoded']} frames in {s['timings']['decode_s']:.2f} s, HOG on "
              f"{s['frames_searched']} until {s['faces_found']} had a face in {s['timings']['detect_s']:.2f} s, "
              f"ResNeXt-50+LSTM {s['timings']['score_s']:.2f} s (model load {s['load_s']:.2f} s apart)")
    f = ours["frames_720p"]
    print(f"extension frames (720p, {f['frames']} JPEG frames): {f['verdict_s']:.2f} s, stages "
          f"{json.dumps(f['timings'])}; with explain (heatmaps and thumbnails, as the extension asks): "
          f"{ours['frames_720p_explain']['verdict_s']:.2f} s")
    print(f"deepsentry check (cold, 720p): {cli['wall_s']:.2f} s, verdict only (--no-provenance) "
          f"{cli['verdict_wall_s']:.2f} s, of which start-up (imports + model load) {cli['cold_start_s']:.2f} s; "
          f"daemon start to ready {ours['daemon_start_s']:.2f} s; daemon idle RSS "
          f"{ours['idle_rss_mb']:.0f} MB")
    if args.json:
        print(json.dumps({"deepsentry": ours, "cli": cli, "seed": seed}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

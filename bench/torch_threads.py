"""Torch thread count for the detector, measured on an idle and on a busy CPU.

    .venv/bin/python bench/torch_threads.py [--threads 1 2 4] [--busy 0 1 2] [--runs 3]

For each thread count and each number of competing busy processes (spinning Python loops at normal
priority, standing in for a browser tab or a build beside the daemon), one process loads the shipped
detector and analyses the 10 s 720p clip of ``bench/detector_speed.py`` ``--runs`` times after a warm-up;
it prints the median analysis seconds and the stages. The daemon's default (``torch_threads`` = 0) is
chosen from this table.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _spin(stop) -> None:
    x = 0
    while not stop.is_set():
        for _ in range(100_000):
            x += 1


def _measure(clip: str, threads: int, runs: int, q) -> None:
    import torch

    from deepsentry.detector.pipeline import Analyzer
    from deepsentry.settings import load_settings

    analyzer = Analyzer(load_settings(device="cpu", torch_threads=threads))
    torch.set_num_threads(threads)
    analyzer.analyze_file(clip)
    walls, res = [], None
    for _ in range(runs):
        t = time.perf_counter()
        res = analyzer.analyze_file(clip)
        walls.append(time.perf_counter() - t)
    q.put({"median_s": statistics.median(walls), "runs_s": walls, "timings": dict(res.timings)})


def main() -> int:
    from bench.detector_speed import make_clip

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--busy", type=int, nargs="+", default=[0, 1, 2], help="competing busy processes")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        clip = str(make_clip(Path(tmp) / "clip720p.mp4", 10.0))
        rows = []
        for busy in args.busy:
            stop = ctx.Event()
            spinners = [ctx.Process(target=_spin, args=(stop,), daemon=True) for _ in range(busy)]
            for p in spinners:
                p.start()
            try:
                for threads in args.threads:
                    q = ctx.Queue()
                    p = ctx.Process(target=_measure, args=(clip, threads, args.runs, q))
                    p.start()
                    r = q.get()
                    p.join()
                    rows.append((busy, threads, r))
                    print(f"busy processes {busy}, torch threads {threads}: {r['median_s']:.2f} s "
                          f"(runs {', '.join(f'{w:.2f}' for w in r['runs_s'])}) {json.dumps(r['timings'])}",
                          flush=True)
            finally:
                stop.set()
                for p in spinners:
                    p.join(5)
    print("\n| busy processes | " + " | ".join(f"{t} thread(s)" for t in args.threads) + " |")
    print("|---" * (len(args.threads) + 1) + "|")
    for busy in args.busy:
        cells = [f"{r['median_s']:.2f} s" for b, t, r in rows if b == busy]
        print(f"| {busy} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

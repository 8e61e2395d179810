"""Torch thread count for the detector, measured on an idle and on a busy CPU.

    .venv/bin/python bench/torch_threads.py [--threads 1 2 4] [--busy 0 1 2] [--runs 3]
    .venv/bin/python bench/torch_threads.py --teams


For each thread count and each number of competing busy processes (spinning Python loops at normal
priority, standing in for a browser tab or a build beside the daemon), one process loads the shipped
detector and analyses the 10 s 720p clip of ``bench/detector_speed.py`` ``--runs`` times after a warm-up;
it prints the median analysis seconds and the stages. The daemon's default (``torch_threads`` = 0) is
chosen from this table.

``--teams`` shows why all of the detector's torch work runs on one thread
(``deepsentry.detector.threads.on_torch_thread``): in a fresh process it times a small convolution (what
the face networks are made of) on the first thread to use torch, then on a second thread once the first
has used it, then on the first again, with 2 torch threads each time.
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


def _small_conv_us(runs: int = 2000) -> float:
    import torch

    conv, x = torch.nn.Conv2d(3, 10, 3), torch.randn(1, 3, 60, 60)
    with torch.inference_mode():
        for _ in range(50):
            conv(x)
        t = time.perf_counter()
        for _ in range(runs):
            conv(x)
    return (time.perf_counter() - t) / runs * 1e6


def _teams(q) -> None:
    from concurrent.futures import ThreadPoolExecutor

    import torch

    torch.set_num_threads(2)
    first = _small_conv_us()
    with ThreadPoolExecutor(1) as pool:
        second = pool.submit(lambda: (torch.set_num_threads(2), _small_conv_us())[1]).result()
    q.put((first, second, _small_conv_us()))


def teams() -> int:
    q = mp.get_context("spawn").Queue()
    p = mp.get_context("spawn").Process(target=_teams, args=(q,))
    p.start()
    first, second, again = q.get()
    p.join()
    print(f"60 px convolution, 2 torch threads: first thread alone {first:.0f} us; a second thread once the "
          f"first has used torch {second:.0f} us; the first thread again {again:.0f} us")
    return 0


def main() -> int:
    from bench.detector_speed import make_clip

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--busy", type=int, nargs="+", default=[0, 1, 2], help="competing busy processes")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--teams", action="store_true", help="only the one-thread-or-two measurement")
    args = ap.parse_args()
    if args.teams:
        return teams()
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

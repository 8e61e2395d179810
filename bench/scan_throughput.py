"""Batch-scan throughput: items/s over short clips, 1 and 2 workers, local processes and Ray actors.

    .venv/bin/python bench/scan_throughput.py [--clips 200] [--seconds 1.0] [--workers 1 2] [--provenance]

Makes ``--clips`` byte-distinct H.264 clips (320x180, one face, ``--seconds`` long) and scans them with
``deepsentry.scan.run_scan`` once per executor and worker count (a fresh results file each time; the
provenance check off unless ``--provenance``). Prints wall seconds (worker start-up included), items/s,
the median seconds one item took inside a worker, and the per-item time Ray adds over the local pool
with the same workers. Needs the 'scale' extra for the Ray rows; prints numbers, asserts nothing.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_clips(folder: Path, n: int, seconds: float) -> None:
    from tests.mediautil import face_clip

    first, _ = face_clip(folder / "clip0000.mp4", seconds=seconds, fps=10, size=(320, 180), faces=1)
    data = first.read_bytes()
    for i in range(1, n):                       # byte-distinct copies: a trailing free atom of its own
        size = 8 + 4
        (folder / f"clip{i:04d}.mp4").write_bytes(data + size.to_bytes(4, "big") + b"free" + i.to_bytes(4, "big"))


def run(folder: Path, out: Path, workers: int, ray_address: str | None, provenance: bool) -> dict:
    from deepsentry.scan import ScanOptions, expand_inputs, run_scan

    items = expand_inputs([str(folder)])
    t0 = time.perf_counter()
    summary = run_scan(items, ScanOptions(out=out, workers=workers, ray_address=ray_address, progress=False,
                                          provenance=provenance))
    wall = time.perf_counter() - t0
    secs = sorted(r["seconds"] for r in summary.records)
    errors = sum(r["status"] == "error" for r in summary.records)
    return {"items": len(summary.records), "errors": errors, "wall_s": wall, "items_per_s": len(items) / wall,
            "median_item_s": secs[len(secs) // 2]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--provenance", action="store_true", help="include the provenance check")
    ap.add_argument("--skip-ray", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="deepsentry-scanbench-"))
    try:
        folder = tmp / "clips"
        folder.mkdir()
        make_clips(folder, args.clips, args.seconds)
        rows = []
        for ex in ["local"] + ([] if args.skip_ray else ["ray"]):
            for w in args.workers:
                r = run(folder, tmp / f"{ex}{w}.jsonl", w, "local" if ex == "ray" else None, args.provenance)
                rows.append((ex, w, r))
                print(f"{ex:<5} {w} worker(s): {r['items']} items ({r['errors']} errors) in {r['wall_s']:.1f} s = "
                      f"{r['items_per_s']:.2f} items/s; median {r['median_item_s']:.2f} s per item in a worker",
                      flush=True)
        local = {w: r for ex, w, r in rows if ex == "local"}
        for ex, w, r in rows:
            if ex == "ray" and w in local:
                extra = (r["wall_s"] - local[w]["wall_s"]) / r["items"]
                print(f"Ray adds {extra * 1000:.0f} ms per item over the local pool with {w} worker(s) "
                      f"(start-up of the Ray instance included)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

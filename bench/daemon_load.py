"""Load test of the daemon over loopback: N concurrent analyze requests with small real media.

Starts `deepsentry serve` as a subprocess (isolated DEEPSENTRY_HOME, ledger off), fires N requests at
once (default 200; distinct small JPEG faces plus repeats that hit the cache), follows accepted jobs to
completion, and prints requests/s, p50/p95 latency, status counts and the daemon's peak memory.
Bounded in count and time; loopback only.

    .venv/bin/python bench/daemon_load.py [--requests 200] [--distinct 40] [--timeout 600] [--retry]

Without --retry each request is answered once (a result, or 429 when the queue is full); with --retry
clients honour Retry-After until every request has its result.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.mediautil import astronaut_face_on, scene  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def small_images(n: int) -> list[bytes]:
    out = []
    for i in range(n):
        canvas = scene(320, 240, seed=i)
        astronaut_face_on(canvas, 10 + (i * 7) % 100, 5, 0.4)
        ok, buf = cv2.imencode(".jpg", canvas[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])
        out.append(buf.tobytes())
    return out


def peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


async def one(session, url, token, data, i, deadline, retry):
    headers = {"Authorization": f"Bearer {token}"}
    t0 = time.perf_counter()
    while True:
        form = aiohttp.FormData()
        form.add_field("file", data, filename=f"img{i}.jpg", content_type="image/jpeg")
        async with session.post(url + "/v1/analyze", data=form, headers=headers) as r:
            status = r.status
            body = await r.json()
            wait = float(r.headers.get("Retry-After", "1"))
        if status != 429 or not retry or time.perf_counter() + wait > deadline:
            break
        await asyncio.sleep(wait)
    if status == 202:
        job = body["job_id"]
        while time.perf_counter() < deadline:
            async with session.get(url + f"/v1/jobs/{job}?wait=1", headers=headers) as r:
                body = await r.json()
            if body["status"] in ("done", "error"):
                break
        status = 200 if body.get("status") == "done" else 500
    return status, time.perf_counter() - t0, status == 429


async def main_async(args) -> None:
    port = free_port()
    home = tempfile.mkdtemp(prefix="deepsentry-load-")
    env = {**os.environ, "DEEPSENTRY_HOME": home, "DEEPSENTRY_LEDGER": "0",
           "DEEPSENTRY_QUEUE_SIZE": str(args.queue)}
    proc = subprocess.Popen([sys.executable, "-m", "deepsentry", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    try:
        token = None
        while token is None:
            line = proc.stdout.readline()
            if not line:
                raise SystemExit("daemon exited early")
            if line.startswith("pairing token:"):
                token = line.split(":", 1)[1].strip()
        url = f"http://127.0.0.1:{port}"
        images = small_images(args.distinct)
        rss_start = peak_rss_mb(proc.pid)
        deadline = time.perf_counter() + args.timeout
        conn = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=args.timeout)) as s:
            t0 = time.perf_counter()
            results = await asyncio.gather(*(one(s, url, token, images[i % len(images)], i, deadline, args.retry)
                                             for i in range(args.requests)), return_exceptions=True)
            wall = time.perf_counter() - t0
            async with s.get(url + "/v1/health") as r:
                alive = (await r.json()) == {"status": "ok"}
        errors = [r for r in results if isinstance(r, BaseException)]
        ok = [r for r in results if not isinstance(r, BaseException)]
        lat = np.array([r[1] for r in ok]) if ok else np.array([0.0])
        counts: dict[int, int] = {}
        for st, _, _ in ok:
            counts[st] = counts.get(st, 0) + 1
        report = {
            "requests": args.requests, "distinct_media": args.distinct, "queue_size": args.queue,
            "clients_retry": args.retry,
            "wall_s": round(wall, 2), "requests_per_s": round(args.requests / wall, 2),
            "latency_p50_s": round(float(np.percentile(lat, 50)), 3),
            "latency_p95_s": round(float(np.percentile(lat, 95)), 3),
            "status_counts": counts, "client_errors": len(errors),
            "answered": len(ok), "daemon_alive_after": alive,
            "daemon_rss_start_mb": round(rss_start, 1), "daemon_peak_rss_mb": round(peak_rss_mb(proc.pid), 1),
        }
        print(json.dumps(report, indent=2))
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--distinct", type=int, default=40)
    ap.add_argument("--queue", type=int, default=16)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--retry", action="store_true", help="clients honour Retry-After and retry until answered")
    args = ap.parse_args()
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()

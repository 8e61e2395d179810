"""Load test of the daemon over loopback: N concurrent analyze requests with small real media.

Starts `deepsentry serve` as a subprocess (isolated DEEPSENTRY_HOME, ledger off), fires N requests at
once (default 200; distinct small JPEG faces plus repeats that hit the cache), follows accepted jobs to
completion, and prints requests/s, p50/p95 latency, status counts and the daemon's peak memory.
Bounded in count and time; loopback only.

    .venv/bin/python bench/daemon_load.py [--requests 200] [--distinct 40] [--timeout 600] [--retry]
    .venv/bin/python bench/daemon_load.py --memory [--requests 20]

Without --retry each request is answered once (a result, or 429 when the queue is full); with --retry
clients honour Retry-After until every request has its result.

``--memory``: the memory run. Half the requests send 12 captured frames of 2000x2000 JPEG each, half
upload a 6000x4000 JPEG, 4 in flight at a time, every one followed to its result; prints the daemon's
RSS when idle (model loaded; and again after one small warm-up request), its peak, and its RSS once every
job has finished.
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


def start_daemon(prefix: str, **env_extra: str) -> tuple[subprocess.Popen, str, str]:
    """``deepsentry serve`` on a free loopback port with its own home and the ledger off:
    (process, url, token) once it prints its token."""
    port = free_port()
    env = {**os.environ, "DEEPSENTRY_HOME": tempfile.mkdtemp(prefix=prefix), "DEEPSENTRY_LEDGER": "0", **env_extra}
    proc = subprocess.Popen([sys.executable, "-m", "deepsentry", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    while True:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit("daemon exited early")
        if line.startswith("pairing token:"):
            return proc, f"http://127.0.0.1:{port}", line.split(":", 1)[1].strip()


async def main_async(args) -> None:
    proc, url, token = start_daemon("deepsentry-load-", DEEPSENTRY_QUEUE_SIZE=str(args.queue))
    try:
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


def _gradient_jpeg(w: int, h: int, seed: int) -> bytes:
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([(x * 255 // w), (y * 255 // h), np.full_like(x, seed * 37 % 256)], -1).astype(np.uint8)
    canvas = np.ascontiguousarray(img)
    astronaut_face_on(canvas, w // 3, h // 4, min(w, h) / 1500)
    return cv2.imencode(".jpg", canvas[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()


def current_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def memory_run(session, url: str, token: str, n: int) -> dict:
    import base64

    headers = {"Authorization": f"Bearer {token}"}
    frames = [_gradient_jpeg(2000, 2000, k) for k in range(12)]
    upload = _gradient_jpeg(6000, 4000, 1)
    gate = asyncio.Semaphore(4)
    statuses: list[int] = []

    async def one_request(i: int) -> None:
        async with gate:
            if i % 2 == 0:
                body = {"frames": [{"t": k * 0.5, "jpeg": base64.b64encode(frames[(k + i) % 12]).decode()}
                                   for k in range(12)], "nocache": True}
                req = session.post(url + "/v1/analyze?wait=1", json=body, headers=headers)
            else:
                form = aiohttp.FormData()
                form.add_field("file", upload[:-2] + bytes([i % 256]) + upload[-2:], filename=f"big{i}.jpg",
                               content_type="image/jpeg")
                req = session.post(url + "/v1/analyze?wait=1", data=form, headers=headers)
            async with req as r:
                await r.read()
                statuses.append(r.status)

    await asyncio.gather(*(one_request(i) for i in range(n)))
    counts: dict[int, int] = {}
    for st in statuses:
        counts[st] = counts.get(st, 0) + 1
    return {"requests": n, "status_counts": counts}


async def main_memory(args) -> None:
    proc, url, token = start_daemon("deepsentry-mem-")
    try:
        await asyncio.sleep(2.0)
        idle = current_rss_mb(proc.pid)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=args.timeout)) as s:
            form = aiohttp.FormData()                 # one small request: torch and MTCNN warm up
            form.add_field("file", small_images(1)[0], filename="warm.jpg", content_type="image/jpeg")
            async with s.post(url + "/v1/analyze?wait=1", data=form, headers={"Authorization": f"Bearer {token}"}) as r:
                await r.read()
            await asyncio.sleep(1.0)
            warm = current_rss_mb(proc.pid)
            t0 = time.perf_counter()
            out = await memory_run(s, url, token, args.requests)
            wall = time.perf_counter() - t0
            await asyncio.sleep(2.0)
            final = current_rss_mb(proc.pid)
            async with s.get(url + "/v1/health") as r:
                alive = (await r.json()) == {"status": "ok"}
        print(json.dumps({**out, "wall_s": round(wall, 1), "idle_rss_mb": round(idle, 1),
                          "warm_idle_rss_mb": round(warm, 1), "final_minus_warm_idle_mb": round(final - warm, 1),
                          "peak_rss_mb": round(peak_rss_mb(proc.pid), 1), "final_rss_mb": round(final, 1),
                          "final_minus_idle_mb": round(final - idle, 1), "daemon_alive_after": alive}, indent=2))
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
    ap.add_argument("--memory", action="store_true", help="the memory run (large frames and uploads); "
                                                          "--requests defaults to 20 there")
    args = ap.parse_args()
    if args.memory:
        if args.requests == 200:
            args.requests = 20
        asyncio.run(main_memory(args))
    else:
        asyncio.run(main_async(args))


if __name__ == "__main__":
    main()

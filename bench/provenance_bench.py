"""Provenance bench: registrations/s and verify latency on the embedded anvil node.

Usage: python bench/provenance_bench.py [--registrations N] [--verifies N]
Runs in a temporary DEEPSENTRY_HOME (fresh keys, fresh chain); prints one line per measurement.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PASS = "bench-passphrase"


def _ms(xs: list[float]) -> str:
    xs = sorted(xs)
    p95 = xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]
    return f"median {statistics.median(xs) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms (n={len(xs)})"


def _video(tmp: Path, s, client) -> None:
    import subprocess

    from skimage import data

    import cv2

    from deepsentry.provenance import seal, verify
    from tests.mediautil import astronaut, write_video

    w, h = 640, 360
    bg = cv2.resize(data.coffee(), (w, h), interpolation=cv2.INTER_AREA)
    face = cv2.resize(astronaut(), (252, 252), interpolation=cv2.INTER_AREA)

    def frames():
        for i in range(25):
            f = bg.copy()
            f[45:297, 160 + 2 * i:412 + 2 * i] = face
            yield f

    src = write_video(tmp / "clip.mp4", frames(), fps=25)
    os.environ["DEEPSENTRY_PASSPHRASE"] = PASS
    t = time.perf_counter()
    receipt = seal(src, tmp / "sealed.mp4", s, client=client)
    print(f"seal 1 s 640x360 clip (watermark 25 frames + C2PA + register): {time.perf_counter() - t:.2f} s")
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(tmp / "sealed.mp4"), "-c:v", "libx264",
                    "-crf", "28", str(tmp / "crf28.mp4")], check=True)
    t = time.perf_counter()
    rep = verify(tmp / "crf28.mp4", s, client)
    print(f"verify CRF 28 re-encode (hash miss, no C2PA, watermark + fingerprint): {time.perf_counter() - t:.2f} s "
          f"-> {rep.verdict} (id {rep.watermark and rep.watermark.id} vs {receipt.watermark_id}, "
          f"similarity {rep.fingerprint_similarity})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--registrations", type=int, default=300)
    ap.add_argument("--verifies", type=int, default=30)
    ap.add_argument("--watermark", action="store_true", help="also time verify with the watermark check on an image")
    ap.add_argument("--video", action="store_true",
                    help="also time seal of a 1 s 640x360 clip and verify of its CRF 28 re-encode (registered_copy)")
    args = ap.parse_args()

    import cv2

    from deepsentry.keys import KeyStore
    from deepsentry.ledger import open_registry
    from deepsentry.provenance import allocate_watermark_id, finalize, verify
    from deepsentry.settings import load_settings
    from tests.mediautil import astronaut

    with tempfile.TemporaryDirectory(prefix="deepsentry-bench-") as tmp:
        tmp = Path(tmp)
        s = load_settings(config_dir=tmp / "config", data_dir=tmp / "data", ledger_rpc_url=None)
        t = time.perf_counter()
        KeyStore(s.config_dir).init(PASS)
        print(f"keys init (scrypt keystore + P-256 chain): {time.perf_counter() - t:.2f} s")
        t = time.perf_counter()
        client = open_registry(s, passphrase=PASS)
        print(f"embedded node start + deploy: {time.perf_counter() - t:.2f} s  ({client.url}, {client.address})")
        try:
            client.account()  # decrypt once, outside the timing
            n = args.registrations
            t = time.perf_counter()
            for i in range(n):
                client.register(os.urandom(32), os.urandom(32), i + 1, os.urandom(32), os.urandom(32))
            dt = time.perf_counter() - t
            print(f"register (sign + send + receipt + read back): {n / dt:.1f} registrations/s "
                  f"({dt / n * 1000:.1f} ms each, n={n})")
            hashes = [os.urandom(32) for _ in range(50)]
            t = time.perf_counter()
            for h in hashes:
                client.lookup_by_hash(h)
            print(f"lookup_by_hash (miss): {(time.perf_counter() - t) / len(hashes) * 1000:.2f} ms")

            src = tmp / "src.jpg"
            cv2.imwrite(str(src), cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR))
            fin = []
            outs = []
            for i in range(min(args.verifies, 20)):
                out = tmp / f"out{i}.jpg"
                t = time.perf_counter()
                finalize(src, out, watermark_id=allocate_watermark_id(client), consent_hash=os.urandom(32),
                         mode="bench", generator={}, settings=s, client=client, passphrase=PASS)
                fin.append(time.perf_counter() - t)
                outs.append(out)
            print(f"finalize 512x512 JPEG (C2PA sign + fingerprint + register + receipt): {_ms(fin)}")
            lat = []
            for i in range(args.verifies):
                t = time.perf_counter()
                rep = verify(outs[i % len(outs)], s, client)
                lat.append(time.perf_counter() - t)
                assert rep.verdict == "registered"
            print(f"verify registered file (sha256 + ledger lookup + C2PA read): {_ms(lat)}")
            sample = ROOT / "tests" / "fixtures" / "c2pa" / "adobe-20220124-C.jpg"
            lat = []
            for _ in range(args.verifies):
                t = time.perf_counter()
                rep = verify(sample, s, client, check_watermark=False)
                lat.append(time.perf_counter() - t)
                assert rep.verdict == "c2pa_valid"
            print(f"verify unregistered C2PA file (miss + C2PA validation): {_ms(lat)}")
            if args.watermark:
                lat = []
                for _ in range(3):
                    t = time.perf_counter()
                    rep = verify(src, s, client)
                    lat.append(time.perf_counter() - t)
                print(f"verify unknown image incl. watermark check: {_ms(lat)} -> {rep.verdict}")
            if args.video:
                _video(tmp, s, client)
        finally:
            client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

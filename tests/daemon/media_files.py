"""Files the daemon tests send: real encoded media made once per session, and bad inputs."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np

from tests.mediautil import astronaut_face_on, face_clip, no_face_clip, scene


def png_bomb(path: Path, width: int = 30000, height: int = 30000) -> Path:
    """A real PNG header declaring ``width``x``height`` with a tiny (truncated) image stream."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (1 + 3 * width) * 4)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def make_all(d: Path) -> dict:
    d.mkdir(parents=True, exist_ok=True)
    out: dict = {}
    canvas = scene(640, 360, seed=5)
    out["image_box"] = astronaut_face_on(canvas, 120, 10, 0.65)
    cv2.imwrite(str(d / "face.jpg"), canvas[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
    out["image"] = d / "face.jpg"
    out["clip"], out["clip_truth"] = face_clip(d / "one.mp4", seconds=2.0, fps=15, size=(640, 360), faces=1)
    out["two"], out["two_truth"] = face_clip(d / "two.mp4", seconds=2.0, fps=15, size=(960, 360), faces=2)
    out["noface"] = no_face_clip(d / "none.mp4", seconds=1.5, fps=15)
    data = out["clip"].read_bytes()
    (d / "truncated.mp4").write_bytes(data[: len(data) // 3])
    out["truncated"] = d / "truncated.mp4"
    (d / "random.bin").write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    out["random"] = d / "random.bin"
    (d / "empty.mp4").write_bytes(b"")
    out["empty"] = d / "empty.mp4"
    out["bomb"] = png_bomb(d / "bomb.png")
    return out

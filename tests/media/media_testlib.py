"""Helpers shared by the media tests (constants, encoders, crafted files)."""

from __future__ import annotations

import struct
import zlib
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from tests.mediautil import scene

SIZE = (320, 180)
SECONDS = 3
FPS = 25


def encode(path: Path, frames, fps: int = FPS, codec: str = "libx264", options: dict | None = None) -> Path:
    """Encode RGB frames with any PyAV codec (the container follows the file extension)."""
    frames = list(frames)
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=Fraction(fps, 1))
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = options or {}
        for img in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def moving_frames(n: int = SECONDS * FPS, size=SIZE):
    w, h = size
    bg = scene(w, h, seed=2)
    return [np.roll(bg, 4 * i, axis=1) for i in range(n)]


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def crafted_png(width: int, height: int, idat: bytes | None = None) -> bytes:
    """A PNG whose IHDR declares width x height (8-bit RGB) but whose pixel data is a few bytes."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64) if idat is None else idat
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")

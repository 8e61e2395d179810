"""Shared helpers for the provenance tests (imported by name: pytest puts this folder on sys.path)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import cv2

from deepsentry.settings import load_settings
from tests.mediautil import astronaut, face_clip, scene, write_video

PASS = "provenance-test-passphrase"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "c2pa"


def make_settings(root: Path, **kw):
    return load_settings(config_dir=root / "config", data_dir=root / "data", ledger_rpc_url=None, **kw)


def write_image(path: Path, rgb=None) -> Path:
    img = astronaut() if rgb is None else rgb
    ok, buf = cv2.imencode(path.suffix, cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    assert ok
    buf.tofile(str(path))
    return path


def small_clip(path: Path, seconds: float = 1.0, fps: int = 10, size=(320, 180)) -> Path:
    face_clip(path, seconds=seconds, fps=fps, size=size)
    return path


def photo_clip(path: Path, seconds: float = 1.0, fps: int = 12, size=(640, 360), photo: str = "coffee") -> Path:
    """The astronaut's face drifting over a real photo (textured like generator output; the watermark
    needs texture to carry its mark, flat synthetic scenes do not hold it)."""
    from skimage import data

    w, h = size
    bg = cv2.resize(getattr(data, photo)(), (w, h), interpolation=cv2.INTER_AREA)
    side = int(h * 0.7)
    face = cv2.resize(astronaut(), (side, side), interpolation=cv2.INTER_AREA)

    def frames():
        for i in range(int(seconds * fps)):
            f = bg.copy()
            x = w // 4 + 2 * i
            f[h // 8: h // 8 + side, x: x + side] = face
            yield f

    return write_video(path, frames(), fps=fps)


def unrelated_clip(path: Path, seconds: float = 1.0, fps: int = 10, size=(320, 180)) -> Path:
    w, h = size
    base = scene(w, h, seed=7)
    write_video(path, ((base.astype(int) + 3 * i).clip(0, 255).astype("uint8") for i in range(int(seconds * fps))),
                fps=fps)
    return path


def reencode(src: Path, dst: Path, crf: int = 28) -> Path:
    ffmpeg = shutil.which("ffmpeg")
    assert ffmpeg, "ffmpeg is required (scripts/setup.sh installs it)"
    subprocess.run([ffmpeg, "-loglevel", "error", "-y", "-i", str(src), "-c:v", "libx264", "-crf", str(crf),
                    "-preset", "veryfast", "-an", str(dst)], check=True, timeout=120)
    return dst


def flip_byte(src: Path, dst: Path, offset_from_end: int = 2000) -> Path:
    data = bytearray(src.read_bytes())
    data[len(data) - offset_from_end] ^= 0x01
    dst.write_bytes(bytes(data))
    return dst

"""Fixtures for the watermark tests: real photos and real H.264 clips (with an AAC audio track)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from tests.mediautil import astronaut


def talking_head_frames(n: int, size=(960, 540), seed: int = 0):
    """A face moving slowly over a still photo (the shape of what the generator produces)."""
    from skimage import data

    w, h = size
    bg = cv2.resize(data.coffee() if seed % 2 == 0 else data.chelsea(), (w, h), interpolation=cv2.INTER_AREA)
    s = int(h * 0.75)
    face = cv2.resize(astronaut(), (s, s), interpolation=cv2.INTER_AREA)
    for k in range(n):
        f = bg.copy()
        x = int(w * 0.3) + k
        f[h // 10: h // 10 + s, x: x + s] = face
        yield f


def write_clip(path: Path, frames, fps: int = 25, crf: int = 20, audio: bool = False) -> Path:
    """Real H.264 (+ optional AAC sine tone) via PyAV."""
    frames = list(frames)
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=Fraction(fps, 1))
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.options = {"crf": str(crf), "preset": "veryfast"}
        aus = out.add_stream("aac", rate=44100) if audio else None
        for f in frames:
            out.mux(vs.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")))
        out.mux(vs.encode())
        if aus is not None:
            seconds = len(frames) / fps
            t = np.arange(int(44100 * seconds)) / 44100
            tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            for i in range(0, len(tone), 1024):
                chunk = tone[i:i + 1024][None, :]
                af = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp", layout="mono")
                af.sample_rate = 44100
                af.pts = i
                out.mux(aus.encode(af))
            out.mux(aus.encode())
    return path


@pytest.fixture(scope="session")
def wm_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("watermark")


@pytest.fixture(scope="session")
def source_clip(wm_dir) -> Path:
    """1.2 s, 25 fps, 960x540 talking head with an audio track."""
    return write_clip(wm_dir / "source.mp4", talking_head_frames(30), fps=25, audio=True)


@pytest.fixture(scope="session")
def marked_clip(wm_dir, source_clip):
    from deepsentry.watermark import embed_video

    wm_id = 0xC0FFEE42
    dst = wm_dir / "marked.mp4"
    stats = embed_video(source_clip, dst, wm_id)
    return dst, wm_id, stats


@pytest.fixture(scope="session")
def marked_astronaut():
    from deepsentry.watermark import embed_image

    wm_id = 2_917_034_511
    return embed_image(astronaut(), wm_id), wm_id

"""Test media for the generator, all made from real photos shipped in scikit-image.

Which face is which (be honest about identity):

* ``astronaut()`` -- Eileen Collins, 512x512 colour. The "consented subject" in most tests.
* ``other_person()`` -- a *different real person*: face #3 of scikit-image's LFW subset (25x25 grey),
  upscaled to 200x200 and made 3-channel. dlib finds it confidently and its descriptor is 0.87 from the
  astronaut's, far past the match threshold. Low resolution and grey: it serves where only "another
  identity" matters (face mismatch, a visible swap), never for quality.
* ``driver_clip()`` -- the astronaut again, mirrored and cropped, moved by a known head motion (rotation,
  translation) with the mouth opened and closed by a landmark warp. Identity is irrelevant there: it is
  a driving video with known motion.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from tests.mediautil import astronaut, lfw_faces, write_video

OTHER_PERSON_INDEX = 3
PASSPHRASE = "generator-test-passphrase"


def no_outputs(directory: Path) -> list[Path]:
    """Every file in ``directory`` (outputs, receipts, partial files): should be empty after a refusal."""
    return sorted(Path(directory).iterdir())


def other_person(size: int = 200) -> np.ndarray:
    f = (lfw_faces()[OTHER_PERSON_INDEX] * 255).round().astype(np.uint8)
    f = cv2.resize(f, (size, size), interpolation=cv2.INTER_CUBIC)
    return np.ascontiguousarray(np.stack([f] * 3, axis=-1))


def save_png(path: Path, rgb: np.ndarray) -> Path:
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return Path(path)


def driver_motion(i: int, n: int) -> tuple[float, float, float, float]:
    """Known driver motion at frame i of n: (angle degrees, dx, dy, mouth opening px)."""
    t = i / max(1, n - 1)
    angle = 9.0 * math.sin(2 * math.pi * t)
    dx = 14.0 * math.sin(2 * math.pi * t + 0.6)
    dy = 6.0 * math.sin(4 * math.pi * t)
    mouth = 9.0 * max(0.0, math.sin(3 * math.pi * t))
    return angle, dx, dy, mouth


def driver_clip(path: Path, n: int = 24, fps: int = 12, size: int = 256) -> tuple[Path, list[tuple[float, ...]]]:
    """A driving video with known motion (see :func:`driver_motion`); returns the path and the motion."""
    from deepsentry.generator import landmarks as lm
    from deepsentry.generator.animate import animate_frame, prepare_source

    a = astronaut()[:, ::-1]                      # mirrored
    crop = np.ascontiguousarray(a[10:10 + 300, 512 - 380:512 - 80])   # 300x300 around the face
    crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    face = lm.main_face(crop, "driver base")
    src = prepare_source(crop, face.points)
    jaw_and_lower_lip = [5, 6, 7, 8, 9, 10, 11, 55, 56, 57, 58, 59, 64, 65, 66, 67]
    motions = [driver_motion(i, n) for i in range(n)]

    def gen():
        cx, cy = face.points.mean(axis=0)
        for angle, dx, dy, mouth in motions:
            pts = face.points.copy()
            w = np.zeros(68, np.float32)
            w[jaw_and_lower_lip] = 1.0
            w[[5, 11]] = 0.4
            w[[6, 10]] = 0.7
            pts[:, 1] += w * mouth
            img = animate_frame(src, pts)
            M = cv2.getRotationMatrix2D((float(cx), float(cy)), angle, 1.0)
            M[:, 2] += (dx, dy)
            yield cv2.warpAffine(img, M, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)

    write_video(path, gen(), fps=fps, crf=16)
    return Path(path), motions


def with_tone(src: Path, dst: Path, freq: float = 440.0, rate: int = 48000) -> Path:
    """Copy the video ``src`` (decoded, re-encoded H.264) into ``dst`` with a real AAC sine-tone track of
    the same duration, so the swap's audio pass-through can be checked."""
    from fractions import Fraction

    import av

    with av.open(str(src)) as c:
        v = c.streams.video[0]
        fps = v.average_rate or Fraction(25)
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    seconds = len(frames) / float(fps)
    with av.open(str(dst), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.height, vs.width = frames[0].shape[:2]
        vs.pix_fmt = "yuv420p"
        vs.options = {"crf": "18", "preset": "veryfast"}
        aus = out.add_stream("aac", rate=rate)
        aus.layout = "mono"
        for img in frames:
            for pkt in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(pkt)
        for pkt in vs.encode():
            out.mux(pkt)
        n = int(seconds * rate)
        t = np.arange(n) / rate
        pcm = (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)[None, :]
        for i in range(0, n, 1024):
            fr = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm[:, i:i + 1024]), format="fltp", layout="mono")
            fr.sample_rate = rate
            fr.pts = i
            for pkt in aus.encode(fr):
                out.mux(pkt)
        for pkt in aus.encode():
            out.mux(pkt)
    return Path(dst)

"""Real test media made at test time: real faces from scikit-image, encoded with PyAV.

Nothing here is mocked: the images are real photographs shipped inside scikit-image, the videos are
real H.264 streams written by PyAV (FFmpeg). Shared by every area's tests.
"""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import av
import cv2
import numpy as np

# Box (x, y, w, h) of the astronaut's face in skimage.data.astronaut() (512x512): brow to chin, cheek to cheek,
# measured by hand; MTCNN's box overlaps it with IoU ~0.84.
ASTRONAUT_FACE_BOX = (178, 55, 92, 122)


@lru_cache(maxsize=1)
def astronaut() -> np.ndarray:
    """512x512 RGB uint8 photo with one frontal face."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


@lru_cache(maxsize=1)
def lfw_faces() -> np.ndarray:
    """200 grey 25x25 LFW face crops (first 100 faces, then 100 non-faces) as float in [0, 1]."""
    from skimage import data

    return data.lfw_subset()


def brick_wall() -> np.ndarray:
    """640x480 RGB uint8 brick wall (skimage's grey 512x512 brick, upscaled and centre-cropped as the
    watermark bench's brick_640x480): a fine regular texture on which some watermark ids keep a bit wrong."""
    from skimage import data

    grey = cv2.resize(data.brick(), (640, 640), interpolation=cv2.INTER_CUBIC)[80:560]
    return np.ascontiguousarray(np.stack([grey] * 3, axis=-1))


def scene(width: int = 1280, height: int = 720, seed: int = 0) -> np.ndarray:
    """A face-free background: smooth gradients plus blocks, deterministic per seed."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([
        127 + 80 * np.sin(xx / (97 + 13 * seed) + seed),
        127 + 80 * np.cos(yy / (61 + 7 * seed)),
        127 + 60 * np.sin((xx + yy) / 150.0),
    ], axis=-1)
    img = base.clip(0, 255).astype(np.uint8)
    for _ in range(6):
        x, y = int(rng.integers(0, width - 80)), int(rng.integers(0, height - 80))
        w, h = int(rng.integers(30, 200)), int(rng.integers(30, 200))
        img[y:y + h, x:x + w] = rng.integers(0, 255, 3)
    return img


def place(canvas: np.ndarray, img: np.ndarray, x: int, y: int, scale: float = 1.0) -> tuple[int, int, int, int]:
    """Paste ``img`` (scaled) onto ``canvas`` at (x, y); returns the pasted rectangle (x, y, w, h)."""
    if scale != 1.0:
        img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    h, w = img.shape[:2]
    canvas[y:y + h, x:x + w] = img
    return x, y, w, h


def astronaut_face_on(canvas: np.ndarray, x: int, y: int, scale: float = 1.0) -> tuple[float, float, float, float]:
    """Paste the astronaut photo; return where her face box lands on the canvas."""
    place(canvas, astronaut(), x, y, scale)
    fx, fy, fw, fh = ASTRONAUT_FACE_BOX
    return x + fx * scale, y + fy * scale, fw * scale, fh * scale


def write_video(path: str | Path, frames, fps: int = 25, codec: str = "libx264", crf: int = 23,
                pix_fmt: str = "yuv420p") -> Path:
    """Encode RGB uint8 frames (iterable) to a real video file with PyAV."""
    path = Path(path)
    frames = iter(frames)
    first = next(frames)
    h, w = first.shape[:2]
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=Fraction(fps, 1))
        stream.width, stream.height = w - w % 2, h - h % 2
        stream.pix_fmt = pix_fmt
        if codec == "libx264":
            stream.options = {"crf": str(crf), "preset": "veryfast"}
        for img in _chain(first, frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img[: stream.height, : stream.width]), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def _chain(first, rest):
    yield first
    yield from rest


def face_clip(path: str | Path, seconds: float = 2.0, fps: int = 25, size: tuple[int, int] = (640, 360),
              faces: int = 1, drift: int = 2) -> tuple[Path, list[list[tuple[float, float, float, float]]]]:
    """A clip of 1 or 2 astronaut faces moving slowly over a scene.

    Returns the path and, per frame, the true face boxes (x, y, w, h) in pixel coordinates.
    """
    w, h = size
    bg = scene(w, h, seed=1)
    n = int(round(seconds * fps))
    scale = min(1.0, (h - 20) / 512, (w / faces - 10 - drift * n) / 512)
    truth: list[list[tuple[float, float, float, float]]] = []

    def gen():
        for i in range(n):
            frame = bg.copy()
            boxes = []
            xs = [10 + drift * i] if faces == 1 else [5 + drift * i, w // 2 + 5]
            for x in xs[:faces]:
                boxes.append(astronaut_face_on(frame, int(x), 10, scale))
            truth.append(boxes)
            yield frame

    write_video(path, gen(), fps=fps)
    return Path(path), truth


def no_face_clip(path: str | Path, seconds: float = 2.0, fps: int = 25, size=(640, 360)) -> Path:
    w, h = size
    n = int(round(seconds * fps))
    return write_video(path, (np.roll(scene(w, h, seed=3), 3 * i, axis=1) for i in range(n)), fps=fps)


def iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0

"""Perceptual fingerprint: a 64-bit DCT hash (pHash) per sampled frame.

Images give one hash (8 bytes); videos give ``VIDEO_FRAMES`` hashes (32 bytes) taken at evenly spaced
times, so a re-encoded copy (other codec, CRF, container) lands within a few bits while unrelated
content differs by about half of them. Used against watermark spoofing: a watermark id copied onto
other content does not carry the registered content's fingerprint.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

VIDEO_FRAMES = 4
HASH_BYTES = 8
MATCH_THRESHOLD = 0.85       # similarity (1 - hamming/bits) at or above which two fingerprints match
VIDEO_EXTS = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".ts", ".flv", ".3gp", ".ogv"}
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}


def phash(rgb: np.ndarray) -> bytes:
    """64-bit perceptual hash of one RGB (or grey) uint8 image: sign of the 8x8 low DCT band vs its median."""
    import cv2

    img = np.asarray(rgb)
    grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) if img.ndim == 3 else img
    small = cv2.resize(grey.astype(np.float32), (32, 32), interpolation=cv2.INTER_AREA)
    low = cv2.dct(small)[:8, :8].flatten()
    med = np.median(low[1:])
    bits = (low > med).astype(np.uint8)
    return np.packbits(bits).tobytes()


def is_video(path: str | Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXTS


def _read_image(path: Path) -> np.ndarray:
    import cv2

    from deepsentry.errors import MediaDecodeError

    data = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if img is None:
        raise MediaDecodeError(f"cannot decode image {path.name}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _video_frames(path: Path, n: int) -> list[np.ndarray]:
    """``n`` RGB frames at evenly spaced times (centres of n equal slices of the duration)."""
    import av

    from deepsentry.errors import MediaDecodeError

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            tb = stream.time_base
            if stream.duration:
                duration = float(stream.duration * tb)
            elif container.duration:
                duration = container.duration / 1_000_000
            else:
                duration = 0.0
            frames: list = []
            start = None
            targets = [duration * (k + 0.5) / n for k in range(n)]
            ti = 0
            last = None
            for frame in container.decode(stream):
                t = frame.time if frame.time is not None else 0.0
                if start is None:
                    start = t
                last = frame
                while ti < n and (t - start) >= targets[ti]:
                    frames.append(frame.to_ndarray(format="rgb24"))
                    ti += 1
                if ti >= n:
                    break
            while len(frames) < n and last is not None:   # duration unknown or short: pad with the last frame
                frames.append(last.to_ndarray(format="rgb24"))
    except av.error.FFmpegError as exc:
        raise MediaDecodeError(f"cannot decode video {path.name}: {exc}") from exc
    except IndexError as exc:
        raise MediaDecodeError(f"{path.name} has no video stream") from exc
    if not frames:
        raise MediaDecodeError(f"{path.name} has no decodable frames")
    return frames


def fingerprint(path: str | Path) -> bytes:
    """Fingerprint of an image (8 bytes) or video (``VIDEO_FRAMES`` x 8 bytes) file."""
    path = Path(path)
    if is_video(path):
        return b"".join(phash(f) for f in _video_frames(path, VIDEO_FRAMES))
    return phash(_read_image(path))


def similarity(a: bytes, b: bytes) -> float:
    """1 - normalised Hamming distance; 0.0 when the fingerprints are of different kinds/lengths."""
    if not a or len(a) != len(b):
        return 0.0
    x = np.unpackbits(np.frombuffer(a, np.uint8) ^ np.frombuffer(b, np.uint8))
    return 1.0 - float(x.sum()) / x.size

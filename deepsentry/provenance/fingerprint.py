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


def fingerprint(path: str | Path, limits=None) -> bytes:
    """Fingerprint of an image (8 bytes) or video (``VIDEO_FRAMES`` x 8 bytes) file, read through
    ``deepsentry.media.open`` (the kind comes from the file's bytes, never its name)."""
    from deepsentry import media

    mf = media.open(path, limits)
    if mf.kind == "image":
        return phash(mf.image())
    return b"".join(phash(f) for f in mf.at_fractions(VIDEO_FRAMES))


def similarity(a: bytes, b: bytes) -> float:
    """1 - normalised Hamming distance; 0.0 when the fingerprints are of different kinds/lengths."""
    if not a or len(a) != len(b):
        return 0.0
    x = np.unpackbits(np.frombuffer(a, np.uint8) ^ np.frombuffer(b, np.uint8))
    return 1.0 - float(x.sum()) / x.size

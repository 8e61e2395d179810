"""Still images through Pillow: header-only probe, limit checks, then decode to RGB ``uint8``.

Pillow's ``Image.open`` is lazy: it reads the header (size, mode) and stops. Every limit is checked on
that header before ``load()`` allocates the pixel buffer, so a 30000x30000 PNG costs a few hundred bytes
of reading. Pillow's own decompression-bomb guard (which raises for > 2x ``MAX_IMAGE_PIXELS``) is left in
place and reported as ``too_large`` too.
"""

from __future__ import annotations

import io
import os
import warnings
from typing import BinaryIO

import numpy as np

from deepsentry.errors import MediaDecodeError, TooLarge
from deepsentry.settings import Limits

from ._sniff import PIL_FORMATS
from ._types import MediaInfo

# Orientation tags 5-8 swap width and height when displayed.
_SWAPS_AXES = {5, 6, 7, 8}


def _open(src: str | os.PathLike | BinaryIO, fmt: str, limits: Limits):
    """Open lazily with only the parser for ``fmt``; check the pixel limit on the header."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(src, formats=[PIL_FORMATS[fmt]])
    except Image.DecompressionBombError as exc:
        raise TooLarge(f"image is far over the pixel limit ({limits.max_pixels} pixels); refused before decoding",
                       details={"limit": "max_pixels", "max": limits.max_pixels}) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError) as exc:
        raise MediaDecodeError(f"cannot read {fmt.upper()} header: {exc}", details={"format": fmt}) from exc
    width, height = img.size
    if width <= 0 or height <= 0:
        img.close()
        raise MediaDecodeError(f"{fmt.upper()} header gives an empty size {width}x{height}", details={"format": fmt})
    if width * height > limits.max_pixels:
        img.close()
        raise TooLarge(f"image is {width}x{height} = {width * height} pixels, over the limit of {limits.max_pixels}",
                       details={"limit": "max_pixels", "value": width * height, "max": limits.max_pixels})
    return img


def _orientation(img) -> int:
    try:
        return int(img.getexif().get(0x0112, 1) or 1)
    except Exception:  # broken EXIF must not make a readable image unreadable
        return 1


def probe_image(path: str | os.PathLike, fmt: str, size: int, limits: Limits) -> MediaInfo:
    img = _open(path, fmt, limits)
    with img:
        width, height = img.size
        if _orientation(img) in _SWAPS_AXES:
            width, height = height, width
    return MediaInfo(kind="image", format=fmt, codec=fmt, width=width, height=height, duration=None, fps=None,
                     frame_count=1, size_bytes=size)


def _to_rgb(img) -> np.ndarray:
    from PIL import Image, ImageOps

    if _orientation(img) != 1:
        img = ImageOps.exif_transpose(img)
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = arr.max() if arr.size else 0
        scale = 255.0 / 65535.0 if top > 255 else 1.0
        grey = np.clip(arr * scale, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=2))
    if mode in ("RGBA", "LA", "PA", "La", "RGBa") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        img = flat
    elif mode != "RGB":
        img = img.convert("RGB")
    return np.ascontiguousarray(np.asarray(img, dtype=np.uint8))


def decode(src: str | os.PathLike | BinaryIO, fmt: str, limits: Limits) -> np.ndarray:
    """Decode the first frame of an image to H x W x 3 RGB ``uint8``."""
    img = _open(src, fmt, limits)
    try:
        with img:
            img.load()
            return _to_rgb(img)
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError) as exc:
        raise MediaDecodeError(f"corrupt or truncated {fmt.upper()} data: {exc}", details={"format": fmt}) from exc


def decode_bytes(data: bytes, fmt: str, limits: Limits) -> np.ndarray:
    return decode(io.BytesIO(data), fmt, limits)

"""Media ingestion: recognise, probe, limit-check and decode images and videos.

Public API (the daemon and the face pipeline use exactly these)::

    open(path, limits=None) -> MediaFile                # THE door: sniff + probe, then .image(), .sample(),
                                                         # .spread(n), .at_fractions(n), .decode(), .transcode_items()
    H264Writer, write_h264(path, frames, fps, ...)       # the one video writer
    kind_from_name(name) -> "image" | "video" | None; SUFFIXES  # for names of files to write
    probe(path, limits=None) -> MediaInfo               # headers only; all limits checked here
    sample_frames(path, limits=None, *, fps=None, max_frames=None, start=0.0) -> Iterator[Frame]
    load_image(path, limits=None) -> np.ndarray          # H x W x 3 RGB uint8
    decode_image_bytes(data, limits=None) -> np.ndarray
    image_header(data, limits=None) -> (width, height)  # an in-memory image's header, limits checked
    sha256_file(path, chunk=1 << 20) -> str; sha256_bytes(data) -> str
    sniff_bytes(head) -> (kind, format) | None; sniff_file(path, limits=None) -> (kind, format, size_bytes)

Errors (all from :mod:`deepsentry.errors`): ``UnsupportedMedia`` (415: empty, unknown type, not an
image where one is needed), ``MediaDecodeError`` (422: a known format that is corrupt, truncated or has
no video stream), ``TooLarge`` (413: bytes, pixels per frame or duration over :class:`Limits`, found from
headers before decoding), ``NotFound`` (404: no such file). URL fetching lives in
:mod:`deepsentry.media.fetch`. This package imports nothing from other deepsentry subpackages.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from deepsentry.errors import BadRequest, NotFound, TooLarge, UnsupportedMedia
from deepsentry.settings import Limits

from ._file import MediaFile, open_media
from ._hash import sha256_bytes, sha256_file
from ._sniff import HEAD_BYTES, SUFFIXES, kind_from_name, sniff
from ._types import Frame, MediaInfo
from ._write import H264Writer, write_h264

open = open_media       # noqa: A001 - ``deepsentry.media.open`` is the package's door; this module uses io.open

__all__ = ["open", "MediaFile", "H264Writer", "write_h264", "kind_from_name", "SUFFIXES", "MediaInfo", "Frame", "probe", "sample_frames", "load_image", "decode_image_bytes", "image_header", "sha256_file",
           "sha256_bytes", "sniff_bytes", "sniff_file", "plan_times"]


def _check_bytes(size: int, limits: Limits) -> None:
    if size == 0:
        raise UnsupportedMedia("the file is empty", details={"reason": "empty"})
    if size > limits.max_bytes:
        raise TooLarge(f"{size} bytes is over the limit of {limits.max_bytes} bytes",
                       details={"limit": "max_bytes", "value": size, "max": limits.max_bytes})


def _unknown(head: bytes) -> UnsupportedMedia:
    return UnsupportedMedia("not an image or video of a supported type (JPEG, PNG, WebP, GIF, BMP, MP4, MOV, "
                            "WebM, MKV, AVI, FLV, MPEG-TS)", details={"reason": "unknown_type"})


def sniff_bytes(head: bytes) -> tuple[str, str] | None:
    """``(kind, format)`` from the first bytes of a file (4096 are plenty), or ``None`` if unsupported."""
    return sniff(bytes(head[:HEAD_BYTES]))


def sniff_file(path: str | os.PathLike, limits: Limits | None = None) -> tuple[str, str, int]:
    """``(kind, format, size_bytes)`` of a file from its magic bytes; checks existence, emptiness and bytes."""
    limits = limits or Limits()
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError as exc:
        raise NotFound(f"no such file: {p}") from exc
    if not p.is_file():
        raise UnsupportedMedia(f"not a regular file: {p}", details={"reason": "not_a_file"})
    _check_bytes(st.st_size, limits)
    with io.open(p, "rb") as f:
        head = f.read(HEAD_BYTES)
    found = sniff(head)
    if found is None:
        raise _unknown(head)
    return found[0], found[1], st.st_size


def probe(path: str | os.PathLike, limits: Limits | None = None) -> MediaInfo:
    """Read the headers of an image or video and check every limit on them; decodes no pixels."""
    from . import _image, _video

    limits = limits or Limits()
    kind, fmt, size = sniff_file(path, limits)
    if kind == "image":
        return _image.probe_image(path, fmt, size, limits)
    return _video.probe_video(path, fmt, size, limits)


def sample_frames(path: str | os.PathLike, limits: Limits | None = None, *, fps: float | None = None,
                  max_frames: int | None = None, start: float = 0.0) -> Iterator[Frame]:
    """Frames sampled by time: up to ``fps`` per second (default ``limits.sample_fps``), at most
    ``max_frames`` (default ``limits.max_frames``) spread evenly over the clip when that cap binds.

    The file is probed (and every limit checked) when this is called, so header problems raise here;
    decoding problems surface while iterating (``MediaDecodeError`` if no frame could be decoded; after
    some frames a corrupt tail just ends the iteration, logged as a warning). An image yields one frame at
    ``t=0``. Decoding is sequential; unwanted frames are never converted to RGB.
    """
    from . import _video

    limits = limits or Limits()
    fps = limits.sample_fps if fps is None else float(fps)
    max_frames = limits.max_frames if max_frames is None else int(max_frames)
    if not fps > 0 or not np.isfinite(fps):
        raise BadRequest(f"fps must be a positive number, not {fps}")
    if max_frames < 1:
        raise BadRequest(f"max_frames must be at least 1, not {max_frames}")
    if not start >= 0 or not np.isfinite(start):
        raise BadRequest(f"start must be a non-negative number of seconds, not {start}")
    info = probe(path, limits)
    if info.kind == "image":
        return iter([Frame(t=0.0, index=0, image=load_image(path, limits))])
    if info.duration is not None and start >= info.duration:
        raise BadRequest(f"start {start:.2f} s is past the end of the {info.duration:.2f} s video")
    return _video.iter_frames(path, info, limits, fps, max_frames, start)


def load_image(path: str | os.PathLike, limits: Limits | None = None) -> np.ndarray:
    """Decode an image file (JPEG, PNG, WebP, GIF first frame, BMP) to H x W x 3 RGB ``uint8``."""
    from . import _image

    limits = limits or Limits()
    kind, fmt, _ = sniff_file(path, limits)
    if kind != "image":
        raise UnsupportedMedia(f"expected an image, got a {fmt.upper()} video", details={"reason": "not_an_image"})
    return _image.decode(path, fmt, limits)


def _image_format(data: bytes, limits: Limits) -> str:
    _check_bytes(len(data), limits)
    found = sniff(data[:HEAD_BYTES])
    if found is None:
        raise _unknown(data)
    kind, fmt = found
    if kind != "image":
        raise UnsupportedMedia(f"expected an image, got a {fmt.upper()} video", details={"reason": "not_an_image"})
    return fmt


def decode_image_bytes(data: bytes, limits: Limits | None = None) -> np.ndarray:
    """Decode an in-memory image (e.g. a base64-decoded JPEG frame) to H x W x 3 RGB ``uint8``."""
    from . import _image

    limits = limits or Limits()
    data = bytes(data)
    return _image.decode_bytes(data, _image_format(data, limits), limits)


def image_header(data: bytes, limits: Limits | None = None) -> tuple[int, int]:
    """``(width, height)`` of an in-memory image from its header alone (type, bytes and pixel limits
    checked; no pixels decoded): what a request may cost before it is admitted."""
    from . import _image

    limits = limits or Limits()
    data = bytes(data)
    img = _image._open(io.BytesIO(data), _image_format(data, limits), limits)
    with img:
        return img.size


def plan_times(duration: float | None, fps: float, max_frames: int, start: float = 0.0) -> list[float] | None:
    """The sample times :func:`sample_frames` aims for (see ``_video.plan_times``)."""
    from ._video import plan_times as _plan

    return _plan(duration, fps, max_frames, start)

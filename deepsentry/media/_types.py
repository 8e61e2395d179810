"""Result types shared by the media readers: :class:`MediaInfo` (header facts) and :class:`Frame`."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class MediaInfo:
    """What the file's headers say, read without decoding any pixels.

    ``kind`` is ``"image"`` or ``"video"``; ``format`` the container/file type found from the magic bytes
    (``jpeg``, ``png``, ``webp``, ``gif``, ``bmp``, ``mp4``, ``mov``, ``webm``, ``mkv``, ``avi``, ``flv``,
    ``mpegts``); ``codec`` the video codec (``h264``, ``vp9``, ...) or the image format. ``width``/``height``
    are the stored frame size. For videos ``duration`` (seconds) and ``fps`` come from the container when
    it states them (else ``None``); ``frame_count`` is the header's frame count, or ``duration * fps``
    rounded when the header has none; ``has_audio`` whether a video has an audio stream. Images have
    ``duration=None``, ``fps=None``, ``frame_count=1``.
    """

    kind: str
    format: str
    codec: str
    width: int
    height: int
    duration: float | None
    fps: float | None
    frame_count: int | None
    size_bytes: int
    has_audio: bool = False

    @property
    def pixels(self) -> int:
        return self.width * self.height

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Frame:
    """One sampled frame.

    ``t``: presentation time in seconds from the start of the video stream (0 for images).
    ``index``: 0-based number of this frame in the video stream in presentation order, from its timestamp
    and the stream's average frame rate (equal to the decoder's frame ordinal for constant-rate video).
    ``image``: H x W x 3 RGB ``uint8``, display orientation (rotation metadata applied).
    """

    t: float
    index: int
    image: np.ndarray

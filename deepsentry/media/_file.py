"""``open(path, limits)``: the one way a file's pixels enter the process.

Opening sniffs the magic bytes and probes the headers, checking every limit (bytes, pixels per frame,
duration) before anything is decoded; the :class:`MediaFile` it returns then gives the pixels in the
shapes the readers of this package need: the still image, frames sampled by time (the detector),
frames spread over the clip (the watermark reader), frames at slice centres (the fingerprint), every
frame (the generator), or decoded frames with the audio packets beside them (re-encoding).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from deepsentry.errors import MediaDecodeError, UnsupportedMedia
from deepsentry.settings import Limits

from ._types import Frame, MediaInfo

SEEK_GAP_S = 2.0             # spread(): seek only to frames further ahead than this


class MediaFile:
    """A file that passed the door: ``info`` is its probed :class:`MediaInfo`; nothing is decoded yet."""

    def __init__(self, path: Path, info: MediaInfo, limits: Limits) -> None:
        self.path, self.info, self.limits = Path(path), info, limits

    @property
    def kind(self) -> str:
        return self.info.kind

    def _need_video(self) -> None:
        if self.info.kind != "video":
            raise UnsupportedMedia(f"{self.path.name} is an image, not a video", details={"reason": "not_a_video"})

    # ------------------------------------------------------------------ stills and sampled frames
    def image(self) -> np.ndarray:
        """The still (first frame of a GIF) as H x W x 3 RGB ``uint8``."""
        from . import _image

        if self.info.kind != "image":
            raise UnsupportedMedia(f"expected an image, got a {self.info.format.upper()} video",
                                   details={"reason": "not_an_image"})
        try:
            return _image.decode(self.path, self.info.format, self.limits)
        except MediaDecodeError as exc:
            raise MediaDecodeError(f"{self.path.name}: {exc.message}", details=exc.details) from exc

    def sample(self, *, fps: float | None = None, max_frames: int | None = None, start: float = 0.0) -> Iterator[Frame]:
        """Frames by time, as :func:`deepsentry.media.sample_frames`."""
        from . import sample_frames

        return sample_frames(self.path, self.limits, fps=fps, max_frames=max_frames, start=start)

    def spread(self, count: int, *, threads: int = 1) -> list[np.ndarray]:
        """Up to ``count`` RGB frames spread evenly over the clip, decoding forward and seeking over gaps
        longer than ``SEEK_GAP_S``. Only reference frames are decoded (FFmpeg ``skip_frame=NONREF``: half
        the work on streams with B-frames, and the better-quality frames); a stream where that yields
        fewer than ``count`` is read again with every frame. An image gives ``[image]``."""
        if self.info.kind == "image":
            return [self.image()]
        frames = self._spread(count, "NONREF", threads)
        if len(frames) < count:
            more = self._spread(count, "DEFAULT", threads)
            frames = more if len(more) > len(frames) else frames
        if not frames:
            raise MediaDecodeError(f"{self.path.name}: no decodable video frames")
        return frames

    def at_fractions(self, n: int) -> list[np.ndarray]:
        """``n`` RGB frames at the centres of ``n`` equal slices of the clip (padded with the last frame
        when the duration is unknown or short); an image gives ``[image]``."""
        if self.info.kind == "image":
            return [self.image()]
        duration = self.info.duration or 0.0
        targets = [duration * (k + 0.5) / n for k in range(n)]
        frames: list[np.ndarray] = []
        last = None
        start = None
        with self._decoder() as (container, stream):
            for frame in container.decode(stream):
                t = frame.time if frame.time is not None else 0.0
                start = t if start is None else start
                last = frame
                while len(frames) < n and (t - start) >= targets[len(frames)]:
                    frames.append(frame.to_ndarray(format="rgb24"))
                if len(frames) >= n:
                    break
        while len(frames) < n and last is not None:
            frames.append(last.to_ndarray(format="rgb24"))
        if not frames:
            raise MediaDecodeError(f"{self.path.name} has no decodable frames")
        return frames

    def decode(self, limit: int | None = None) -> Iterator[np.ndarray]:
        """Every frame in order as RGB ``uint8``, at most ``limit``."""
        self._need_video()
        with self._decoder() as (container, stream):
            for i, frame in enumerate(container.decode(stream)):
                if limit is not None and i >= limit:
                    break
                yield frame.to_ndarray(format="rgb24")

    def transcode_items(self, *, threads: int = 1):
        """For re-encoding: a context manager giving ``(video_stream, audio_stream | None, items)``; items
        yields ``("video", av.VideoFrame)`` for each decoded frame and ``("audio", av.Packet)`` for each
        audio packet, in file order (audio is meant to be copied as is)."""
        self._need_video()
        return _Transcode(self, threads)

    # ------------------------------------------------------------------ plumbing
    @contextlib.contextmanager
    def _decoder(self, threads: int | None = None):
        import av

        from ._video import _open_for_decode

        container, stream = _open_for_decode(self.path, self.info, self.limits)
        if threads is not None:
            stream.thread_count = threads
            stream.thread_type = "SLICE" if threads == 1 else "AUTO"
        try:
            yield container, stream
        except av.FFmpegError as exc:
            raise MediaDecodeError(f"{self.path.name}: corrupt video: {exc}") from exc
        finally:
            container.close()

    def _spread(self, count: int, skip: str, threads: int) -> list[np.ndarray]:
        with self._decoder(threads) as (container, stream):
            stream.codec_context.skip_frame = skip
            tb = stream.time_base or Fraction(1, 1000)
            duration = self.info.duration
            rate = float(self.info.fps or 25)
            start = float(stream.start_time * tb) if stream.start_time is not None else 0.0
            if not duration or duration * rate <= count * 2 or duration <= SEEK_GAP_S * count:
                return _spread_short(container, stream, tb, start, duration, rate, count)
            return _spread_seeking(container, stream, tb, start, duration, rate, count)


def _spread_short(container, stream, tb, start: float, span: float | None, rate: float, count: int) -> list[np.ndarray]:
    """Short clip: one forward pass, keeping the frame nearest each evenly spaced time."""
    frames: list[np.ndarray] = []
    got: list[np.ndarray] = []
    k = 0
    for frame in container.decode(stream):
        if span is None:
            got.append(frame.to_ndarray(format="rgb24"))
            if len(got) >= 4 * count:
                break
            continue
        t = float(frame.pts * tb) if frame.pts is not None else start + len(frames) / rate
        if t >= start + span * (k + 0.5) / count - 0.5 / rate:
            frames.append(frame.to_ndarray(format="rgb24"))
            k += 1
            if k >= count:
                break
    if span is None and got:
        idx = np.linspace(0, len(got) - 1, min(count, len(got))).round().astype(int)
        frames = [got[i] for i in idx]
    return frames


def _spread_seeking(container, stream, tb, start: float, duration: float, rate: float, count: int) -> list[np.ndarray]:
    """Forward pass that seeks only when the next sample is more than ``SEEK_GAP_S`` ahead (a seek may
    land on an earlier keyframe in long-GOP files: decoding then just goes forward again)."""
    frames: list[np.ndarray] = []
    frames_iter = None
    pos = float("-inf")
    for k in range(count):
        target = start + duration * (k + 0.5) / count
        if frames_iter is None or target - pos > SEEK_GAP_S:
            container.seek(int(target / tb), stream=stream, backward=True, any_frame=False)
            frames_iter = container.decode(stream)
        got = None
        for frame in frames_iter:
            got = frame
            pos = float(frame.pts * tb) if frame.pts is not None else pos
            if frame.pts is None or pos >= target - 0.5 / rate:
                break
        if got is None:
            break
        frames.append(got.to_ndarray(format="rgb24"))
    return frames


class _Transcode:
    def __init__(self, mf: MediaFile, threads: int) -> None:
        self.mf, self.threads = mf, threads
        self._ctx = None

    def __enter__(self):
        self._ctx = self.mf._decoder(self.threads)
        container, vin = self._ctx.__enter__()
        ain = container.streams.audio[0] if container.streams.audio else None
        streams = [vin] + ([ain] if ain is not None else [])

        def items():
            for packet in container.demux(*streams):
                if packet.stream.type == "audio":
                    if packet.dts is not None:
                        yield "audio", packet
                    continue
                for frame in packet.decode():
                    yield "video", frame

        return vin, ain, items()

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


def open_media(path: str | os.PathLike, limits: Limits | None = None) -> MediaFile:
    """Sniff and probe ``path`` with every limit checked on its headers; nothing is decoded."""
    from . import probe

    limits = limits or Limits()
    return MediaFile(Path(path), probe(path, limits), limits)

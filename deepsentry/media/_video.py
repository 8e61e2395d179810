"""Videos through PyAV (FFmpeg): header probe, limit checks, and time-based frame sampling.

Sampling decodes the stream once, front to back, with no seek per frame (one initial seek only when
``start`` is well past the beginning). Three savings keep it cheap without changing any picked pixel:
frames that are not wanted are dropped without conversion to RGB; a whole GOP (keyframe to keyframe)
that ends before the next wanted time is dropped undecoded; and packets far from a wanted time are
decoded with ``skip_frame=NONREF``, so non-reference frames (B-frames nobody predicts from) that would
be dropped anyway are not reconstructed. Opening never decodes (``skip_frame=all`` while FFmpeg probes
the streams) and the decoder refuses frames over ``limits.max_pixels`` before allocating them.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator

import numpy as np

from deepsentry.errors import MediaDecodeError, TooLarge, UnsupportedMedia
from deepsentry.settings import Limits

from ._sniff import DEMUXERS
from ._types import Frame, MediaInfo

log = logging.getLogger("deepsentry.media")

_MAX_BAD_PACKETS = 50       # give up on a stream after this many undecodable packets


def _codec_options(limits: Limits) -> dict[str, str]:
    # The decoder refuses a frame over the pixel limit before allocating it.
    return {"max_pixels": str(max(1, min(int(limits.max_pixels), 2**31 - 1)))}


def _open(path: str | os.PathLike, fmt: str, limits: Limits):
    import av

    try:
        # skip_frame=all: FFmpeg's stream probing (avformat_find_stream_info) reads headers and parses
        # packets but decodes no frame, so opening costs no pixel buffers whatever the header claims.
        return av.open(str(path), format=DEMUXERS[fmt], options={"skip_frame": "all"}, metadata_errors="ignore")
    except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError) as exc:
        raise MediaDecodeError(f"cannot read {fmt.upper()} container: {exc}", details={"format": fmt}) from exc


def _video_stream(container, fmt: str):
    streams = list(container.streams.video)
    if not streams:
        raise MediaDecodeError(f"the {fmt.upper()} file has no video stream", details={"format": fmt,
                                                                                     "reason": "no_video_stream"})
    # Prefer a real video over an embedded cover picture.
    for s in streams:
        if not (int(s.disposition) & 0x400):   # AV_DISPOSITION_ATTACHED_PIC
            return s
    return streams[0]


def _rate(stream) -> float | None:
    for r in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        try:
            if r and 0 < float(r) < 1000:
                return float(r)
        except (ZeroDivisionError, TypeError):
            continue
    return None


def _duration(container, stream) -> float | None:
    if stream.duration and stream.time_base:
        d = float(stream.duration * stream.time_base)
        if d > 0:
            return d
    if container.duration and container.duration > 0:
        return container.duration / 1_000_000     # AV_TIME_BASE
    return None


def probe_video(path: str | os.PathLike, fmt: str, size: int, limits: Limits) -> MediaInfo:
    container = _open(path, fmt, limits)
    try:
        stream = _video_stream(container, fmt)
        cc = stream.codec_context
        if cc is None:
            raise UnsupportedMedia(f"no decoder for the video codec of this {fmt.upper()} file",
                                   details={"reason": "codec", "format": fmt})
        width, height = int(cc.width or 0), int(cc.height or 0)
        codec = cc.name
        if width <= 0 or height <= 0:
            raise MediaDecodeError(f"the {fmt.upper()} video stream has no frame size", details={"format": fmt})
        if width * height > limits.max_pixels:
            raise TooLarge(f"video frames are {width}x{height} = {width * height} pixels, over the limit of "
                           f"{limits.max_pixels}", details={"limit": "max_pixels", "value": width * height,
                                                            "max": limits.max_pixels})
        duration = _duration(container, stream)
        if duration is not None and duration > limits.max_duration_s:
            raise TooLarge(f"video is {duration:.0f} s long, over the limit of {limits.max_duration_s:.0f} s "
                           "(from the container header; nothing was decoded)",
                           details={"limit": "max_duration_s", "value": duration, "max": limits.max_duration_s})
        fps = _rate(stream)
        frames = int(stream.frames or 0) or None
        if frames is None and duration is not None and fps is not None:
            frames = int(round(duration * fps))
        return MediaInfo(kind="video", format=fmt, codec=codec, width=width, height=height,
                         duration=duration, fps=fps, frame_count=frames, size_bytes=size,
                         has_audio=bool(container.streams.audio))
    finally:
        container.close()


def plan_times(duration: float | None, fps: float, max_frames: int, start: float = 0.0) -> list[float] | None:
    """Wanted sample times: every ``1/fps`` s from ``start``, or ``max_frames`` spread evenly over
    ``[start, duration)`` when that would be more. ``None`` when the duration is unknown (then sampling
    runs every ``1/fps`` s until ``max_frames`` or the end)."""
    if duration is None:
        return None
    span = duration - start
    if span <= 0:
        return []
    n = max(1, math.ceil(span * fps - 1e-9))
    step = 1.0 / fps
    if n > max_frames:
        n, step = max_frames, span / max_frames
    return [start + k * step for k in range(n)]


def _rotate(img: np.ndarray, rotation: float) -> np.ndarray:
    quarter = int(round(rotation / 90.0)) % 4
    # FFmpeg's rotation is counter-clockwise degrees of the display matrix; np.rot90 turns counter-clockwise.
    return np.ascontiguousarray(np.rot90(img, k=quarter)) if quarter else img


class _Sampler:
    """Decodes packets one at a time and picks the frames nearest the wanted times."""

    def __init__(self, stream, info: MediaInfo, limits: Limits, targets: list[float] | None, fps: float,
                 max_frames: int, start: float):
        self.stream, self.cc, self.info, self.limits = stream, stream.codec_context, info, limits
        self.tb = float(stream.time_base) if stream.time_base else None
        self.t0 = float(stream.start_time * stream.time_base) if (stream.start_time is not None and self.tb) else None
        self.vfps = info.fps or 25.0
        self.tol = 0.5 / self.vfps               # a frame within half a frame period hits a target
        self.window = 1.5 / self.vfps            # packets this close to a target are decoded fully
        self.targets, self.fps, self.start = targets, fps, start
        self.n_targets = len(targets) if targets is not None else max_frames
        self.max_frames = max_frames
        self.ti = 0                              # first target not yet hit
        self.yielded = 0
        self.ordinal = -1
        self.skipping = False
        self.errors = 0
        self.first_error: Exception | None = None

    @property
    def done(self) -> bool:
        return self.ti >= self.n_targets or self.yielded >= self.max_frames

    def target(self) -> float:
        i = self.ti
        return self.targets[i] if self.targets is not None else self.start + i / self.fps

    def time_of(self, packet) -> float | None:
        if packet.pts is None or not self.tb:
            return None
        if self.t0 is None:
            self.t0 = packet.pts * self.tb
        return packet.pts * self.tb - self.t0

    def gop_unneeded(self, next_key_t: float | None) -> bool:
        """A whole GOP that ends (next keyframe) well before the next wanted time need not be decoded."""
        return next_key_t is not None and not self.done and next_key_t <= self.target() - self.window

    def decode(self, packet) -> list[Frame]:
        import av

        pt = self.time_of(packet)
        far = pt is not None and not self.done and pt < self.target() - self.window
        if far != self.skipping:                 # non-reference frames nobody will look at: not decoded
            self.cc.skip_frame = "NONREF" if far else "DEFAULT"
            self.skipping = far
        try:
            frames = packet.decode()
        except av.FFmpegError as exc:            # a damaged packet: skip it, as ffmpeg does
            self.errors += 1
            self.first_error = self.first_error or exc
            return []
        out = []
        for frame in frames:
            picked = self._pick(frame)
            if picked is not None:
                out.append(picked)
                self.yielded += 1
                if self.done:
                    break
        return out

    def _pick(self, frame) -> Frame | None:
        self.ordinal += 1
        ts = frame.pts if frame.pts is not None else frame.dts
        if ts is None or not self.tb:
            t = self.ordinal / self.vfps
        else:
            if self.t0 is None:
                self.t0 = ts * self.tb
            t = ts * self.tb - self.t0
        if self.done or t + self.tol < self.target():
            return None                          # dropped: never converted to RGB
        if frame.width * frame.height > self.limits.max_pixels:
            raise TooLarge(f"a frame is {frame.width}x{frame.height}, over the pixel limit",
                           details={"limit": "max_pixels", "value": frame.width * frame.height,
                                    "max": self.limits.max_pixels})
        img = frame.to_ndarray(format="rgb24")
        rot = getattr(frame, "rotation", 0) or 0
        if rot:
            img = _rotate(img, rot)
        while not self.done and self.target() <= t + self.tol:
            self.ti += 1
        index = int(round(t * self.vfps)) if self.info.fps else self.ordinal
        return Frame(t=max(0.0, float(t)), index=index, image=img)


_GOP_BUFFER_BYTES = 48 * 1024 * 1024         # compressed packets held back while deciding to drop a GOP
_GOP_BUFFER_PACKETS = 4096


def _open_for_decode(path, info: MediaInfo, limits: Limits):
    container = _open(path, info.format, limits)
    stream = _video_stream(container, info.format)
    stream.thread_type = "AUTO"
    stream.codec_context.options = _codec_options(limits)
    return container, stream


def _drain(s, stream, gop: list) -> Iterator[Frame]:
    """The held-back packets of the last GOP, then the decoder's buffered frames, until the sampler is done."""
    import av

    for p in gop:
        yield from s.decode(p)
        if s.done:
            return
    try:
        for frame in stream.codec_context.decode(None):
            picked = s._pick(frame)
            if picked is not None:
                s.yielded += 1
                yield picked
                if s.done:
                    return
    except (av.FFmpegError, EOFError):
        pass


def _report_end(s, info: MediaInfo, path, targets) -> None:
    """A video that ended before the sampler was done: corrupt if nothing decoded, else logged."""
    if s.errors:
        if s.yielded == 0:
            raise MediaDecodeError(f"corrupt {info.format.upper()} video data: {s.first_error}",
                                   details={"format": info.format, "bad_packets": s.errors})
        log.warning("%s: %d damaged packet(s) skipped (%s); %d frames sampled", path, s.errors,
                    s.first_error, s.yielded)
    if s.yielded == 0:
        raise MediaDecodeError(f"no frame of the {info.format.upper()} video could be decoded",
                               details={"format": info.format})
    if targets is not None:
        log.info("%s: stream ended at sample %d of %d (header duration %.2f s)", path, s.yielded,
                 s.n_targets, info.duration or 0.0)


def iter_frames(path: str | os.PathLike, info: MediaInfo, limits: Limits, fps: float, max_frames: int,
                start: float) -> Iterator[Frame]:
    """Decode front to back and yield the frames nearest the planned times.

    Packets are held back one GOP (keyframe to keyframe) at a time; when the next keyframe shows that
    the whole GOP lies before the next wanted time, its packets are dropped undecoded (decoding restarts
    cleanly at the keyframe). Inside decoded GOPs, packets far from a wanted time are decoded with
    ``skip_frame=NONREF``. Neither changes the pixels of a picked frame.
    """
    import av

    targets = plan_times(info.duration, fps, max_frames, start)
    if targets is not None and not targets:
        return
    container, stream = _open_for_decode(path, info, limits)
    dropped = 0
    try:
        if start > 2.0 and stream.time_base:
            t0 = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
            try:                                 # one seek, to the keyframe before `start`
                container.seek(int((t0 + start - 1.0) / float(stream.time_base)), stream=stream, backward=True)
            except av.FFmpegError:
                container.close()
                container, stream = _open_for_decode(path, info, limits)
        s = _Sampler(stream, info, limits, targets, fps, max_frames, start)
        time_cap = limits.max_duration_s + 1.0
        gop: list = []
        gop_bytes = 0
        buffering = True
        try:
            for packet in container.demux(stream):
                if packet.size == 0 and packet.pts is None and packet.dts is None:
                    send, gop = gop + [packet], []              # end of stream: flush everything
                elif packet.is_keyframe:
                    key_t = s.time_of(packet)
                    if gop and s.gop_unneeded(key_t):
                        dropped += 1
                        send = []
                    else:
                        send = gop
                    gop, gop_bytes, buffering = [packet], packet.size, True
                    if key_t is not None and key_t > time_cap:
                        log.warning("%s: stream runs past the %.0f s limit; stopped sampling", path,
                                    limits.max_duration_s)
                        send.append(None)
                        gop = []
                elif buffering:
                    gop.append(packet)
                    gop_bytes += packet.size
                    send = []
                    if gop_bytes > _GOP_BUFFER_BYTES or len(gop) > _GOP_BUFFER_PACKETS:
                        send, gop, buffering = gop, [], False   # too long a GOP to hold: decode as it comes
                else:
                    send = [packet]
                for p in send:
                    if p is None:
                        break
                    for out in s.decode(p):
                        yield out
                    if s.done:
                        return
                if (send and send[-1] is None) or s.errors > _MAX_BAD_PACKETS:
                    break
        except av.FFmpegError as exc:                  # the demuxer itself gave up (e.g. truncated file)
            s.errors += 1
            s.first_error = s.first_error or exc
        if gop and not s.done:                         # demuxer stopped without its flush packet
            yield from _drain(s, stream, gop)
        if not s.done:
            _report_end(s, info, path, targets)
    finally:
        if dropped:
            log.debug("%s: %d GOPs skipped without decoding", path, dropped)
        container.close()

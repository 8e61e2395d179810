"""Videos through PyAV (FFmpeg): header probe, limit checks, and time-based frame sampling.

Sampling decodes the stream once, front to back, with no seek per frame (one initial seek only when
``start`` is well past the beginning). Frames that are not wanted are dropped without conversion to
RGB, and packets far from any wanted time are decoded with ``skip_frame=NONREF`` so the decoder does not
reconstruct non-reference frames (B-frames nobody predicts from) that would be dropped anyway.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator

import numpy as np

from deepsentry.errors import MediaDecodeError, TooLarge
from deepsentry.settings import Limits

from ._sniff import DEMUXERS
from ._types import Frame, MediaInfo

log = logging.getLogger("deepsentry.media")

_MAX_BAD_PACKETS = 50       # give up on a stream after this many undecodable packets


def _open(path: str | os.PathLike, fmt: str):
    import av

    try:
        return av.open(str(path), format=DEMUXERS[fmt], metadata_errors="ignore")
    except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError) as exc:
        raise MediaDecodeError(f"cannot read {fmt.upper()} container: {exc}", details={"format": fmt}) from exc


def _video_stream(container, fmt: str):
    streams = list(container.streams.video)
    if not streams:
        raise MediaDecodeError(f"the {fmt.upper()} file has no video stream", details={"format": fmt,
                                                                                     "reason": "no_video_stream"})
    # Prefer a real video over an embedded cover picture.
    for s in streams:
        if not (s.disposition & 0x400):        # AV_DISPOSITION_ATTACHED_PIC
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
    container = _open(path, fmt)
    try:
        stream = _video_stream(container, fmt)
        cc = stream.codec_context
        width, height = int(cc.width or 0), int(cc.height or 0)
        codec = cc.name if cc is not None else "unknown"
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
                         duration=duration, fps=fps, frame_count=frames, size_bytes=size)
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


def iter_frames(path: str | os.PathLike, info: MediaInfo, limits: Limits, fps: float, max_frames: int,
                start: float) -> Iterator[Frame]:
    import av

    container = _open(path, info.format)
    try:
        stream = _video_stream(container, info.format)
        stream.thread_type = "AUTO"
        cc = stream.codec_context
        tb = float(stream.time_base) if stream.time_base else None
        t0 = float(stream.start_time * stream.time_base) if (stream.start_time is not None and tb) else None
        vfps = info.fps or 25.0
        tol = 0.5 / vfps                               # a frame within half a frame period hits a target
        window = 1.5 / vfps                            # packets this close to a target are decoded fully
        targets = plan_times(info.duration, fps, max_frames, start)
        if targets is not None and not targets:
            return
        n_targets = len(targets) if targets is not None else max_frames

        def target(i: int) -> float:
            return targets[i] if targets is not None else start + i / fps

        if start > 2.0 and tb:
            try:                                       # one seek to the keyframe before `start`
                container.seek(int(((t0 or 0.0) + start - 1.0) / tb), stream=stream, backward=True)
            except av.FFmpegError:
                container.close()
                container = _open(path, info.format)
                stream = _video_stream(container, info.format)
                stream.thread_type = "AUTO"
                cc = stream.codec_context

        ti = 0
        yielded = 0
        ordinal = -1
        skipping = False
        time_cap = limits.max_duration_s + 1.0

        def handle(frame) -> Frame | None:
            nonlocal ti, ordinal, t0
            ordinal += 1
            ts = frame.pts if frame.pts is not None else frame.dts
            if ts is None or not tb:
                t = ordinal / vfps
            else:
                if t0 is None:
                    t0 = ts * tb
                t = ts * tb - t0
            if t + tol < target(ti):
                return None                            # dropped: never converted to RGB
            if frame.width * frame.height > limits.max_pixels:
                raise TooLarge(f"a frame is {frame.width}x{frame.height}, over the pixel limit",
                               details={"limit": "max_pixels", "value": frame.width * frame.height,
                                        "max": limits.max_pixels})
            img = frame.to_ndarray(format="rgb24")
            rot = getattr(frame, "rotation", 0) or 0
            if rot:
                img = _rotate(img, rot)
            while ti < n_targets and target(ti) <= t + tol:
                ti += 1
            index = int(round(t * vfps)) if info.fps else ordinal
            return Frame(t=max(0.0, float(t)), index=index, image=img)

        errors = 0
        first_error: Exception | None = None
        try:
            for packet in container.demux(stream):
                if packet.pts is not None and tb and t0 is not None and ti < n_targets:
                    pt = packet.pts * tb - t0
                    far = pt < target(ti) - window     # before the next wanted time: never shown
                    if far != skipping:
                        cc.skip_frame = "NONREF" if far else "DEFAULT"
                        skipping = far
                elif skipping:
                    cc.skip_frame = "DEFAULT"
                    skipping = False
                if packet.pts is not None and tb and t0 is not None and packet.pts * tb - t0 > time_cap:
                    log.warning("%s: stream runs past the %.0f s limit; stopped sampling", path,
                                limits.max_duration_s)
                    break
                try:
                    frames = packet.decode()
                except av.FFmpegError as exc:          # a damaged packet: skip it, as ffmpeg does
                    errors += 1
                    first_error = first_error or exc
                    if errors > _MAX_BAD_PACKETS:
                        break
                    continue
                for frame in frames:
                    out = handle(frame)
                    if out is not None:
                        yielded += 1
                        yield out
                        if ti >= n_targets or yielded >= max_frames:
                            return
        except av.FFmpegError as exc:                  # the demuxer itself gave up (e.g. truncated file)
            errors += 1
            first_error = first_error or exc
        if errors:
            if yielded == 0:
                raise MediaDecodeError(f"corrupt {info.format.upper()} video data: {first_error}",
                                       details={"format": info.format, "bad_packets": errors})
            log.warning("%s: %d damaged packet(s) skipped (%s); %d frames sampled", path, errors, first_error,
                        yielded)
        if yielded == 0:
            raise MediaDecodeError(f"no frame of the {info.format.upper()} video could be decoded",
                                   details={"format": info.format})
        if ti < n_targets and targets is not None:
            log.info("%s: stream ended at sample %d of %d (header duration %.2f s)", path, yielded, n_targets,
                     info.duration or 0.0)
    finally:
        container.close()

"""Files: reading stills and sampled video frames, writing marked images and re-encoded video (PyAV)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from deepsentry.errors import MediaDecodeError, NotFound, TooLarge, UnsupportedMedia, WatermarkError
from deepsentry.watermark import _riva
from deepsentry.watermark._core import (FrameMarker, WatermarkResult, detect_frames, embed_image, new_watermark_id,
                                        spread_order)

DETECT_FRAMES = 8            # frames read across a clip for detection ...
MAX_DETECT_FRAMES = 16       # ... and how many are sampled, for clips whose first 8 look marked but fail
SEEK_GAP_S = 2.0             # sampling seeks only to frames further ahead than this
MAX_PIXELS = 40_000_000      # same cap as settings.Limits.max_pixels
STILL_ID_TRIES = 4           # ids drawn for a still until one reads back from the file written
_VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".ts", ".flv", ".mpg", ".mpeg", ".3gp", ".gif"}


def _exists(path: str | Path) -> Path:
    p = Path(path)
    if not p.is_file():
        raise NotFound(f"no such file: {p}")
    if p.stat().st_size == 0:
        raise UnsupportedMedia(f"{p.name}: empty file")
    return p


def _read_image(p: Path) -> np.ndarray | None:
    """RGB uint8 array, or None when the bytes are not an image Pillow knows."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        img = Image.open(p)
    except UnidentifiedImageError:
        return None
    except OSError as exc:
        raise MediaDecodeError(f"{p.name}: cannot read image: {exc}") from exc
    if getattr(img, "n_frames", 1) > 1 and img.format in ("GIF", "WEBP", "PNG"):
        img.close()
        return None  # animated: read as video
    try:
        if img.width * img.height > MAX_PIXELS:
            raise TooLarge(f"{p.name}: {img.width}x{img.height} is over {MAX_PIXELS} pixels")
        img = ImageOps.exif_transpose(img)
        return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()
    except (OSError, ValueError, SyntaxError) as exc:
        raise MediaDecodeError(f"{p.name}: corrupt or truncated image: {exc}") from exc


def _open_video(p: Path):
    import av

    try:
        container = av.open(str(p))
    except (av.error.InvalidDataError, ValueError) as exc:
        raise UnsupportedMedia(f"{p.name}: not an image or video we can read") from exc
    except av.error.FFmpegError as exc:
        raise MediaDecodeError(f"{p.name}: cannot open video: {exc}") from exc
    if not container.streams.video:
        container.close()
        raise UnsupportedMedia(f"{p.name}: no video stream")
    return container


def sample_video_frames(p: Path, count: int = DETECT_FRAMES) -> list[np.ndarray]:
    """Up to ``count`` RGB frames spread evenly over the clip (decoding forward, seeking over gaps > 2 s).

    Only reference frames are decoded (FFmpeg ``skip_frame=NONREF``): half the decoding work on
    streams with B-frames, and the frames read are the better-quality ones. Streams where that yields
    fewer than ``count`` frames are read again with every frame.
    """
    frames = _sample(p, count, "NONREF")
    if len(frames) < count:
        more = _sample(p, count, "DEFAULT")
        frames = more if len(more) > len(frames) else frames
    if not frames:
        raise MediaDecodeError(f"{p.name}: no decodable video frames")
    return frames


def _sample(p: Path, count: int, skip: str) -> list[np.ndarray]:
    import av

    container = _open_video(p)
    try:
        stream = container.streams.video[0]
        stream.thread_count = _riva._threads()
        stream.thread_type = "SLICE" if stream.thread_count == 1 else "AUTO"
        try:
            stream.codec_context.skip_frame = skip
        except (AttributeError, ValueError, TypeError):  # pragma: no cover - old PyAV
            pass
        tb = stream.time_base or Fraction(1, 1000)
        duration = None
        if stream.duration:
            duration = float(stream.duration * tb)
        elif container.duration:
            duration = container.duration / 1_000_000
        rate = float(stream.average_rate or stream.guessed_rate or 25)
        frames: list[np.ndarray] = []
        if not duration or duration * rate <= count * 2 or duration <= SEEK_GAP_S * count:
            # short clip: one forward pass, keep the frame nearest each evenly spaced time
            start = float(stream.start_time * tb) if stream.start_time is not None else 0.0
            span = duration if duration else None
            got: list[tuple[float, np.ndarray]] = []
            k = 0
            for frame in container.decode(stream):
                t = float(frame.pts * tb) if frame.pts is not None else start + len(got) / rate
                if span is None:
                    got.append((t, frame.to_ndarray(format="rgb24")))
                    if len(got) >= 4 * count:
                        break
                    continue
                target = start + span * (k + 0.5) / count
                if t >= target - 0.5 / rate:
                    frames.append(frame.to_ndarray(format="rgb24"))
                    k += 1
                    if k >= count:
                        break
            if span is None:
                idx = np.linspace(0, len(got) - 1, min(count, len(got))).round().astype(int) if got else []
                frames = [got[i][1] for i in idx]
        else:
            # forward pass; seek only when the next sample is more than SEEK_GAP_S ahead (a seek may
            # land on an earlier keyframe in long-GOP files: decoding then just goes forward again)
            start = float(stream.start_time * tb) if stream.start_time is not None else 0.0
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
    except av.error.FFmpegError as exc:
        raise MediaDecodeError(f"{p.name}: corrupt video: {exc}") from exc
    finally:
        container.close()


def load_frames(path: str | Path, count: int = DETECT_FRAMES) -> tuple[str, list[np.ndarray]]:
    """("image" | "video", frames) for a file; clear errors for missing, empty or corrupt files."""
    p = _exists(path)
    if p.suffix.lower() not in _VIDEO_SUFFIXES or p.suffix.lower() == ".gif":
        img = _read_image(p)
        if img is not None:
            return "image", [img]
    return "video", sample_video_frames(p, count)


@dataclass(frozen=True)
class DetectionReport:
    """What ``detect`` saw: the result (None: no watermark) and how much was decoded."""

    result: WatermarkResult | None
    kind: str
    frames_decoded: int

    def to_json(self) -> dict[str, Any]:
        if self.result is not None:
            return self.result.to_json()
        return {"id": None, "confidence": 0.0, "frames_agreeing": 0, "frames_decoded": self.frames_decoded}


def detect_report(path: str | Path, *, frames: int = DETECT_FRAMES, max_frames: int = MAX_DETECT_FRAMES) -> DetectionReport:
    """Sample ``max_frames`` frames evenly, read ``frames`` of them (spread over the clip) and all of
    them only when those look marked but fail the check (see ``_core.decide``)."""
    kind, imgs = load_frames(path, max(frames, max_frames))
    imgs = [imgs[i] for i in spread_order(len(imgs))]
    result = detect_frames(imgs, first=frames)
    used = result.frames_decoded if result is not None else min(frames, len(imgs))
    return DetectionReport(result, kind, used)


def detect(path: str | Path) -> WatermarkResult | None:
    """Read the watermark of an image or video file; None when it carries none."""
    return detect_report(path).result


def reads_back(path: str | Path, wm_id: int) -> bool:
    """Whether ``path`` (a still or a clip) reads as carrying ``wm_id``."""
    found = detect(path)
    return found is not None and found.id == wm_id


def embed_image_file(src: str | Path, dst: str | Path, wm_id: int | None = None, *,
                     draw_id: Callable[[], int] | None = None, tries: int = STILL_ID_TRIES) -> int:
    """Mark an image file and return the id it carries; the format follows ``dst``'s suffix (PNG
    recommended; JPEG at quality 95).

    A given ``wm_id`` is written as is. Without one, ids come from ``draw_id`` (default: random) and the
    file written is read back before it takes ``dst``'s place: on fine regular textures a few ids keep one
    bit confidently wrong (about 2 in 8 on a 640x480 brick wall), and that file would carry no readable
    mark at all, so another id is drawn, up to ``tries`` ids. When none reads back: WatermarkError
    ``watermark_unreadable``, and ``dst`` is left as it was.
    """
    p = _exists(src)
    img = _read_image(p)
    if img is None:
        raise UnsupportedMedia(f"{p.name}: not an image")
    dst = Path(dst)
    if wm_id is not None:
        _write_image(embed_image(img, wm_id), dst)
        return int(wm_id)
    draw = draw_id or new_watermark_id
    tmp = dst.with_name(f".{dst.stem}.wm-{secrets.token_hex(4)}{dst.suffix}")
    tried = []
    try:
        for _ in range(max(1, tries)):
            wm_id = int(draw())
            tried.append(wm_id)
            _write_image(embed_image(img, wm_id), tmp)
            if reads_back(tmp, wm_id):
                tmp.replace(dst)
                return wm_id
    finally:
        tmp.unlink(missing_ok=True)
    raise WatermarkError(f"{p.name}: no readable mark after {len(tried)} id(s) "
                         f"({', '.join(hex(i) for i in tried)}); fine regular textures can hold a bit wrong for some ids",
                         code="watermark_unreadable")


def _write_image(marked: np.ndarray, dst: Path) -> None:
    from PIL import Image

    try:
        Image.fromarray(marked).save(dst, quality=95) if dst.suffix.lower() in (".jpg", ".jpeg") \
            else Image.fromarray(marked).save(dst)
    except (ValueError, OSError) as exc:
        raise WatermarkError(f"cannot write {dst.name}: {exc}", code="write_failed") from exc


def embed_video(src: str | Path, dst: str | Path, wm_id: int, *, crf: int = 18, preset: str = "veryfast",
                reuse: bool = True, refine: int | None = None) -> dict[str, int]:
    """Decode ``src``, mark every frame, re-encode H.264 (yuv420p) to ``dst``; audio is copied as is.

    Returns counts: ``frames`` written, ``encoded`` (key frames: encoder runs), ``refined`` (key frames
    fitted to the decoder) and ``reused`` (frames that reused a key frame's residual; ``reuse=False``
    runs the encoder on every frame).
    ``refine``: gradient steps on every key frame (see :class:`FrameMarker`; by default
    DEEPSENTRY_WM_REFINE's if set, else 4, on the CPU within a budget).
    """
    import av

    p = _exists(src)
    dst = Path(dst)
    container = _open_video(p)
    out = None
    ok = False
    try:
        vin = container.streams.video[0]
        vin.thread_count = _riva._threads()
        vin.thread_type = "SLICE" if vin.thread_count == 1 else "AUTO"
        ain = container.streams.audio[0] if container.streams.audio else None
        rate = vin.average_rate or vin.guessed_rate or Fraction(25)
        width, height = vin.codec_context.width, vin.codec_context.height
        width, height = width - width % 2, height - height % 2
        marker = FrameMarker(wm_id, width, height, reuse=reuse, polarity=True, refine=refine)
        out = av.open(str(dst), "w")
        vout = out.add_stream("libx264", rate=rate)
        vout.width, vout.height = width, height
        vout.pix_fmt = "yuv420p"
        vout.options = {"crf": str(int(crf)), "preset": preset, "threads": str(_riva._threads())}
        aout = out.add_stream_from_template(ain) if ain is not None else None
        streams = [vin] + ([ain] if ain is not None else [])
        count = 0
        for packet in container.demux(*streams):
            if packet.stream.type == "audio":
                if packet.dts is None:
                    continue
                packet.stream = aout
                out.mux(packet)
                continue
            for frame in packet.decode():
                rgb = frame.to_ndarray(format="rgb24")[:height, :width]
                new = av.VideoFrame.from_ndarray(marker.mark(np.ascontiguousarray(rgb)), format="rgb24")
                new.pts, new.time_base = frame.pts, frame.time_base
                out.mux(vout.encode(new))
                count += 1
        out.mux(vout.encode())
        if count == 0:
            raise MediaDecodeError(f"{p.name}: no decodable video frames")
        ok = True
        return dict(marker.stats, frames=count)
    except av.error.FFmpegError as exc:
        raise MediaDecodeError(f"{p.name}: cannot re-encode: {exc}") from exc
    finally:
        container.close()
        if out is not None:
            try:
                out.close()
            except av.error.FFmpegError:
                ok = False
        if not ok:
            dst.unlink(missing_ok=True)

"""Files: stills and sampled video frames in (through ``deepsentry.media.open``), marked images and
re-encoded video out (PIL, and ``media.H264Writer`` for video)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from deepsentry import media
from deepsentry.errors import MediaDecodeError, WatermarkError
from deepsentry.watermark import _riva
from deepsentry.watermark._core import (FrameMarker, WatermarkResult, detect_frames, embed_image, new_watermark_id,
                                        spread_order)

DETECT_FRAMES = 8            # frames read across a clip for detection ...
MAX_DETECT_FRAMES = 16       # ... and how many are sampled, for clips whose first 8 look marked but fail
STILL_ID_TRIES = 4           # ids drawn for a still until one reads back from the file written


def load_frames(path: str | Path, count: int = DETECT_FRAMES) -> tuple[str, list[np.ndarray]]:
    """("image" | "video", frames) for a file, read through ``deepsentry.media.open`` (type from the
    bytes, limits from the headers): a still's pixels, or up to ``count`` frames spread over a clip."""
    mf = media.open(path)
    return mf.kind, mf.spread(count, threads=_riva._threads())


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
    p = Path(src)
    img = media.open(p).image()
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
    p = Path(src)
    dst = Path(dst)
    mf = media.open(p)
    writer = None
    ok = False
    try:
        with mf.transcode_items(threads=_riva._threads()) as (vin, ain, items):
            rate = vin.average_rate or vin.guessed_rate or Fraction(25)
            width, height = vin.codec_context.width, vin.codec_context.height
            width, height = width - width % 2, height - height % 2
            marker = FrameMarker(wm_id, width, height, reuse=reuse, polarity=True, refine=refine)
            writer = media.H264Writer(dst, width, height, rate, crf=crf, preset=preset, threads=_riva._threads(),
                                      audio_template=ain)
            for kind, item in items:
                if kind == "audio":
                    writer.mux_audio(item)
                    continue
                rgb = item.to_ndarray(format="rgb24")[:height, :width]
                writer.write(marker.mark(np.ascontiguousarray(rgb)), pts=item.pts, time_base=item.time_base)
            writer.flush_video()
        if writer.frames == 0:
            raise MediaDecodeError(f"{p.name}: no decodable video frames")
        ok = True
        return dict(marker.stats, frames=writer.frames)
    finally:
        if writer is not None:
            try:
                writer.close()
            except Exception:  # noqa: BLE001 - an unfinished file is removed below
                ok = False
        if not ok:
            dst.unlink(missing_ok=True)

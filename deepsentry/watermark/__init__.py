"""Invisible watermark for generated images and video (RivaGAN from ``invisible-watermark``).

A 32-bit id and a keyed check word are written into every frame at a fixed cost of 38.4 dB PSNR, on a
canonical copy whose short side is 160 px, so the mark survives re-encoding, rescaling, brightness and
noise. ``embed_image`` / ``embed_image_file`` / ``embed_video`` write it; ``detect`` / ``detect_report``
read it by a vote over sampled frames and accept an id only when its check word agrees, so a false match
on unmarked media is bounded (at most 3.7e-4 per file). ``WatermarkResult.confidence`` is one minus that
bound for the checks actually run. ``release_caches`` drops the decoder's cached spectra (~480 MB) when
the process goes idle.

Why it is built this way (NumPy RivaGAN, the payload's list decoder, polarity segments, the geometric
hypotheses, the refinement against the decoder) and its known limits: ``docs/WATERMARK.md``.
"""

from deepsentry.watermark._core import (
    CANONICAL_SHORT,
    FrameMarker,
    WatermarkResult,
    detect_frames,
    embed_image,
    new_watermark_id,
    psnr,
    read_scores,
)
from deepsentry.watermark._io import (
    DetectionReport,
    detect,
    detect_report,
    embed_image_file,
    embed_video,
    load_frames,
)
from deepsentry.watermark._payload import WATERMARK_BITS
from deepsentry.watermark._riva import _threads as worker_threads
from deepsentry.watermark._riva import release_spectra as release_caches

__all__ = [
    "CANONICAL_SHORT",
    "DetectionReport",
    "FrameMarker",
    "WATERMARK_BITS",
    "WatermarkResult",
    "detect",
    "detect_frames",
    "detect_report",
    "embed_image",
    "embed_image_file",
    "embed_video",
    "load_frames",
    "new_watermark_id",
    "psnr",
    "read_scores",
    "release_caches",
    "worker_threads",
]

"""Invisible watermark for generated images and video (RivaGAN from ``invisible-watermark``).

Design (numbers measured on this 2-core shared machine; the table is in ``bench/watermark_robustness.py``'s
output and the closing note of issue 5)
---------------------------------------------------------------------------------------------------
*Where the mark lives.* RivaGAN is a learned encoder/decoder pair carrying 32 bits, robust to
compression, brightness and noise, but slow on CPU (2.6 s per 720p frame at full resolution). We run it
on a *canonical copy* of each frame whose short side is 160 px and add the encoder's residual, upscaled
(bilinear), to the full-resolution frame, with a gain that keeps the residual within a 38.5 dB PSNR
budget (marked frames measure ~39 dB). The mark is a low-frequency pattern tied to the frame's geometry,
not its pixel count: a downscale or re-encode is undone by resizing to the same canonical size, and
the reader costs the same for 4K as for 360p.

*Payload: id + check code in every frame.* A 32-bit id leaves no room for a check code in one RivaGAN
word, and the decoder's raw scores on unmarked content are often as large as on marked content
(measured: mean |score| 0.4-8.7 on unmarked photos and scenes), so "soft confidence" alone cannot tell
"no watermark" from "watermark". Each frame therefore carries two words: the left half of the canonical
copy carries A = id XOR a fixed whitening mask, the right half B = P(id), P a keyed 4-round Feistel
permutation of 32-bit ints. The reader decodes each half; a list decoder tries the hard word of each
side with any subset of its 4 least reliable bits flipped (2 x 16 candidates) and accepts the candidate
whose *other* word is within 3 bits. On unmarked media the other word is a fixed pseudo-random function
of the candidate, so a false match has probability at most 32 x sum_{k<=3} C(32,k) / 2^32 = 4.1e-5 per
vote checked, whatever the decoder does on unmarked content; a file is checked at most 16 times
(4 votes x 4 geometric hypotheses), so <= 6.6e-4 per file. ``WatermarkResult.confidence`` is one minus
that bound for the distance observed and the checks actually run. Every frame is self-contained, so a
still taken from a clip still reads.

*Video: polarity segments cancel the decoder's content bias.* Most bit errors are not noise but a bias
of the decoder on the content (the same bits go wrong in every frame of a static scene, so plain voting
cannot fix them). Video frames are marked in 5-frame segments whose polarity (both words as is, or
both inverted) follows a keyed pseudo-random sequence. The reader samples 5 frames spread over the clip,
clips each frame's scores to +-8, and checks, in order: the plain sum, its inverse, and the
bias-cancelled vote - scores minus their mean over frames, each frame signed by its projection on the
first principal direction - and its inverse. On the test clip this took the vote from 2 (CRF 18) / 8
(CRF 28) wrong bits to 0 / 1. ``frames_agreeing`` counts frames whose own 64 bits agree with the result
(either polarity) in >= 58 bits. Every frame is marked (the residual depends on content: reused on a
frame shifted 4 px at 720p it still reads, at 20 px it does not); ``FrameMarker(reuse=True)`` reuses it,
motion-compensated, on near-static frames only.

*Geometry.* The reader tries, in order: as is; centre crop to 80 % (read at 0.8x canonical scale);
horizontal flip (flip back); crop to 60 %. Each reads all sampled frames (5); with only 2 of them,
crop 80 % + CRF 28 failed where 5 frames read it.
Off-centre crops move the A/B split and are not handled.

*Still images* are marked adaptively: after the first pass the mark is read back on the canonical copy
and up to three more encoder passes are mixed into a half whose weakest bit scores below 4, within the
same PSNR budget.

*Limits (see the table):* content without texture (flat synthetic gradients) takes the mark poorly;
embedding costs one RivaGAN encoder pass per frame (~0.2-0.6 s per frame here under load, far from the
100 ms target); downscales below ~200 px short side lose it.
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
]

"""Invisible watermark for generated images and video (RivaGAN from ``invisible-watermark``).

Design (numbers measured on this 2-core machine, one thread, while a training job shared it; the table
is in ``bench/watermark_robustness.py``'s output, ``runs/watermark_bench.txt`` and README.md)
---------------------------------------------------------------------------------------------------
*The networks.* RivaGAN is a learned encoder/decoder pair carrying 32 bits, robust to compression,
brightness and noise. Every layer is an 11x11 convolution, which onnxruntime runs through im2col
(~240 ms encoder / ~320 ms decoder per 160-px frame on one core). ``_riva`` reads the weights out of
the wheel's ONNX files and runs the same networks in NumPy with FFT convolutions: ~90 ms / ~120 ms,
same outputs to float32 rounding (a test compares them with onnxruntime).

*Where the mark lives.* The networks run on a *canonical copy* of each frame whose short side is
160 px; the encoder's residual (a near-binary +-2 grey-level pattern, mostly in chroma) is upscaled
(bilinear) and added to the full-resolution frame with a gain that makes the rounded result cost
38.4 dB PSNR; a fixed uniform dither before rounding makes that cost continuous in the gain (without
it the pattern rounds to +-3 or +-4 grey levels: 39.2 or 36.7 dB, nothing between). The mark is tied
to the frame's geometry, not its pixel count: a downscale or re-encode is undone by resizing to the
same canonical size, and the reader costs the same for 4K as for 360p. (A refined residual, below, is
no longer near-binary: same energy, but single pixels reach about +-13 grey levels.)

*Payload: id + check in every frame.* Each frame carries two words: the left half of the canonical
copy A = id XOR a fixed whitening mask, the right half B = P(id), P a keyed 4-round Feistel
permutation of 32-bit ints. The decoder's raw scores on unmarked content are often as large as on
marked content, so soft confidence alone cannot tell "no watermark" from "watermark"; the check
can. A list decoder runs on the 64 soft votes (``_payload``, the *cost list*): a set of bits costs
the sum of their |vote|, and an id is accepted when the bits its two words disagree with are the
cheapest such set and among the 2^16 cheapest of all 2^64 sets (many weak errors or a few middling
ones; the count is kept by dynamic programming over the votes). On unmarked media a false match has
probability at most 2^16/2^32 = 1.5e-5 per vote checked, whatever the decoder does on unmarked
content; a file is normally checked at most 24 times (6 votes x 4 geometric hypotheses), so
<= 3.7e-4 per file (a read that looks marked but fails is checked again on
more frames: more tests, counted). ``WatermarkResult.confidence`` is one minus that bound for the
checks actually run. Every frame is self-contained, so a still taken from a clip still reads.

*Video: polarity segments cancel the decoder's content bias; the residual is reused per segment.*
Most bit errors are not noise but a bias of the decoder on the content (the same bits go wrong in
every frame of a static scene, so plain voting cannot fix them). Video frames are marked in 5-frame
segments whose polarity (both words as is, or both inverted) follows a keyed pseudo-random sequence.
The reader samples 16 reference frames (FFmpeg ``skip_frame=NONREF``: half the decoding) spread over
the clip and reads 8 of them (every other one); only when those fail the check but still "look
marked" (an id fits outside the 24 least reliable bits: probability <= 2^-8 per vote on unmarked
media) does it read all 16 (measured on 10 clips: CRF 35 recovery 80 % -> 100 %, 76 of 80 reads
stopped at 8). It clips each frame's scores to +-8, and checks, in order: the plain sum, its inverse, and two
bias-cancelled votes - scores minus their mean over frames, each frame signed by its projection on the
first principal direction, then weighted by it - and their inverses. H.264 codes a polarity switch of a
static picture over several frames, and frames caught mid-way carry little mark: weighted, they count
less (CRF 28 + 0.5x on 40 bench clips, fixed ids: 40/40 from 8 frames, was 39/40; decisions from 2, 3, 4
or 6 random frames of 16 succeed 2494/4000 times, was 2351). ``frames_agreeing`` counts frames whose own 64 bits agree
with the result (either polarity) in >= 58 bits. The encoder runs once per segment at most
(``FrameMarker(reuse=True)``): the key frame's residual is moved with the global motion (phase
correlation of the canonical copies) for the segment's other frames, and recomputed at a cut. A
temporally stable mark also survives H.264 better than one recomputed every frame (measured, per frame
bit accuracy after CRF 35: 0.65 -> 0.69 on a static-background clip). Under the CPU's refinement
budget (below) each polarity's key residual is instead *held* across segments until a cut or large
motion, so that two refined residuals can serve a whole static-background clip.

*Geometry.* The reader tries, in order: as is; centre crop to 80 % (read at 0.8x canonical scale);
horizontal flip (flip back); crop to 60 %. The plain hypothesis reads all sampled frames; the others
read 5 first and go on (to 8, or 16 when they look marked) only if those pass or look marked. Off-centre crops move the A/B split and are not handled.
Each hypothesis runs the decoder at its own FFT size (the crop copies are smaller, and the cost is
mostly streaming the cached weight spectra, so they read about twice as fast as padded to the plain
size; the cache holds the three sizes' spectra: ~480 MB, against ~245 MB for one), and the frames of
a probe are read in parallel (DEEPSENTRY_WM_THREADS, default the CPU count up to 4): a 10 s 720p clip
reads in 0.85 s marked / 1.64 s unmarked on this idle 2-core machine (1.74 / 2.90 s on one thread).

*Refinement: the residual fitted to the decoder* (``_refine``). The encoder writes the id in one pass
without checking how the decoder reads it, so on some content a few bits read wrong even untouched
(flat scenes, fine regular textures) and more encoder passes do not fix that. The residual, scaled to
the PSNR budget, is moved by normalised gradient steps through a torch copy of the decoder (same
weights; ``_riva.torch_decoder``) that raise every bit's margin to 6 on the canonical copy as it is,
blurred and noisy like a lossy re-encode, centre-cropped to 80 % and darkened by 20 grey levels; stills
with wide highlights also brightened by 20 (video key frames: to 15 in larger steps, adding a
0.5x-downscaled, strongly re-encoded view; ``_refine``). The
L2 norm is kept and ``_apply`` re-fits the gain to the PSNR target, so the cost stays 38.4 dB. *Still
images* always get up to 8 steps (3.5-5.1 s for a 720p image on this idle CPU), up to 24 while a bit
of the untouched copy stays under half the margin (fine regular textures), and keep the one-pass mark
in the rare case it reads better on the image actually written. Some ids still keep a bit confidently
wrong on fine regular textures (2 of 8 random ids on a 640x480 brick wall, after 24 steps), so a still
marked without a given id (``embed_image_file``, which ``seal`` and ``deepsentry watermark embed`` use)
is read back from the file written and gets another id, up to 4, when it does not read. Video key
frames get 4 steps by default: on a GPU every key frame (not measured: no GPU was lent to this project when it was written);
on the CPU, where 4 steps cost ~4.3 s per key frame, within a budget - the first key frame of each
polarity and one more per 90 frames, each polarity's residual held across segments (``FrameMarker``),
the other key frames one-pass. ``DEEPSENTRY_WM_REFINE`` / ``embed_video(refine=)`` / ``deepsentry
watermark embed --refine`` set the steps for every key frame (0: the one-pass mark).

*Limits (see the table):* one-pass marks on content without texture (flat synthetic gradients) lose
the mark under strong compression; with the CPU default, 40 bench clips recover their id after every
single attack and every two-attack combination (2026-11-29: CRF 28 + 0.5x 40/40, the hardest; it
missed 1-4 clips per run before the weighted vote and the margin-15 key frames); downscales to ~135 px
short side (0.25x) lose it on about 4 clips in 10, crops to 60 % on about 1 in 4, refined or not.
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
]

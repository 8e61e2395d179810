"""Refining the encoder's residual by gradient steps through the decoder.

RivaGAN's encoder writes the id in one pass, without looking at how its own decoder will read the
result: on some content (flat scenes, fine regular textures) a few bits read wrong even untouched,
and those errors are not noise, so more frames or more encoder passes do not fix them. Here the
residual, kept at its PSNR budget (its L2 norm on the canonical copy), is moved by normalised
gradient steps that raise every bit's decoder margin on the canonical copy as it is and as the web
changes it (:func:`views`): blurred and noisy like a lossy re-encode, centre-cropped to 80 %,
darkened by 20 grey levels, and, on stills with wide highlights (>= 5 % of the pixels within 20 grey
levels of white in some channel), brightened by 20 (the mark is lost wherever a channel clips; a
general brightened view lowered the weakest margin on flat scenes). On 6 synthetic scenes with
near-white discs, brightness +20 read 0/6 without that view and 6/6 with it (same for +20 then JPEG
50). A still also goes on past its 8 steps (up to 24) while a bit of the untouched copy stays under
half the margin: a brick wall at 720x1280 kept 9 of 64 bits wrong with one id after 8 steps, none
after 16. ``bench/watermark_robustness.py`` (50 stills, 2026-11-28): exact-id recovery on photos went
from 78-93 % to 100 % for every attack but the 60 % crop (47 -> 67 %) and brightness + JPEG (96 %);
flat synthetic scenes from 0 % to 80-100 %.

Video key frames (``video=True``), whose residual serves many frames, also aim for a higher margin
(see below) and add a *scaled* view, a 0.5x downscale followed by a strong H.264 re-encode as it
looks on the canonical copy (luma at 0.6 of its resolution, chroma at 0.3, noise). On the six clips that
failed a lossy two-attack combination under the CPU default (2026-11-29, one run each), recovered / 6:
CRF 35 5 -> 6, CRF 28 + 0.5x 3 -> 5, brightness + CRF 35 4 -> 6, noise + 0.5x 6 -> 6; voted bit accuracy
after CRF 28 + 0.5x 0.891 -> 0.956; refinement ~20 % slower (10 decoder inputs per step instead of 8).
Video key frames also take larger steps (0.25 of the norm instead of 0.15) toward margin 15: with four
steps most bits stay under it, so every bit keeps pulling instead of only the weakest. On 5 hard clips x 2 ids x 5
lossy attacks (CRF 35, CRF 28 + 0.5x, crop 80 %, crop 80 % + CRF 28, brightness + CRF 35; 2026-11-29),
decisions from 1-3 random frames of 16 succeeded 511/1500 times at margin 9, step 0.15 (single-frame
bit accuracy 0.771); at step 0.25, margin 9 / 12 / 15 / 20: 543 / 610 / 635 (0.794) / 637; eight steps
at margin 9 (twice the time): 578. A step costs the same, but a key frame now rarely stops early
(every margin met): 85.8 against 81.3 ms per frame on the bench's 10 s 720p talking head.
"""

from __future__ import annotations


import numpy as np

from deepsentry.errors import WatermarkError

STEPS = 8            # gradient steps for a still image ...
STILL_LIMIT = 3      # ... and up to this many times as many while a bit of the untouched copy stays under MARGIN / 2
VIDEO_STEPS = 4      # ... for each video key frame (see video_policy)
CPU_EVERY = 90       # on the CPU, beyond the first key frame of each polarity, one refined key frame per this many frames
STEP = 0.15          # each step moves the residual by this fraction of its norm (stills)
VIDEO_STEP = 0.25    # ... on video key frames (fewer steps)
MARGIN = 6.0         # decoder score (times the bit's sign) each bit should reach in every view (stills)
VIDEO_MARGIN = 15.0  # ... on video key frames, whose residual serves many frames
CROP = 0.8           # the crop view (the reader's second geometric hypothesis)
DARKER = 20.0        # grey levels taken off in the brightness view
BRIGHTER = 20.0      # grey levels added in the brightened view (stills with highlights, see views)
HIGHLIGHTS = 0.05    # ... added when at least this share of the canonical pixels has a channel within BRIGHTER of white
NOISE = 3.0          # sigma of the noise added to the lossy view
# video key frames add a "scaled" view: a 0.5x downscale then a strong H.264 re-encode, as seen on the
# canonical copy: luma kept at SCALED_LUMA of its resolution, chroma at SCALED_CHROMA, plus noise
SCALED_LUMA = 0.6
SCALED_CHROMA = 0.3
SCALED_NOISE = 4.0


def device() -> str:
    """Where the steps run: the first CUDA device when torch sees one, else the CPU."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def video_policy() -> tuple[int, int]:
    """(steps per video key frame, CPU_EVERY or 0) by default: ``DEEPSENTRY_WM_REFINE`` steps on every
    key frame if set; else VIDEO_STEPS on every key frame on a GPU, and on the CPU VIDEO_STEPS within a
    budget: the first key frame of each polarity, then at most one more per CPU_EVERY frames on average
    (4 steps on a video key frame cost ~4.3 s at any frame size on this 2-core CPU; on a static
    background the two refined residuals serve the whole clip, see ``FrameMarker``)."""
    from deepsentry.settings import load_settings

    env = (load_settings().wm_refine or "").strip()
    if env:
        try:
            steps = int(env)
        except ValueError:
            steps = -1
        if steps < 0:
            raise WatermarkError(f"DEEPSENTRY_WM_REFINE must be a number of steps (0, 1, 2, ...), got {env!r}",
                                 code="bad_setting")
        return steps, 0
    try:
        return VIDEO_STEPS, (0 if device() != "cpu" else CPU_EVERY)
    except ImportError:  # pragma: no cover - torch is a dependency
        return 0, 0


def _halves(x):
    """(3, H, W) in 0..255 -> (2, 3, H, W/2) decoder input in [-1, 1] (the two words' halves)."""
    import torch

    half = x.shape[2] // 2
    return torch.stack([x[:, :, :half], x[:, :, half:2 * half]]) * (1.0 / 127.5) - 1.0


def _down_up(x, scale: float):
    """``x`` (C, H, W) resized to ``scale`` of its size (antialiased) and back."""
    import torch.nn.functional as F

    h, w = x.shape[1:]
    small = F.interpolate(x[None], size=(max(8, int(h * scale)), max(8, int(w * scale))), mode="bilinear",
                          align_corners=False, antialias=True)
    return F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)[0]


def has_highlights(x) -> bool:
    """Whether brightening ``x`` (3, H, W, grey levels) by BRIGHTER would clip a HIGHLIGHTS share of it."""
    return float((x.amax(0) >= 255.0 - BRIGHTER).float().mean()) >= HIGHLIGHTS


def views(x, generator, scaled: bool = False, brightened: bool = False):
    """What the reader may see of the canonical copy ``x`` (3, H, W): a list of decoder batches;
    ``scaled`` adds the downscaled-and-re-encoded view (video key frames), ``brightened`` a copy
    BRIGHTER grey levels lighter, where the mark is lost wherever a channel clips at white."""
    import torch
    import torch.nn.functional as F

    blur = F.avg_pool2d(F.pad(x[None], (1, 1, 1, 1), mode="replicate"), 3, stride=1)[0]
    # lossy: chroma detail gone, half the luma detail left, quantisation-like noise
    noise = torch.randn(x.shape, generator=generator).to(x.device)
    lossy = blur + (x - blur).mean(0, keepdim=True) * 0.5 + noise * NOISE
    h, w = x.shape[1:]
    ch, cw = int(h * CROP), int(w * CROP) // 2 * 2
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    same = [_halves(x), _halves(lossy), _halves((x - DARKER).clamp(0.0, 255.0))]
    if brightened:
        same.append(_halves((x + BRIGHTER).clamp(0.0, 255.0)))
    if scaled:
        luma = x.mean(0, keepdim=True)
        noise = torch.randn(x.shape, generator=generator).to(x.device)
        same.append(_halves(_down_up(luma, SCALED_LUMA) + _down_up(x - luma, SCALED_CHROMA) + noise * SCALED_NOISE))
    return [torch.cat(same), _halves(x[:, y0:y0 + ch, x0:x0 + cw])]


def refine(small: np.ndarray, residual: np.ndarray, signs: np.ndarray, steps: int = STEPS, *,
           video: bool = False) -> np.ndarray:
    """``residual`` (H x W x 3, grey levels, at its intended gain) moved by up to ``steps`` gradient
    steps so that the decoder reads ``signs`` (2 x 32, +-1: the two words) from ``small + residual``
    with margin (MARGIN; ``video``: VIDEO_MARGIN, and the scaled view, see :func:`views`) in every view;
    the L2 norm is kept. Stops early when every margin is met; a still goes on past ``steps`` (up to
    STILL_LIMIT times as many) while a bit of the untouched copy is under half its margin."""
    if steps <= 0:
        return residual
    import torch

    # autograd on whatever the caller's mode (the decoder's weights are built under the same guard)
    with torch.inference_mode(False), torch.enable_grad():
        return _steps(small, residual, signs, steps, video)


def _steps(small: np.ndarray, residual: np.ndarray, signs: np.ndarray, steps: int, video: bool) -> np.ndarray:
    import torch

    from deepsentry.watermark._riva import torch_decoder

    dev = device()
    decode = torch_decoder(dev)
    x0 = torch.from_numpy(np.ascontiguousarray(small.transpose(2, 0, 1), dtype=np.float32)).to(dev)
    r = torch.from_numpy(np.ascontiguousarray(residual.transpose(2, 0, 1), dtype=np.float32)).to(dev)
    norm = float(r.norm())
    if norm == 0.0:
        return residual
    target = torch.from_numpy(np.asarray(signs, np.float32)).to(dev)
    gen = torch.Generator().manual_seed(0)
    margin, step = (VIDEO_MARGIN, VIDEO_STEP) if video else (MARGIN, STEP)
    # stills with wide highlights: a brightened copy loses the mark's positive half there
    brightened = not video and has_highlights(x0)
    # a still goes on past ``steps`` (up to STILL_LIMIT times as many) while the untouched copy has a
    # bit under half the margin: fine regular textures (a brick wall) can need twice the steps
    limit = steps if video else steps * STILL_LIMIT
    for k in range(limit):
        r.requires_grad_(True)
        loss = 0.0
        untouched = None
        for batch in views(x0 + r, gen, scaled=video, brightened=brightened):
            margins = decode(batch) * target.repeat(batch.shape[0] // 2, 1)
            untouched = margins[:2] if untouched is None else untouched
            loss = loss + torch.relu(margin - margins).sum()
        if float(loss.detach()) == 0.0 or (k >= steps and float(untouched.detach().min()) >= margin / 2):
            break
        (grad,) = torch.autograd.grad(loss, r)
        with torch.no_grad():
            r = r - (step * norm) * grad / (grad.norm() + 1e-12)
            r = r * (norm / float(r.norm()))
    return r.detach().cpu().numpy().transpose(1, 2, 0).copy()

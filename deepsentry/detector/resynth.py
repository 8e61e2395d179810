"""Self-resynthesised fakes: a real face re-rendered through a generator-like upsampling stage.

Generators that make a face whole (GANs, most diffusion decoders) build their output from a low-resolution
grid with learned stride-2 upsampling (transposed convolutions, or nearest-neighbour steps followed by
convolutions). Each of the four output phases of such a step is computed with different taps, so the
output carries a period-2 pattern in its fine detail and peaks in its spectrum at the grid's frequencies,
whatever the generator was trained to draw. Zhang, Karaman and Chang (2019, "Detecting and simulating
artifacts in GAN fake images") showed that a detector trained on real images against real images passed
through such an upsampler finds GAN images it has never seen; Tan et al. (CVPR 2024, "Rethinking the
up-sampling operations in CNN-based generative networks") made the same point with neighbouring-pixel
relations. As with self-blended images for swaps, the fake's content is its own real original, so the only
thing that separates the pair is the rendering, not the identity, pose or quality of the face.

:func:`resynthesise` makes such a fake from one real crop: area-downscale by 2 or 4, then one or two
stride-2 upsampling steps with a random 4x4 kernel per colour channel (a zero-inserting transposed
convolution), and a resize back to the crop's size. The kernel starts from the bilinear one and is
perturbed; each phase is renormalised to a unit gain (a trained generator hides the flat checkerboard but
not the phase differences in edges and texture), sometimes leaving a gain error of a percent or so. Half
the fakes are then sharpened (unsharp mask), as generated faces are crisp: what a generator loses is the
detail between its grid's pixels, not sharpness, so softness alone must not mark a fake.
"""

from __future__ import annotations

import cv2
import numpy as np

_BILINEAR = np.outer([1.0, 3.0, 3.0, 1.0], [1.0, 3.0, 3.0, 1.0]) / 16.0   # each phase's 4 taps sum to 1


def upsample_kernel(rng: np.random.Generator, irregularity: float, phase_gain_error: float) -> np.ndarray:
    """A 4x4 transposed-convolution kernel: the bilinear one with each tap perturbed by ``irregularity``
    times its mean (taps kept positive), then each of the four phases' taps rescaled to a unit gain, so
    a flat image stays flat, and off it by a random ``phase_gain_error`` (a faint flat checkerboard)."""
    k = _BILINEAR + rng.normal(0.0, irregularity * _BILINEAR.mean(), (4, 4))
    k = np.maximum(k, 0.002)
    for py in (0, 1):
        for px in (0, 1):
            k[py::2, px::2] *= (1.0 + rng.normal(0.0, phase_gain_error)) / k[py::2, px::2].sum()
    return k.astype(np.float32)


def upsample2(img: np.ndarray, kernels: list[np.ndarray]) -> np.ndarray:
    """Stride-2 transposed convolution of ``img`` (H, W, C float32) with one 4x4 kernel per channel:
    zeros inserted between pixels, then each channel filtered; the result is (2H, 2W, C), aligned so
    that the bilinear kernel gives exactly ``cv2.resize(..., INTER_LINEAR)``. The image is padded by
    one edge pixel first, so the border rows get their phase's taps like every other row."""
    h, w, c = img.shape
    padded = cv2.copyMakeBorder(img, 1, 1, 1, 1, cv2.BORDER_REPLICATE)
    up = np.zeros((2 * h + 4, 2 * w + 4, c), np.float32)
    up[::2, ::2] = padded
    out = np.empty((2 * h, 2 * w, c), np.float32)
    for ch in range(c):
        out[:, :, ch] = cv2.filter2D(up[:, :, ch], -1, kernels[ch], anchor=(2, 2),
                                     borderType=cv2.BORDER_CONSTANT)[2:2 + 2 * h, 2:2 + 2 * w]
    return out


def draw_params(rng: np.random.Generator) -> dict:
    """One resynthesis: the downscale factor (2 or 4: one or two upsampling steps) and each step's
    per-channel kernels."""
    steps = 1 if rng.random() < 0.6 else 2
    irregularity = float(rng.uniform(0.15, 0.6))
    gain_error = 0.0 if rng.random() < 0.7 else float(rng.uniform(0.003, 0.015))
    same = rng.random() < 0.5                   # one kernel for all channels, or one each
    sharpen = float(rng.uniform(0.4, 1.5)) if rng.random() < 0.5 else 0.0
    kernels = []
    for _ in range(steps):
        k = upsample_kernel(rng, irregularity, gain_error)
        kernels.append([k, k, k] if same else [k] + [upsample_kernel(rng, irregularity, gain_error)
                                                     for _ in range(2)])
    return {"steps": steps, "kernels": kernels, "sharpen": sharpen}


def resynthesise(img: np.ndarray, rng: np.random.Generator, params: dict | None = None) -> tuple[np.ndarray, dict]:
    """``img`` (H, W, 3 uint8) re-rendered through a random upsampler (module docstring): returns the
    fake, the same size and dtype, and the parameters drawn (pass them back to render another frame of
    the same track alike)."""
    params = params or draw_params(rng)
    h, w = img.shape[:2]
    f = 2 ** params["steps"]
    x = cv2.resize(img, (max(4, w // f), max(4, h // f)), interpolation=cv2.INTER_AREA).astype(np.float32)
    for kernels in params["kernels"]:
        x = upsample2(x, kernels)
    if x.shape[:2] != (h, w):
        x = cv2.resize(x, (w, h), interpolation=cv2.INTER_LINEAR)
    if params["sharpen"]:
        x = x + params["sharpen"] * (x - cv2.GaussianBlur(x, (0, 0), 1.0))
    return np.clip(x + 0.5, 0, 255).astype(np.uint8), params

"""Training augmentations: what users' media actually go through, on RGB uint8 arrays (numpy + cv2).

``Degrade`` draws one set of photometric/compression parameters and applies them to every frame of a
track (a video is compressed as a whole); ``jitter`` moves the crop a little per frame (a face
detector's box is never perfectly stable).
"""

from __future__ import annotations

import cv2
import numpy as np


WINDOW_SCALE = (0.85, 1.0)       # training windows: this fraction of a crop's side, uniformly drawn
TRAIN_VIEW_SCALE = round(sum(WINDOW_SCALE) / 2, 4)   # their mean: the framing inference uses (cfg.view_scale)


def random_resized_square(img: np.ndarray, rng: np.random.Generator, scale=WINDOW_SCALE,
                          shift: float = 0.06) -> tuple[float, float, float]:
    """Random square sub-window (cx, cy, side) of an image, in pixels."""
    h, w = img.shape[:2]
    side = min(h, w) * rng.uniform(*scale)
    cx = w / 2 + rng.uniform(-shift, shift) * w
    cy = h / 2 + rng.uniform(-shift, shift) * h
    return cx, cy, side


def crop_window(img: np.ndarray, cx: float, cy: float, side: float, angle: float, out: int) -> np.ndarray:
    """Square window of ``img`` centred at (cx, cy) with ``side`` pixels, rotated by ``angle`` degrees,
    resampled to out x out (border replicated, like faces.crop_face)."""
    s = out / side
    M = cv2.getRotationMatrix2D((cx, cy), angle, s)
    M[0, 2] += out / 2 - cx
    M[1, 2] += out / 2 - cy
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    return cv2.warpAffine(img, M, (out, out), flags=interp, borderMode=cv2.BORDER_REPLICATE)


def jitter_windows(img: np.ndarray, n: int, rng: np.random.Generator, base=None) -> list[tuple]:
    """``n`` windows (cx, cy, side, angle) drifting like a face box over consecutive frames."""
    cx, cy, side = base if base is not None else random_resized_square(img, rng)
    angle = rng.uniform(-8, 8)
    out = []
    for _ in range(n):
        out.append((cx, cy, side, angle))
        cx += rng.normal(0, 0.012) * side
        cy += rng.normal(0, 0.012) * side
        side *= float(np.exp(rng.normal(0, 0.015)))
        angle += rng.normal(0, 0.8)
    return out


class Degrade:
    """One random draw of photometric + quality degradations, applied identically to a track's frames."""

    def __init__(self, rng: np.random.Generator, strength: float = 1.0):
        r = rng.random
        self.flip = r() < 0.5
        self.brightness = rng.uniform(-25, 25) * strength if r() < 0.6 else 0.0
        self.contrast = rng.uniform(0.75, 1.25) if r() < 0.6 else 1.0
        self.saturation = rng.uniform(0.7, 1.3) if r() < 0.5 else 1.0
        self.gamma = rng.uniform(0.8, 1.25) if r() < 0.3 else 1.0
        self.down = rng.uniform(0.35, 0.9) if r() < 0.35 * strength else 1.0
        self.blur = rng.uniform(0.4, 1.6) if r() < 0.2 * strength else 0.0
        self.noise = rng.uniform(2, 8) if r() < 0.2 * strength else 0.0
        self.jpeg = int(rng.integers(35, 96)) if r() < 0.6 * strength else 0
        self.rng = rng

    def __call__(self, img: np.ndarray) -> np.ndarray:
        out = img
        if self.flip:
            out = out[:, ::-1]
        if self.brightness or self.contrast != 1.0 or self.saturation != 1.0 or self.gamma != 1.0:
            f = out.astype(np.float32)
            if self.saturation != 1.0:
                g = f.mean(axis=2, keepdims=True)
                f = g + (f - g) * self.saturation
            f = (f - 128.0) * self.contrast + 128.0 + self.brightness
            if self.gamma != 1.0:
                f = 255.0 * (np.clip(f, 0, 255) / 255.0) ** self.gamma
            out = np.clip(f, 0, 255).astype(np.uint8)
        h, w = out.shape[:2]
        if self.down < 1.0:
            sw, sh = max(8, int(w * self.down)), max(8, int(h * self.down))
            out = cv2.resize(cv2.resize(out, (sw, sh), interpolation=cv2.INTER_AREA), (w, h),
                             interpolation=cv2.INTER_LINEAR)
        if self.blur:
            out = cv2.GaussianBlur(out, (0, 0), self.blur)
        if self.noise:
            n = self.rng.normal(0, self.noise, out.shape).astype(np.float32)
            out = np.clip(out.astype(np.float32) + n, 0, 255).astype(np.uint8)
        if self.jpeg:
            ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(out[:, :, ::-1]),
                                   [cv2.IMWRITE_JPEG_QUALITY, self.jpeg])
            if ok:
                out = cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1]
        return np.ascontiguousarray(out)


def sharpness(img: np.ndarray) -> float:
    """Mean absolute Laplacian of a crop's grey image: how much fine detail (and noise) it carries. Sharp
    generated portraits and soft video or web crops differ in it by source, whatever is real or fake."""
    grey = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(np.abs(cv2.Laplacian(grey, cv2.CV_32F)).mean())


# Targets for MatchQuality, drawn between the 5th and the 95th percentile of the model-input views (128 px)
# of the train crops of faces + faces_more, reals and fakes together (bench/shortcut_probe.py prints them):
# sharpness (mean absolute Laplacian) and contrast (grey std) log-uniformly, brightness (grey mean) and
# saturation (mean HSV saturation, 0-255) uniformly.
SHARPNESS_RANGE = (2.4, 17.4)
CONTRAST_RANGE = (20.0, 70.0)
BRIGHTNESS_RANGE = (56.0, 166.0)
SATURATION_RANGE = (57.0, 153.0)
_BLUR_SIGMAS = (0.35, 0.5, 0.7, 0.9, 1.2, 1.6, 2.2, 3.0)
_SHARPEN_AMOUNTS = (0.25, 0.5, 0.8, 1.2, 1.7, 2.4, 3.2)


class MatchQuality:
    """One draw of a target brightness, contrast, saturation and sharpness, from one distribution whatever
    the crop's label. A call moves a crop's grey levels to the target mean and spread, scales its colours'
    distance from grey to the target saturation, then blurs or sharpens (unsharp mask) it with the setting
    that brings its :func:`sharpness` nearest the target. Settings are fitted on a track's first frame and
    kept for the rest (one video, one look). Blur and sharpening come in steps and sharpening is bounded
    (unsharp amount at most 3.2), so targets are met roughly, and one far above what a soft crop can reach
    is only approached.

    Why: degradations only lower quality and scale contrast alike for both classes, so after them sharp,
    contrasty generated portraits still stand apart from soft reals, and a detector can learn "a clean
    portrait is fake". A quality-only probe (``bench/shortcut_probe.py``) told Stable Diffusion faces from
    the reals at AUC 0.905 through the shipped degradations and 0.738 through this and then them. What it
    still finds is framing (how sharp the border is against the middle, which ``swap_border`` and
    ``--p-ring`` address) and the shape of the spectrum (noise against detail), which this does not match.
    """

    def __init__(self, rng: np.random.Generator) -> None:
        self.sharpness = float(np.exp(rng.uniform(*np.log(SHARPNESS_RANGE))))
        self.contrast = float(np.exp(rng.uniform(*np.log(CONTRAST_RANGE))))
        self.brightness = float(rng.uniform(*BRIGHTNESS_RANGE))
        self.saturation = float(rng.uniform(*SATURATION_RANGE))
        self._ops = None

    def fit(self, img: np.ndarray) -> "MatchQuality":
        """Choose the settings that bring ``img`` to the targets; later calls apply those settings to any
        image. Fitting on a real crop and applying the result to its fake keeps the difference between the
        two (a swap's blur against its own original) while quality across sources is randomised."""
        self._ops = self._fit(img)
        return self

    def __call__(self, img: np.ndarray) -> np.ndarray:
        if self._ops is None:
            self.fit(img)
        stretch, sharpen = self._ops
        return sharpen(stretch(img))

    def _fit(self, img: np.ndarray):
        img = np.ascontiguousarray(img)
        grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)
        mean, gain = float(grey.mean()), min(4.0, self.contrast / max(float(grey.std()), 1.0))
        sat = float(cv2.cvtColor(img, cv2.COLOR_RGB2HSV)[..., 1].mean())
        chroma = min(3.0, self.saturation / max(sat, 1.0))

        def stretch(a: np.ndarray) -> np.ndarray:
            f = a.astype(np.float32)
            g = f.mean(axis=2, keepdims=True)
            f = (g - mean) * gain + self.brightness + (f - g) * chroma
            return np.clip(f, 0, 255).astype(np.uint8)

        flat = stretch(img)
        ops = [lambda a: a]
        if sharpness(flat) > self.sharpness:
            ops += [(lambda a, s=s: cv2.GaussianBlur(a, (0, 0), s)) for s in _BLUR_SIGMAS]
        else:
            ops += [(lambda a, k=k: _unsharp(a, k)) for k in _SHARPEN_AMOUNTS]
        sharpen = min(ops, key=lambda op: abs(np.log(max(sharpness(op(flat)), 1e-3) / self.sharpness)))
        return stretch, sharpen


def _unsharp(img: np.ndarray, amount: float, sigma: float = 1.0) -> np.ndarray:
    soft = cv2.GaussianBlur(img, (0, 0), sigma)
    return cv2.addWeighted(img, 1.0 + amount, soft, -amount, 0)

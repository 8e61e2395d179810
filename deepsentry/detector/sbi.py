"""Self-Blended Images (Shiohara & Yamasaki, CVPR 2022): pseudo-fakes made from real faces.

A real face is blended with a slightly transformed copy of itself (colour/sharpness shift, small
translation and scale) inside a deformed, blurred landmark hull mask. The result carries only the
generic traces of face manipulation — a blending boundary and a statistical mismatch between the inner
face and its surroundings — so a detector trained on it does not overfit one generator.

Landmarks come from dlib's 68-point predictor shipped in the ``face-recognition-models`` package. The
package is located with ``importlib.util.find_spec`` and never imported (its ``__init__`` needs
``pkg_resources``, gone from setuptools>=82).
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from deepsentry.errors import ModelUnavailable
from deepsentry.media import load_image


def _models_dir() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable("face-recognition-models is not installed; it provides dlib's landmark model")
    return Path(list(spec.submodule_search_locations)[0]) / "models"


@lru_cache(maxsize=1)
def _dlib_models():
    import dlib

    path = _models_dir() / "shape_predictor_68_face_landmarks.dat"
    if not path.is_file():
        raise ModelUnavailable(f"dlib landmark model missing: {path}")
    return dlib.get_frontal_face_detector(), dlib.shape_predictor(str(path))


def face_landmarks(img: np.ndarray, pad: float = 0.25) -> np.ndarray | None:
    """68 (x, y) landmarks (float32, image coordinates) of the largest face in an RGB uint8 face crop.

    Tight crops (face filling the image) defeat dlib's HOG detector, so the crop is first padded by
    replicating its border. When no face is detected, the predictor is started from a box that covers
    the middle of the crop (crops are centred on a face); None only when the result is degenerate."""
    import dlib

    detector, predictor = _dlib_models()
    h, w = img.shape[:2]
    p = int(round(pad * max(h, w)))
    padded = cv2.copyMakeBorder(img, p, p, p, p, cv2.BORDER_REPLICATE)
    gray = cv2.cvtColor(padded, cv2.COLOR_RGB2GRAY)
    dets = detector(gray, 0)
    if len(dets):
        rect = max(dets, key=lambda r: r.width() * r.height())
    else:
        rect = dlib.rectangle(p + int(0.12 * w), p + int(0.12 * h), p + int(0.88 * w), p + int(0.95 * h))
    shape = predictor(gray, rect)
    pts = np.array([[shape.part(i).x - p, shape.part(i).y - p] for i in range(68)], dtype=np.float32)
    span = pts.max(0) - pts.min(0)
    if span.min() < 0.15 * min(h, w):
        return None
    return pts


def hull_mask(shape_hw: tuple[int, int], landmarks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Float32 mask in [0, 1]: a randomly deformed, blurred convex hull of the landmarks."""
    h, w = shape_hw
    pts = landmarks.astype(np.float32).copy()
    kind = rng.integers(0, 4)
    if kind == 1:        # whole face incl. forehead: lift the brows
        brows = pts[17:27].copy()
        lift = (pts[8, 1] - pts[27, 1]) * rng.uniform(0.2, 0.5)
        brows[:, 1] -= lift
        pts = np.concatenate([pts, brows])
    elif kind == 2:      # inner face only (no jaw line)
        pts = np.concatenate([pts[17:], pts[2:15:3]])
    # On tight crops the hull can reach the crop's edges and the blend boundary leaves the picture (the
    # "fake" would be a recoloured real). Shrink the hull toward its centre until most of the outer
    # ring of the crop stays unblended.
    centre = pts.mean(axis=0, keepdims=True)
    bw = max(2, min(h, w) // 25)
    for _ in range(6):
        mask = np.zeros((h, w), np.uint8)
        cv2.fillConvexPoly(mask, cv2.convexHull(np.round(pts).astype(np.int32)), 255)
        ring = np.concatenate([mask[:bw].ravel(), mask[-bw:].ravel(), mask[:, :bw].ravel(), mask[:, -bw:].ravel()])
        if ring.mean() < 0.3 * 255:
            break
        pts = centre + (pts - centre) * 0.9
    # elastic-ish deformation: warp the mask with a smooth random displacement field
    if rng.random() < 0.7:
        grid = max(4, int(min(h, w) / 20))
        dx = cv2.resize(rng.normal(0, 1, (grid, grid)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
        dy = cv2.resize(rng.normal(0, 1, (grid, grid)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
        amp = rng.uniform(1.0, 4.0) * min(h, w) / 160.0
        xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        mask = cv2.remap(mask, xs + amp * dx, ys + amp * dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    # erode or dilate a little
    k = int(rng.integers(1, max(2, min(h, w) // 25)))
    kernel = np.ones((k, k), np.uint8)
    mask = cv2.erode(mask, kernel) if rng.random() < 0.5 else cv2.dilate(mask, kernel)
    m = mask.astype(np.float32) / 255.0
    # blur twice with random odd kernels: soft and hard boundaries both occur
    for _ in range(2):
        ks = int(rng.integers(1, max(3, min(h, w) // 10))) * 2 + 1
        m = cv2.GaussianBlur(m, (ks, ks), 0)
    m = m / max(float(m.max()), 1e-6)
    return np.clip(m, 0.0, 1.0)


def _source_transform(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The 'other' image: the same face with shifted colour/sharpness and a small geometric change."""
    src = img.astype(np.float32)
    # colour: per-channel shift, brightness/contrast, saturation
    src = src + rng.uniform(-20, 20, 3).astype(np.float32)
    a, b = rng.uniform(0.85, 1.15), rng.uniform(-15, 15)
    src = (src - 128.0) * a + 128.0 + b
    if rng.random() < 0.5:
        g = src.mean(axis=2, keepdims=True)
        src = g + (src - g) * rng.uniform(0.7, 1.3)
    src = np.clip(src, 0, 255).astype(np.uint8)
    # frequency: blur or sharpen
    r = rng.random()
    if r < 0.3:
        ks = int(rng.integers(1, 3)) * 2 + 1
        src = cv2.GaussianBlur(src, (ks, ks), 0)
    elif r < 0.6:
        blur = cv2.GaussianBlur(src, (0, 0), 1.5)
        src = cv2.addWeighted(src, 1.0 + rng.uniform(0.3, 1.0), blur, -rng.uniform(0.3, 1.0), 0)
    # geometry: small scale + translation
    h, w = img.shape[:2]
    s = rng.uniform(0.95, 1.05)
    tx, ty = rng.uniform(-0.03, 0.03) * w, rng.uniform(-0.03, 0.03) * h
    M = np.array([[s, 0, (1 - s) * w / 2 + tx], [0, s, (1 - s) * h / 2 + ty]], np.float32)
    return cv2.warpAffine(src, M, (w, h), borderMode=cv2.BORDER_REFLECT)


def self_blend(img: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator,
               params: dict | None = None) -> tuple[np.ndarray, dict]:
    """One self-blended fake of ``img`` (RGB uint8). Returns (fake, params) where params holds the random
    state used, so a track can reuse it with small frame-to-frame changes (``perturb_params``)."""
    if params is None:
        params = {"mask_seed": int(rng.integers(2**31)), "src_seed": int(rng.integers(2**31)),
                  "ratio": float(rng.choice([0.35, 0.5, 0.75, 1.0, 1.0, 1.0]))}
    mask = hull_mask(img.shape[:2], landmarks, np.random.default_rng(params["mask_seed"]))
    src = _source_transform(img, np.random.default_rng(params["src_seed"]))
    m = (mask * params["ratio"])[..., None]
    out = src.astype(np.float32) * m + img.astype(np.float32) * (1.0 - m)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8), params


def perturb_params(params: dict, rng: np.random.Generator) -> dict:
    """Blend parameters for the next frame of a temporally inconsistent fake: a new mask/source draw
    with probability 1/2 each and a jittered blend ratio."""
    p = dict(params)
    if rng.random() < 0.5:
        p["mask_seed"] = int(rng.integers(2**31))
    if rng.random() < 0.5:
        p["src_seed"] = int(rng.integers(2**31))
    p["ratio"] = float(np.clip(p["ratio"] + rng.uniform(-0.2, 0.2), 0.3, 1.0))
    return p


def cache_landmarks(root: Path, relpaths: list[str], cache_file: Path, progress: bool = True) -> dict[str, np.ndarray]:
    """Landmarks for every image ``root/relpath`` (keyed by relpath; an empty (0, 2) array when none
    were found), computed once and stored in ``cache_file`` (.npz); later calls read the file and only
    compute what is missing."""
    cache: dict[str, np.ndarray] = {}
    if cache_file.is_file():
        with np.load(cache_file) as z:
            cache = {k: z[k] for k in z.files}
    todo = [p for p in relpaths if p not in cache]
    if todo:
        it = todo
        if progress:
            from tqdm import tqdm
            it = tqdm(todo, desc="landmarks", unit="img", mininterval=5)
        for i, p in enumerate(it):
            img = load_image(Path(root) / p)
            lm = face_landmarks(img)
            cache[p] = lm if lm is not None else np.zeros((0, 2), np.float32)
            if (i + 1) % 2000 == 0:
                _save_npz(cache_file, cache)
        _save_npz(cache_file, cache)
    return cache


def _save_npz(path: Path, cache: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **cache)
    tmp.replace(path)

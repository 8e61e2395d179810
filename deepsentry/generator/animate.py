"""Keypoint-driven face animation in the spirit of the first-order motion model, without learned weights.

Keypoints are the 68 landmarks. The driver's motion *relative to its first frame* is rotated and scaled
into the source photo's frame (similarity fitted from the driver's first-frame landmarks to the source's)
and added to the source landmarks. The photo is then warped densely, piecewise-affine over a Delaunay mesh
of the moved landmarks, forehead points that follow the head, and background anchors (a ring around the
head and the image border) that stay put, so the background stays stable. Eyes and mouth follow the
driver through their landmarks; when the driver opens its mouth wider than the photo's, the opening is
shaded as a mouth interior.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from deepsentry.generator import landmarks as lm
from deepsentry.generator.warp import feather, similarity, triangulate, warp_image

RING_POINTS = 20
RING_SCALE = 1.9          # ring radius relative to the face's half-size


def _forehead(points: np.ndarray) -> np.ndarray:
    brows = points[lm.BROWS]
    up = brows.mean(axis=0) - points[8]
    return (brows + 0.38 * up).astype(np.float32)


def _anchors(points: np.ndarray, shape) -> np.ndarray:
    H, W = shape[:2]
    cx, cy = points.mean(axis=0)
    rx = max(8.0, float(np.ptp(points[:, 0]))) / 2 * RING_SCALE
    ry = max(8.0, float(np.ptp(points[:, 1]))) / 2 * RING_SCALE
    t = np.linspace(0, 2 * np.pi, RING_POINTS, endpoint=False)
    ring = np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)
    ring[:, 0] = ring[:, 0].clip(0, W - 1)
    ring[:, 1] = ring[:, 1].clip(0, H - 1)
    xs = np.linspace(0, W - 1, 5)
    ys = np.linspace(0, H - 1, 5)
    border = [(x, 0) for x in xs] + [(x, H - 1) for x in xs] + [(0, y) for y in ys[1:-1]] + [(W - 1, y) for y in ys[1:-1]]
    pts = np.concatenate([ring, np.array(border, dtype=np.float64)])
    # drop anchors that nearly coincide (ring clipped onto the border)
    keep: list[np.ndarray] = []
    for p in pts:
        if all(np.hypot(*(p - q)) > 4.0 for q in keep):
            keep.append(p)
    return np.array(keep, dtype=np.float32)


@dataclass(frozen=True)
class AnimateSource:
    image: np.ndarray
    points: np.ndarray          # (68, 2)
    control: np.ndarray         # (68 + 10 + A, 2): landmarks, forehead, anchors
    tris: np.ndarray
    mouth_colour: np.ndarray    # RGB float, the shade used for an opened mouth


def prepare_source(image: np.ndarray, points: np.ndarray) -> AnimateSource:
    image = np.ascontiguousarray(image)
    points = points.astype(np.float32)
    control = np.concatenate([points, _forehead(points), _anchors(points, image.shape)]).astype(np.float32)
    lips = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(lips, [np.round(points[lm.OUTER_LIPS]).astype(np.int32)], 255)
    lip_rgb = image[lips > 0].mean(axis=0) if (lips > 0).any() else np.array([120.0, 60.0, 60.0])
    return AnimateSource(image, points, control, triangulate(control), (lip_rgb * 0.3).astype(np.float32))


def driven_points(src_points: np.ndarray, drv_first: np.ndarray, drv_now: np.ndarray) -> np.ndarray:
    """Source landmarks moved by the driver's motion since its first frame, in the source's frame."""
    M = similarity(drv_first, src_points)
    A = M[:, :2]
    delta = (np.asarray(drv_now, np.float64) - np.asarray(drv_first, np.float64)) @ A.T
    return (src_points + delta).astype(np.float32)


def animate_frame(src: AnimateSource, moved: np.ndarray) -> np.ndarray:
    """Render the source photo with its landmarks at ``moved`` (68, 2)."""
    H, W = src.image.shape[:2]
    n_anchor = len(src.control) - 68 - 10
    dst = np.concatenate([moved, _forehead(moved), src.control[68 + 10:]]).astype(np.float32)
    assert len(dst) == 68 + 10 + n_anchor
    out, _ = warp_image(src.image, src.control, dst, src.tris, (0, 0, W, H))
    return _shade_mouth(out, src, moved)


def _opening(points: np.ndarray) -> float:
    return float(np.mean([np.hypot(*(points[a] - points[b])) for a, b in ((61, 67), (62, 66), (63, 65))]))


def _shade_mouth(img: np.ndarray, src: AnimateSource, moved: np.ndarray) -> np.ndarray:
    extra = _opening(moved) - _opening(src.points)
    if extra < 1.0:
        return img
    inner = moved[lm.INNER_LIPS]
    x1, y1 = np.floor(inner.min(0)).astype(int) - 3
    x2, y2 = np.ceil(inner.max(0)).astype(int) + 3
    H, W = img.shape[:2]
    x1, y1, x2, y2 = max(0, x1), max(0, y1), min(W, x2), min(H, y2)
    if x2 - x1 < 3 or y2 - y1 < 3:
        return img
    mask = np.zeros((y2 - y1, x2 - x1), np.uint8)
    cv2.fillPoly(mask, [np.round(inner - [x1, y1]).astype(np.int32)], 255, lineType=cv2.LINE_AA)
    strength = min(1.0, extra / 4.0)
    alpha = feather(mask, erode_px=0, blur_px=1)[..., None] * strength
    roi = img[y1:y2, x1:x2].astype(np.float32)
    # keep some of the warped texture (lip shading) so the interior is not a flat patch
    shade = 0.75 * src.mouth_colour + 0.25 * roi * 0.4
    out = img.copy()
    out[y1:y2, x1:x2] = (alpha * shade + (1 - alpha) * roi).round().clip(0, 255).astype(np.uint8)
    return out

"""Training-free face swap: the source face's texture is warped triangle by triangle (Delaunay over its 68
landmarks) onto the chosen target track's smoothed landmarks, colour-matched to the target face, and
blended in with Poisson cloning under a feathered hull mask. Only pixels inside that track's hull change;
the target keeps its expression and head pose because the geometry is the target's."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from deepsentry.generator import landmarks as lm
from deepsentry.generator.warp import (clip_roi, colour_transfer, feather, hull_mask, triangulate, warp_image)

# The swapped region: jaw line, brows, nose and mouth all lie inside the hull of these points.
HULL = lm.JAW + lm.BROWS
CORE_ERODE = 0.04      # the face core (source texture kept) is the hull shrunk by this fraction of face width
CORE_BLUR = 0.03       # ... and feathered over this fraction


@dataclass(frozen=True)
class SwapSource:
    image: np.ndarray          # RGB uint8
    points: np.ndarray         # (68, 2)
    tris: np.ndarray           # (T, 3) triangles over the 68 points


def prepare_source(image: np.ndarray, points: np.ndarray) -> SwapSource:
    return SwapSource(np.ascontiguousarray(image), points.astype(np.float32), triangulate(points))


def swap_frame(frame: np.ndarray, src: SwapSource, dst_pts: np.ndarray, *, poisson: bool = True) -> np.ndarray:
    """Return a copy of ``frame`` with the source face placed on the face whose landmarks are ``dst_pts``."""
    H, W = frame.shape[:2]
    roi = clip_roi(dst_pts, frame.shape, pad=6)
    x0, y0, w, h = roi
    if w < 12 or h < 12:
        return frame.copy()
    warped, covered = warp_image(src.image, src.points, dst_pts, src.tris, roi)
    face_w = float(np.ptp(dst_pts[:, 0]))
    hull = hull_mask(dst_pts[HULL], roi)
    hull = cv2.bitwise_and(hull, covered * 255)
    inner = feather(hull, erode_px=max(1, int(face_w * 0.03)), blur_px=0)
    if inner.sum() < 32:
        return frame.copy()
    target = frame[y0:y0 + h, x0:x0 + w]
    warped = colour_transfer(warped, target, inner > 0.5)
    out = frame.copy()
    if poisson:
        m = (inner > 0.5).astype(np.uint8) * 255
        ys, xs = np.nonzero(m)
        # Poisson cloning is undefined where the mask touches the frame border.
        if len(xs) and x0 + xs.min() > 1 and y0 + ys.min() > 1 and x0 + xs.max() < W - 2 and y0 + ys.max() < H - 2:
            try:
                cloned = _clone(warped, frame, m, roi)
            except cv2.error:
                cloned = None
            if cloned is not None:
                # Poisson blending pulls the whole face toward the target's colours (and identity); use it
                # for the seam only and keep the colour-matched source texture in the face's core.
                core = feather(m, erode_px=max(1, int(face_w * CORE_ERODE)),
                               blur_px=max(1, int(face_w * CORE_BLUR)))[..., None]
                warped = (core * warped.astype(np.float32) + (1.0 - core) * cloned.astype(np.float32)
                          ).round().clip(0, 255).astype(np.uint8)
    alpha = feather((inner > 0.5).astype(np.uint8) * 255, erode_px=max(1, int(face_w * 0.02)),
                    blur_px=max(1, int(face_w * 0.05)))[..., None]
    blended = alpha * warped.astype(np.float32) + (1.0 - alpha) * target.astype(np.float32)
    out[y0:y0 + h, x0:x0 + w] = blended.round().clip(0, 255).astype(np.uint8)
    return out


def _clone(warped_roi: np.ndarray, frame: np.ndarray, mask_roi: np.ndarray, roi) -> np.ndarray:
    """Poisson-blend ``warped_roi`` into ``frame`` at ``roi``; returns the blended ROI."""
    x0, y0, w, h = roi
    # Work on a padded crop so seamlessClone's bounding-box placement is exact and cheap.
    pad = 4
    H, W = frame.shape[:2]
    cx1, cy1 = max(0, x0 - pad), max(0, y0 - pad)
    cx2, cy2 = min(W, x0 + w + pad), min(H, y0 + h + pad)
    dst = np.ascontiguousarray(frame[cy1:cy2, cx1:cx2])
    src = dst.copy()
    src[y0 - cy1:y0 - cy1 + h, x0 - cx1:x0 - cx1 + w] = warped_roi
    mask = np.zeros(dst.shape[:2], np.uint8)
    mask[y0 - cy1:y0 - cy1 + h, x0 - cx1:x0 - cx1 + w] = mask_roi
    ys, xs = np.nonzero(mask)
    center = ((int(xs.min()) + int(xs.max()) + 1) // 2, (int(ys.min()) + int(ys.max()) + 1) // 2)
    blended = cv2.seamlessClone(src, dst, mask, center, cv2.NORMAL_CLONE)
    return blended[y0 - cy1:y0 - cy1 + h, x0 - cx1:x0 - cx1 + w]

"""Geometry and colour tools shared by swap and animate: Delaunay triangulation, a dense piecewise-affine
warp done as one ``cv2.remap`` (triangles rasterised into a label image, one affine per triangle), Reinhard
colour transfer in Lab, feathered hull masks and similarity alignment."""

from __future__ import annotations

import cv2
import numpy as np
from scipy.spatial import Delaunay

_SHIFT = 4                      # sub-pixel bits for cv2.fillConvexPoly
_ONE = 1 << _SHIFT


def triangulate(points: np.ndarray) -> np.ndarray:
    """Delaunay triangles (T, 3) of vertex indices over ``points`` (N, 2)."""
    tri = Delaunay(np.asarray(points, dtype=np.float64), qhull_options="QJ")
    return tri.simplices.astype(np.int32)


def _affines(dst: np.ndarray, src: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """(T, 2, 3) affines mapping each destination triangle onto its source triangle."""
    d = dst[tris].astype(np.float64)             # (T, 3, 2)
    s = src[tris].astype(np.float64)
    ones = np.ones((len(tris), 3, 1))
    A = np.concatenate([d, ones], axis=2)        # (T, 3, 3): rows [x y 1]
    # Solve A @ M^T = s for each triangle; degenerate triangles get a least-squares answer.
    det = np.linalg.det(A)
    good = np.abs(det) > 1e-6
    M = np.zeros((len(tris), 3, 2))
    if good.any():
        M[good] = np.linalg.solve(A[good], s[good])
    for i in np.flatnonzero(~good):
        M[i] = np.linalg.lstsq(A[i], s[i], rcond=None)[0]
    return np.transpose(M, (0, 2, 1)).astype(np.float32)   # (T, 2, 3)


def warp_maps(src_pts: np.ndarray, dst_pts: np.ndarray, tris: np.ndarray,
              roi: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Maps for ``cv2.remap`` over ``roi`` (x, y, w, h) of the destination so that each destination
    triangle samples its source triangle. Returns (map_x, map_y, covered) where ``covered`` is a uint8
    mask of pixels inside some triangle (outside pixels map to -1)."""
    x0, y0, w, h = roi
    label = np.zeros((h, w), dtype=np.int32)
    offset = np.array([x0, y0], dtype=np.float32)
    for t, tri in enumerate(tris):
        poly = np.round((dst_pts[tri] - offset) * _ONE).astype(np.int32)
        cv2.fillConvexPoly(label, poly, t + 1, lineType=cv2.LINE_8, shift=_SHIFT)
    ys, xs = np.nonzero(label)
    map_x = np.full((h, w), -1.0, dtype=np.float32)
    map_y = np.full((h, w), -1.0, dtype=np.float32)
    if len(xs):
        M = _affines(dst_pts, src_pts, tris)[label[ys, xs] - 1]       # (N, 2, 3)
        gx = xs.astype(np.float32) + x0
        gy = ys.astype(np.float32) + y0
        map_x[ys, xs] = M[:, 0, 0] * gx + M[:, 0, 1] * gy + M[:, 0, 2]
        map_y[ys, xs] = M[:, 1, 0] * gx + M[:, 1, 1] * gy + M[:, 1, 2]
    return map_x, map_y, (label > 0).astype(np.uint8)


def warp_image(src: np.ndarray, src_pts: np.ndarray, dst_pts: np.ndarray, tris: np.ndarray,
               roi: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Piecewise-affine warp of ``src`` so ``src_pts`` land on ``dst_pts``; returns the warped ROI and
    the coverage mask (uint8 0/1) of the ROI."""
    map_x, map_y, covered = warp_maps(src_pts, dst_pts, tris, roi)
    out = cv2.remap(src, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    return out, covered


def clip_roi(points: np.ndarray, shape: tuple[int, ...], pad: int = 4) -> tuple[int, int, int, int]:
    """Integer bounding box (x, y, w, h) of ``points`` padded and clipped to an image of ``shape``."""
    H, W = shape[:2]
    x1, y1 = np.floor(points.min(axis=0)).astype(int) - pad
    x2, y2 = np.ceil(points.max(axis=0)).astype(int) + pad
    x1, y1 = max(0, int(x1)), max(0, int(y1))
    x2, y2 = min(W, int(x2)), min(H, int(y2))
    return x1, y1, max(0, x2 - x1), max(0, y2 - y1)


def hull_mask(points: np.ndarray, roi: tuple[int, int, int, int]) -> np.ndarray:
    """uint8 0/255 mask (ROI-sized) of the convex hull of ``points``."""
    x0, y0, w, h = roi
    mask = np.zeros((h, w), dtype=np.uint8)
    hull = cv2.convexHull(np.round((points - [x0, y0]) * _ONE).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 255, lineType=cv2.LINE_AA, shift=_SHIFT)
    return mask


def feather(mask: np.ndarray, erode_px: int, blur_px: int) -> np.ndarray:
    """Float32 alpha in [0, 1]: the mask shrunk by ``erode_px`` then blurred over ``blur_px``."""
    m = mask
    if erode_px > 0:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * erode_px + 1, 2 * erode_px + 1))
        m = cv2.erode(m, k)
    if blur_px > 0:
        b = 2 * blur_px + 1
        m = cv2.GaussianBlur(m, (b, b), blur_px / 2.0)
    return (m.astype(np.float32) / 255.0).clip(0.0, 1.0)


def colour_transfer(src: np.ndarray, ref: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Reinhard transfer: match the Lab mean and spread of ``src`` to ``ref`` inside ``mask`` (both RGB
    uint8, same size). Gains are clamped so a grey source cannot blow up its chroma."""
    sel = mask > 0
    if sel.sum() < 16:
        return src
    s = cv2.cvtColor(src, cv2.COLOR_RGB2LAB).astype(np.float32)
    r = cv2.cvtColor(ref, cv2.COLOR_RGB2LAB).astype(np.float32)
    sm, ss = s[sel].mean(0), s[sel].std(0) + 1e-3
    rm, rs = r[sel].mean(0), r[sel].std(0) + 1e-3
    gain = np.clip(rs / ss, 0.5, 2.0)
    gain[1:] = np.where(ss[1:] < 2.0, 1.0, gain[1:])
    out = (s - sm) * gain + rm
    return cv2.cvtColor(out.clip(0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (Umeyama, no reflection) mapping ``src`` points onto ``dst``: 2x3."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    ms, md = src.mean(0), dst.mean(0)
    a, b = src - ms, dst - md
    cov = b.T @ a / len(src)
    U, S, Vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(U @ Vt))
    D = np.diag([1.0, d])
    R = U @ D @ Vt
    var = (a ** 2).sum() / len(src)
    scale = (S * np.diag(D)).sum() / max(var, 1e-12)
    M = np.zeros((2, 3))
    M[:, :2] = scale * R
    M[:, 2] = md - scale * R @ ms
    return M


def apply_affine(M: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return (np.asarray(pts, dtype=np.float64) @ M[:, :2].T + M[:, 2]).astype(np.float32)


def smooth_track(points: np.ndarray, valid: np.ndarray, sigma: float = 1.2) -> np.ndarray:
    """Zero-lag temporal smoothing of landmark tracks (F, 68, 2): a Gaussian over time within each run of
    consecutive valid frames, normalised at run ends."""
    out = points.copy()
    if sigma <= 0:
        return out
    radius = max(1, int(round(3 * sigma)))
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2).astype(np.float64)
    F = len(points)
    i = 0
    while i < F:
        if not valid[i]:
            i += 1
            continue
        j = i
        while j < F and valid[j]:
            j += 1
        seg = points[i:j].astype(np.float64)
        n = j - i
        acc = np.zeros_like(seg)
        wsum = np.zeros((n, 1, 1))
        for k, wgt in zip(range(-radius, radius + 1), kernel):
            lo, hi = max(0, -k), min(n, n - k)
            if lo >= hi:
                continue
            acc[lo:hi] += wgt * seg[lo + k:hi + k]
            wsum[lo:hi] += wgt
        out[i:j] = (acc / wsum).astype(points.dtype)
        i = j
    return out

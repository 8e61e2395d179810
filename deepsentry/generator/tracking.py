"""One face track through a video: pick it in the first frame with faces (by index, by a point, or the
largest), follow it with the landmark predictor seeded from the previous frame, re-check it against the
detector every few frames, and smooth its landmarks over time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np

from deepsentry.detector.faces import box_iou as _iou
from deepsentry.errors import BadRequest, NoFaceFound
from deepsentry.generator import landmarks as lm
from deepsentry.generator.warp import smooth_track

DETECT_EVERY = 5


@dataclass
class Track:
    points: np.ndarray        # (F, 68, 2) float32, smoothed; undefined where not valid
    raw: np.ndarray           # (F, 68, 2) before smoothing
    valid: np.ndarray         # (F,) bool
    faces_in_first: int       # faces seen in the frame where the track was chosen

    @property
    def coverage(self) -> float:
        return float(self.valid.mean()) if len(self.valid) else 0.0


def choose(faces: list[lm.Face], track: int | None, point: tuple[float, float] | None) -> lm.Face:
    """Track ``track`` counts faces left to right; ``point`` picks the face whose centre is nearest;
    neither picks the largest."""
    if point is not None:
        px, py = point
        return min(faces, key=lambda f: (f.center[0] - px) ** 2 + (f.center[1] - py) ** 2)
    if track is not None:
        ordered = sorted(faces, key=lambda f: f.center[0])
        if not 0 <= track < len(ordered):
            raise BadRequest(f"track {track} does not exist: the first frame with faces has {len(ordered)} "
                             f"face(s), numbered 0..{len(ordered) - 1} from left to right", code="bad_track")
        return ordered[track]
    return faces[0]


def follow(frames: Iterable[np.ndarray], *, track: int | None = None, point: tuple[float, float] | None = None,
           sigma: float = 1.2, progress: Callable[[int], None] | None = None) -> Track:
    raw: list[np.ndarray] = []
    valid: list[bool] = []
    prev: np.ndarray | None = None
    last_seen: np.ndarray | None = None
    chosen = False
    n_first = 0
    for i, frame in enumerate(frames):
        pts = None
        if prev is None or i % DETECT_EVERY == 0:
            faces = lm.detect_faces(frame)
            if faces:
                if not chosen:
                    pick = choose(faces, track, point)
                    chosen, n_first = True, len(faces)
                    pts = pick.points
                else:
                    ref = prev if prev is not None else last_seen
                    rbox = lm.box_from_points(ref)
                    best = max(faces, key=lambda f: _iou(f.box, rbox))
                    limit = 0.3 if prev is not None else 0.2
                    if _iou(best.box, rbox) >= limit:
                        pts = best.points
            if pts is None and prev is not None and faces:
                pts = None     # the detector sees faces but not ours: the track is lost here
            elif pts is None and prev is not None:
                pts = _follow_one(frame, prev)   # detector missed (pose, blur): keep following
        else:
            pts = _follow_one(frame, prev)
        if pts is not None:
            prev = last_seen = pts.astype(np.float32)
        else:
            prev = None
        raw.append(prev if prev is not None else np.zeros((68, 2), np.float32))
        valid.append(prev is not None)
        if progress:
            progress(i)
    if not chosen:
        raise NoFaceFound("no face found in any frame of the video")
    raw_a = np.stack(raw) if raw else np.zeros((0, 68, 2), np.float32)
    valid_a = np.array(valid, dtype=bool)
    return Track(smooth_track(raw_a, valid_a, sigma), raw_a, valid_a, n_first)


def _follow_one(frame: np.ndarray, prev: np.ndarray) -> np.ndarray | None:
    box = lm.box_from_points(prev, frame.shape)
    if box[2] - box[0] < 16 or box[3] - box[1] < 16:
        return None
    pts = lm.shape_points(frame, box)
    if _iou(lm.box_from_points(pts), box) < 0.5:
        return None
    return pts

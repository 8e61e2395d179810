"""Faces: MTCNN detection on sampled frames, linking into tracks, and aligned crops for the model.

``crop_face`` is the single definition of a face crop, used by training (video datasets, through
``model.dataset_crop``), inference and evaluation (``model.face_crop``) alike, with the margin, shift,
view and size stored in the model's config.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import cv2
import numpy as np

from deepsentry.detector.threads import on_torch_thread


def square_box(box_xyxy, margin: float, shift: float = 0.0) -> tuple[float, float, float]:
    """Centre (cx, cy) and side of the square crop around a face box enlarged by ``margin``, its centre
    moved down by ``shift`` box heights (negative: up)."""
    x1, y1, x2, y2 = (float(v) for v in box_xyxy)
    cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0 + shift * (y2 - y1)
    side = max(x2 - x1, y2 - y1) * (1.0 + margin)
    return cx, cy, max(side, 2.0)


def crop_face(frame: np.ndarray, box_xyxy, margin: float, size: int, shift: float = 0.0) -> np.ndarray:
    """Square crop of ``frame`` (RGB uint8 HxWx3) around ``box_xyxy`` enlarged by ``margin`` (fraction of
    the longer side added in total) and moved down by ``shift`` box heights, resized to ``size``x``size``.
    Parts outside the frame are filled by replicating the border, so faces at the edge keep their
    geometry."""
    cx, cy, side = square_box(box_xyxy, margin, shift)
    x1 = int(round(cx - side / 2.0))
    y1 = int(round(cy - side / 2.0))
    s = int(round(side))
    h, w = frame.shape[:2]
    pad_l, pad_t = max(0, -x1), max(0, -y1)
    pad_r, pad_b = max(0, x1 + s - w), max(0, y1 + s - h)
    region = frame[max(0, y1):min(h, y1 + s), max(0, x1):min(w, x1 + s)]
    if pad_l or pad_t or pad_r or pad_b:
        region = cv2.copyMakeBorder(region, pad_t, pad_b, pad_l, pad_r, cv2.BORDER_REPLICATE)
    interp = cv2.INTER_AREA if s > size else cv2.INTER_LINEAR
    return np.ascontiguousarray(cv2.resize(region, (size, size), interpolation=interp))


# --------------------------------------------------------------------------------------------------
# detection

@dataclass
class Detection:
    """One face in one frame, in the frame's original pixel coordinates."""

    box: tuple[float, float, float, float]       # x1, y1, x2, y2
    confidence: float
    landmarks: np.ndarray                        # (5, 2): eyes, nose, mouth corners

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def center(self) -> tuple[float, float]:
        return (self.box[0] + self.box[2]) / 2.0, (self.box[1] + self.box[3]) / 2.0


# Passes of MTCNN's output network (O-Net) that move a carried box onto the face in a new frame.
REFINE_PASSES = 2


class FaceDetector:
    """MTCNN (``deepsentry.detector.mtcnn``, facenet-pytorch's weights) on downscaled frames.

    Frames are shrunk so their longer side is at most ``detect_side`` before detection and boxes and
    landmarks are mapped back, which keeps 4K input as cheap as 720p. MTCNN's pyramid starts where the
    smallest face kept (``min_face`` pixels at the original resolution) fills its 12 px cell. Faces
    smaller than ``min_face`` or below ``min_confidence`` are dropped. ``detect_sequence`` runs the full
    search on key frames only and re-detects each known face in a small window around it on the frames
    between. Thread-safe: one instance is shared by all daemon jobs.
    """

    def __init__(self, device: str = "cpu", detect_side: int = 640, min_face: int = 40,
                 min_confidence: float = 0.90, key_every: int = 4) -> None:
        from deepsentry.detector.mtcnn import MTCNN

        self.detect_side = detect_side
        self.min_face = min_face
        self.min_confidence = min_confidence
        self.key_every = max(1, int(key_every))
        # MTCNN's own min size is in detection pixels; it is set per batch from min_face and the scale.
        self._mtcnn = MTCNN(device=device)
        self._lock = threading.Lock()

    def _scale(self, shape) -> float:
        h, w = shape[:2]
        return min(1.0, self.detect_side / float(max(h, w)))

    @on_torch_thread
    def detect(self, frames: list[np.ndarray], batch: int = 8) -> list[list[Detection]]:
        """Faces in each frame (RGB uint8). Same-size frames are batched through MTCNN."""
        out: list[list[Detection]] = []
        for i in range(0, len(frames), batch):
            chunk = frames[i:i + batch]
            shapes = {f.shape for f in chunk}
            if len(shapes) == 1:
                out.extend(self._detect_batch(chunk))
            else:
                for f in chunk:
                    out.extend(self._detect_batch([f]))
        return out

    @on_torch_thread
    def detect_sequence(self, frames: list[np.ndarray]) -> list[list[Detection]]:
        """Faces in each frame of one video's sampled frames (RGB uint8, one size, in time order).

        The whole frame is searched on key frames only (every ``key_every``-th, from the first). Between
        two key frames, and after the last, each face is carried from frame to frame: its box is moved by
        the motion between its positions on the two key frames (none when it is on only one of them, or
        after the last key frame) and then put onto the face
        by MTCNN's last stage, the output network, which from a 48 px view of the box gives the face's
        confidence, corrected box and landmarks. The same confidence and size rules as a full search
        decide whether the face is still there. A frame where a carried face is lost, and the frames
        between two key frames without faces, are searched whole; so a face that leaves, or that MTCNN
        misses on a key frame, is answered as the whole search answers, and face-free media cost what
        the whole search costs. A face that comes and goes between two key frames showing other faces,
        without any of those being lost, is missed."""
        n = len(frames)
        if n <= 2 or self.key_every <= 1:
            return self.detect(frames)
        keys = list(range(0, n, self.key_every))
        out: list[list[Detection]] = [[] for _ in range(n)]
        for i, dets in zip(keys, self.detect([frames[i] for i in keys])):
            out[i] = dets
        whole: list[int] = []
        for a, b in zip(keys, keys[1:] + [n]):            # after the last key frame: carried forward only
            if b - a < 2:
                continue
            if not out[a] and (b == n or not out[b]):
                whole.extend(range(a + 1, b))             # nothing to carry: search these frames whole
                continue
            pairs, only_a, only_b = _pair(out[a], out[b] if b < n else [])
            # forward from a: faces on both key frames move by their key-to-key motion, others stay put
            carried = [(d, _step(d, e, b - a)) for d, e in pairs] + [(d, (0.0, 0.0)) for d in only_a]
            for j in range(a + 1, b):
                kept = self._carry(frames[j], carried)
                if len(kept) < len(carried):
                    whole.append(j)                       # a face was lost here: search this frame whole
                carried = kept
                out[j].extend(d for d, _ in carried)
            # backward from b: faces that appeared after a
            carried = [(e, (0.0, 0.0)) for e in only_b]
            for j in range(b - 1, a, -1):
                kept = self._carry(frames[j], carried)
                if len(kept) < len(carried):
                    whole.append(j)
                carried = kept
                out[j].extend(d for d, _ in carried)
            for j in range(a + 1, b):
                out[j] = _distinct(out[j])
        whole = sorted(set(whole))
        for j, dets in zip(whole, self.detect([frames[j] for j in whole]) if whole else []):
            out[j] = dets
        return out

    def _carry(self, frame: np.ndarray, carried):
        """Each ``(detection, (dx, dy))`` moved by its step and refined on ``frame``; faces no longer
        found are dropped."""
        if not carried:
            return []
        boxes = [tuple(v + (dx, dy)[k % 2] for k, v in enumerate(d.box)) for d, (dx, dy) in carried]
        found = self.refine(frame, boxes)
        return [(d, step) for d, (_, step) in zip(found, carried) if d is not None]

    @on_torch_thread
    def refine(self, frame: np.ndarray, boxes) -> list[Detection | None]:
        """Each approximate face box ``(x1, y1, x2, y2)`` on ``frame`` put onto the face by MTCNN's output
        network (``REFINE_PASSES`` times, each from the last one's box; the most confident pass is kept),
        or None where no pass passes the confidence and size rules."""
        import torch

        boxes = [np.asarray(b, np.float32) for b in boxes]
        if not boxes:
            return []
        result: list[Detection | None] = [None] * len(boxes)
        for _ in range(REFINE_PASSES):
            squares = [_square(b) for b in boxes]
            views = np.stack([_view(frame, sq, 48) for sq in squares]).astype(np.float32)
            x = torch.from_numpy(views).permute(0, 3, 1, 2).sub_(127.5).mul_(0.0078125)
            with self._lock, torch.inference_mode():
                reg, marks, prob = (t.float().numpy() for t in self._mtcnn.onet(x))
            new = []
            for k, sq in enumerate(squares):
                side = sq[2] - sq[0] + 1.0
                box = sq + reg[k] * side
                lm = np.stack([sq[0] - 1 + side * marks[k, :5], sq[1] - 1 + side * marks[k, 5:]], axis=1)
                new.append(box)
                ok = prob[k, 1] >= self.min_confidence and min(box[2] - box[0], box[3] - box[1]) >= self.min_face
                if ok and (result[k] is None or prob[k, 1] > result[k].confidence):
                    result[k] = Detection(tuple(float(v) for v in box), float(prob[k, 1]), lm.astype(np.float32))
            boxes = new
        return result

    def _keep(self, boxes, probs, lms, scale_up: float, min_face: int | None = None,
              offset=(0, 0)) -> list[Detection]:
        """MTCNN's output for one image mapped to frame coordinates (``* scale_up + offset``), with the
        confidence and minimum-size rules applied."""
        dets: list[Detection] = []
        if boxes is None:
            return dets
        ox, oy = offset
        for box, conf, mark in zip(boxes, probs, lms):
            if conf is None or conf < self.min_confidence:
                continue
            x1, y1, x2, y2 = (float(v) * scale_up for v in box)
            x1, x2, y1, y2 = x1 + ox, x2 + ox, y1 + oy, y2 + oy
            if min(x2 - x1, y2 - y1) < (self.min_face if min_face is None else min_face):
                continue
            marks = np.asarray(mark, np.float32) * scale_up + np.array([ox, oy], np.float32)
            dets.append(Detection((x1, y1, x2, y2), float(conf), marks))
        return dets

    @on_torch_thread
    def small_faces(self, frames: list[np.ndarray], floor: int = 16) -> list[Detection]:
        """Faces between ``floor`` and ``min_face`` pixels in ``frames`` (a few of them: this is a full
        search with a deeper pyramid). Only asked when nothing was found, so that "no face" can say
        that faces were there but too small to judge."""
        found: list[Detection] = []
        for f in frames:
            for d in self._detect_batch([f], min_face=floor)[0]:
                x1, y1, x2, y2 = d.box
                if min(x2 - x1, y2 - y1) < self.min_face:
                    found.append(d)
        return found

    def _detect_batch(self, frames: list[np.ndarray], min_face: int | None = None) -> list[list[Detection]]:
        min_face = self.min_face if min_face is None else min_face
        scale = self._scale(frames[0].shape)
        if scale < 1.0:
            h, w = frames[0].shape[:2]
            size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
            small = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]
        else:
            small = list(frames)
        # MTCNN's first stage needs a minimum image size.
        if min(small[0].shape[:2]) < 24:
            return [[] for _ in frames]
        arr = np.ascontiguousarray(np.stack(small))
        with self._lock:
            # The pyramid starts where the smallest face we keep (min_face at full resolution) fills
            # MTCNN's 12 px cell, with a fifth of margin: no level is spent on faces that would be dropped.
            found = self._mtcnn.detect(arr, min_face=max(12, int(0.8 * min_face * scale)))
        return [self._keep(b, p, lm, 1.0 / scale, min_face=min_face) for b, p, lm in found]


def _square(box) -> np.ndarray:
    """The square with the box's centre and longer side (as MTCNN squares its candidates)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    side = max(x2 - x1, y2 - y1)
    cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
    return np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], np.float32)


def _view(frame: np.ndarray, sq, size: int) -> np.ndarray:
    """``frame`` inside the square ``sq`` resized to ``size`` px; outside the frame is black."""
    x1, y1 = int(np.floor(sq[0])), int(np.floor(sq[1]))
    s = max(2, int(round(sq[2] - sq[0] + 1)))
    h, w = frame.shape[:2]
    region = frame[max(0, y1):max(0, min(h, y1 + s)), max(0, x1):max(0, min(w, x1 + s))]
    if region.size == 0:
        return np.zeros((size, size, 3), np.uint8)
    pad = (max(0, -y1), max(0, y1 + s - h), max(0, -x1), max(0, x1 + s - w))
    if any(pad):
        region = cv2.copyMakeBorder(region, *pad, cv2.BORDER_CONSTANT, value=0)
    return cv2.resize(region, (size, size), interpolation=cv2.INTER_AREA if s > size else cv2.INTER_LINEAR)


def _pair(a: list[Detection], b: list[Detection]):
    """Faces of two key frames matched as the tracker matches them: (pairs, only in a, only in b)."""
    if not a or not b:
        return [], list(a), list(b)
    from scipy.optimize import linear_sum_assignment

    cost = np.array([[_match_cost(Track(0, detections=[d]), e) for e in b] for d in a])
    rows, cols = linear_sum_assignment(cost)
    pairs = [(a[r], b[c]) for r, c in zip(rows, cols) if cost[r, c] <= 1.0]
    in_a = {id(d) for d, _ in pairs}
    in_b = {id(e) for _, e in pairs}
    return pairs, [d for d in a if id(d) not in in_a], [e for e in b if id(e) not in in_b]


def _step(d: Detection, e: Detection, frames: int) -> tuple[float, float]:
    """Per-frame motion of a face's centre from ``d`` to ``e`` over ``frames`` sampled frames."""
    (x0, y0), (x1, y1) = d.center, e.center
    return (x1 - x0) / frames, (y1 - y0) / frames


def _distinct(dets: list[Detection], iou: float = 0.5) -> list[Detection]:
    """``dets`` without the ones overlapping a more confident one by ``iou`` or more."""
    kept: list[Detection] = []
    for d in sorted(dets, key=lambda d: -d.confidence):
        if all(box_iou(d.box, k.box) < iou for k in kept):
            kept.append(d)
    return kept


# --------------------------------------------------------------------------------------------------
# tracking

@dataclass
class Track:
    """One person's face over the sampled frames of a video."""

    track_id: int
    times: list[float] = field(default_factory=list)
    frame_indices: list[int] = field(default_factory=list)   # index into the sampled frame list
    detections: list[Detection] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.detections)

    @property
    def last(self) -> Detection:
        return self.detections[-1]


def box_iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _match_cost(track: Track, det: Detection) -> float:
    """Cost in [0, 1] (lower is better) or >1 when the two cannot be the same face."""
    prev = track.last
    iou = box_iou(prev.box, det.box)
    if iou >= 0.3:
        return 1.0 - iou
    # Frames are sampled sparsely (e.g. 2/s), so a moving face may not overlap: fall back to the
    # distance between landmark sets relative to face size, with a similar size required.
    size = max(prev.width, prev.height, 1.0)
    ratio = det.width / max(prev.width, 1.0)
    if not 0.6 <= ratio <= 1.66:
        return 2.0
    dist = float(np.mean(np.linalg.norm(prev.landmarks - det.landmarks, axis=1))) / size
    # up to 1.5 face widths between sampled frames (a quick head turn or walk at 2 frames/s)
    return 0.7 + 0.2 * dist if dist < 1.5 else 2.0


def link_tracks(per_frame: list[list[Detection]], times: list[float], max_gap: int = 3) -> list[Track]:
    """Link detections of consecutive sampled frames into tracks (Hungarian matching on IoU, then on
    landmark distance). A track survives ``max_gap`` sampled frames without a detection."""
    from scipy.optimize import linear_sum_assignment

    tracks: list[Track] = []
    active: list[Track] = []
    for fi, (dets, t) in enumerate(zip(per_frame, times)):
        active = [tr for tr in active if fi - tr.frame_indices[-1] <= max_gap + 1]
        unmatched = list(range(len(dets)))
        if active and dets:
            cost = np.array([[_match_cost(tr, d) for d in dets] for tr in active])
            rows, cols = linear_sum_assignment(cost)
            for r, c in zip(rows, cols):
                if cost[r, c] <= 1.0:
                    tr = active[r]
                    tr.times.append(t)
                    tr.frame_indices.append(fi)
                    tr.detections.append(dets[c])
                    unmatched.remove(c)
        for c in unmatched:
            tr = Track(track_id=len(tracks), times=[t], frame_indices=[fi], detections=[dets[c]])
            tracks.append(tr)
            active.append(tr)
    return tracks

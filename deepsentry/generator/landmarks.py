"""dlib face models used by the generator: HOG face detection, 68-point landmarks, 128-d embeddings.

The model files ship in the ``face_recognition_models`` package; they are located with
``importlib.util.find_spec`` because importing that package needs ``pkg_resources`` (gone in
setuptools >= 82). Everything is loaded once per process, lazily.
"""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from deepsentry.errors import ModelUnavailable, NoFaceFound

# 68-point index groups (iBUG 300-W layout).
JAW = list(range(0, 17))
BROWS = list(range(17, 27))
NOSE = list(range(27, 36))
LEFT_EYE = list(range(36, 42))      # subject's right eye, image left
RIGHT_EYE = list(range(42, 48))
OUTER_LIPS = list(range(48, 60))
INNER_LIPS = list(range(60, 68))

_lock = threading.Lock()


def _model_dir() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable("face_recognition_models is not installed (pip install face-recognition-models)",
                               code="generator_models_missing")
    return Path(list(spec.submodule_search_locations)[0]) / "models"


@lru_cache(maxsize=1)
def _models():
    try:
        import dlib
    except ImportError as exc:  # pragma: no cover - dlib-bin is a dependency
        raise ModelUnavailable("dlib is not installed (pip install dlib-bin)", code="generator_models_missing") from exc
    d = _model_dir()
    shape = d / "shape_predictor_68_face_landmarks.dat"
    recog = d / "dlib_face_recognition_resnet_model_v1.dat"
    for f in (shape, recog):
        if not f.exists():
            raise ModelUnavailable(f"missing face model file {f}", code="generator_models_missing")
    return dlib, dlib.get_frontal_face_detector(), dlib.shape_predictor(str(shape)), \
        dlib.face_recognition_model_v1(str(recog))


@dataclass(frozen=True)
class Face:
    box: tuple[float, float, float, float]   # x1, y1, x2, y2
    score: float
    points: np.ndarray                         # (68, 2) float32, x/y pixel coordinates

    @property
    def area(self) -> float:
        x1, y1, x2, y2 = self.box
        return max(0.0, x2 - x1) * max(0.0, y2 - y1)

    @property
    def center(self) -> tuple[float, float]:
        x1, y1, x2, y2 = self.box
        return (x1 + x2) / 2.0, (y1 + y2) / 2.0


def _rgb(img: np.ndarray) -> np.ndarray:
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(img[..., :3])


def detect_faces(img: np.ndarray, upsample: int | None = None, min_score: float = 0.25) -> list[Face]:
    """All frontal faces in an RGB image, largest first, each with 68 landmarks.

    ``upsample`` defaults to 1 for images under 1000 px on the long side (HOG's smallest face is 80 px).
    """
    dlib, det, sp, _ = _models()
    img = _rgb(img)
    if upsample is None:
        upsample = 1 if max(img.shape[:2]) < 1000 else 0
    with _lock:
        rects, scores, _ = det.run(img, upsample, 0.0)
    faces = []
    for r, s in zip(rects, scores):
        if s < min_score:
            continue
        pts = shape_points(img, (r.left(), r.top(), r.right(), r.bottom()))
        faces.append(Face((float(r.left()), float(r.top()), float(r.right()), float(r.bottom())), float(s), pts))
    faces.sort(key=lambda f: (f.score < 0.5, -f.area))   # confident faces first, then by size
    return faces


def shape_points(img: np.ndarray, box) -> np.ndarray:
    """68 landmarks inside ``box`` (x1, y1, x2, y2)."""
    dlib, _, sp, _ = _models()
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    shape = sp(_rgb(img), dlib.rectangle(x1, y1, x2, y2))
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)


def box_from_points(pts: np.ndarray, shape: tuple[int, ...] | None = None) -> tuple[float, float, float, float]:
    """A dlib-detector-like box around 68 landmarks (the detector's box sits from brows to chin)."""
    x1, y1 = pts.min(axis=0)
    x2, y2 = pts.max(axis=0)
    w, h = x2 - x1, y2 - y1
    box = (x1 - 0.02 * w, y1 - 0.08 * h, x2 + 0.02 * w, y2 + 0.02 * h)
    if shape is not None:
        H, W = shape[:2]
        box = (max(0.0, box[0]), max(0.0, box[1]), min(W - 1.0, box[2]), min(H - 1.0, box[3]))
    return box


def embedding(img: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The 128-d dlib ResNet face descriptor for the face whose landmarks are ``points``."""
    dlib, _, _, rec = _models()
    img = _rgb(img)
    parts = [dlib.point(int(round(x)), int(round(y))) for x, y in points]
    x1, y1, x2, y2 = box_from_points(points)
    det = dlib.full_object_detection(dlib.rectangle(int(x1), int(y1), int(x2), int(y2)), parts)
    with _lock:
        vec = rec.compute_face_descriptor(img, det)
    return np.asarray(vec, dtype=np.float32)


def main_face(img: np.ndarray, what: str = "image") -> Face:
    """The largest confident face, or :class:`NoFaceFound`."""
    faces = detect_faces(img)
    if not faces:
        raise NoFaceFound(f"no face found in the {what}")
    return faces[0]

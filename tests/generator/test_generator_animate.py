"""Face animation follows the driver: head rotation, head position and mouth opening measured by dlib on
the *output* frames correlate with the same quantities measured on the driving video; the background far
from the face stays put. (Source: the astronaut photo. Driver: the astronaut mirrored and re-cropped with a
known synthetic motion -- a driving video whose identity does not matter.)"""

from __future__ import annotations

import numpy as np
import pytest

from deepsentry.generator import landmarks as lm
from deepsentry.generator import video
from deepsentry.generator.animate import animate_frame, driven_points, prepare_source
from deepsentry.generator.tracking import follow
from tests.mediautil import astronaut


def _measures(points: np.ndarray) -> tuple[float, float, float, float]:
    """(eye-line angle deg, nose x, nose y, mouth opening), the last three in inter-ocular distances."""
    le, re = points[36:42].mean(0), points[42:48].mean(0)
    iod = float(np.linalg.norm(re - le))
    v = re - le
    nose = points[30]
    mouth = float(np.linalg.norm(points[66] - points[62]))
    return float(np.degrees(np.arctan2(v[1], v[0]))), nose[0] / iod, nose[1] / iod, mouth / iod


@pytest.fixture(scope="module")
def animated(driver):
    path, _motion = driver
    frames = list(video.frames(path))
    tr = follow(frames)
    img = astronaut()
    src = prepare_source(img, lm.main_face(img).points)
    outs = [animate_frame(src, driven_points(src.points, tr.points[0], tr.points[i])) for i in range(len(frames))]
    return frames, tr, img, outs


def test_animation_follows_driver(animated):
    frames, tr, img, outs = animated
    drv = np.array([_measures(lm.main_face(f).points) for f in frames])
    out = []
    for o in outs:
        faces = lm.detect_faces(o)
        assert faces, "a face is found on every animated frame"
        out.append(_measures(faces[0].points))
    out = np.array(out)
    names = ("rotation", "nose x", "nose y", "mouth opening")
    for k, name in enumerate(names):
        r = np.corrcoef(drv[:, k] - drv[0, k], out[:, k] - out[0, k])[0, 1]
        assert r > 0.85, f"{name}: correlation {r:.3f} with the driver"
    # magnitudes are transferred too (the source face is a bit smaller than the driver's: scaled by iod)
    rot_gain = np.ptp(out[:, 0]) / np.ptp(drv[:, 0])
    assert 0.6 < rot_gain < 1.4, rot_gain
    # the mouth really opens: at the driver's widest, the output's opening grew by > 0.1 iod
    k = int(np.argmax(drv[:, 3]))
    assert out[k, 3] - out[0, 3] > 0.1


def test_background_stays_stable(animated):
    frames, tr, img, outs = animated
    face = lm.main_face(img)
    cx, cy = face.points.mean(0)
    H, W = img.shape[:2]
    yy, xx = np.mgrid[0:H, 0:W]
    far = np.hypot(xx - cx, (yy - cy) * 0.8) > 2.6 * np.ptp(face.points[:, 0])
    for o in outs[::4]:
        d = np.abs(o.astype(np.int16) - img.astype(np.int16)).max(axis=2)
        assert np.mean(d[far] <= 2) > 0.97, "background far from the face moved"

"""MTCNN detection mapped back from downscaled frames, tracking, and the model's crop."""

from __future__ import annotations

import numpy as np
import pytest

from deepsentry.detector.faces import Detection, FaceDetector, crop_face, link_tracks
from tests.mediautil import astronaut_face_on, iou, scene


@pytest.fixture(scope="module")
def detector():
    return FaceDetector(device="cpu")


def xywh(d: Detection):
    x1, y1, x2, y2 = d.box
    return x1, y1, x2 - x1, y2 - y1


@pytest.mark.parametrize("size,scale,pos", [((640, 360), 0.6, (50, 20)), ((1920, 1080), 1.6, (900, 150)),
                                            ((3840, 2160), 3.0, (1500, 300))])
def test_box_in_original_coordinates(detector, size, scale, pos):
    canvas = scene(*size, seed=2)
    truth = astronaut_face_on(canvas, *pos, scale)
    dets = detector.detect([canvas])[0]
    assert len(dets) == 1
    assert iou(xywh(dets[0]), truth) >= 0.5
    # landmarks (eyes, nose, mouth) fall inside the face box
    x, y, w, h = truth
    assert np.all((dets[0].landmarks[:, 0] > x) & (dets[0].landmarks[:, 0] < x + w))
    assert np.all((dets[0].landmarks[:, 1] > y) & (dets[0].landmarks[:, 1] < y + h))


def test_min_face_size_and_no_faces(detector):
    canvas = scene(640, 360, seed=4)
    astronaut_face_on(canvas, 10, 10, 0.25)           # face ~23 px wide
    assert detector.detect([canvas])[0] == []
    small = FaceDetector(device="cpu", min_face=12)
    assert len(small.detect([canvas])[0]) == 1
    assert detector.detect([scene(640, 360, seed=9)])[0] == []


def _det(x, y, s=100.0):
    lm = np.array([[x + 0.3 * s, y + 0.4 * s], [x + 0.7 * s, y + 0.4 * s], [x + 0.5 * s, y + 0.6 * s],
                   [x + 0.35 * s, y + 0.8 * s], [x + 0.65 * s, y + 0.8 * s]], np.float32)
    return Detection((x, y, x + s, y + s), 0.99, lm)


def test_tracks_follow_faces_and_survive_gaps():
    # two faces moving right; the left one is missed in frame 2; a third appears at frame 4
    frames = [
        [_det(0, 0), _det(400, 0)],
        [_det(20, 0), _det(420, 0)],
        [_det(445, 0)],
        [_det(60, 0), _det(460, 0)],
        [_det(80, 0), _det(480, 0), _det(800, 300)],
    ]
    tracks = link_tracks(frames, [0.0, 0.5, 1.0, 1.5, 2.0])
    assert len(tracks) == 3
    left, right, late = tracks
    assert [d.box[0] for d in left.detections] == [0, 20, 60, 80]
    assert left.frame_indices == [0, 1, 3, 4]
    assert [d.box[0] for d in right.detections] == [400, 420, 445, 460, 480]
    assert late.times == [2.0]


def test_fast_motion_links_by_landmarks_not_iou():
    frames = [[_det(0, 0)], [_det(110, 0)], [_det(220, 0)]]     # no overlap between frames
    tracks = link_tracks(frames, [0, 1, 2])
    assert len(tracks) == 1 and len(tracks[0]) == 3
    far = link_tracks([[_det(0, 0)], [_det(900, 500)]], [0, 1])
    assert len(far) == 2


def test_crop_face_is_square_centred_and_padded():
    frame = np.zeros((100, 200, 3), np.uint8)
    frame[40:60, 140:160] = 255                              # white square = the "face"
    crop = crop_face(frame, (140, 40, 160, 60), margin=1.0, size=40)
    assert crop.shape == (40, 40, 3)
    assert crop[20, 20].tolist() == [255, 255, 255] and crop[2, 2].tolist() == [0, 0, 0]
    edge = crop_face(frame, (185, 0, 200, 15), margin=0.5, size=32)   # runs past the frame's corner
    assert edge.shape == (32, 32, 3)

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


# --------------------------------------------------------------------------------------------------
# key frames and carried boxes (FaceDetector.detect_sequence)

def _counting(detector: FaceDetector) -> list[int]:
    """Wrap ``detector._detect_batch`` so the returned list collects how many frames were searched whole."""
    searched: list[int] = []
    whole = detector._detect_batch

    def counted(frames):
        searched.append(len(frames))
        return whole(frames)

    detector._detect_batch = counted
    return searched


def _moving_faces(n: int, size=(1280, 720), scale: float = 0.5, starts=((100, 300),), step=(9, 2),
                  visible=None):
    """``n`` frames of astronaut faces moving by ``step`` px per frame; ``visible[k]`` (default: all) is
    the range of frames in which face k is on the scene. Returns frames and per-frame true boxes."""
    bg = scene(*size, seed=5)
    frames, truth = [], []
    for i in range(n):
        f = bg.copy()
        boxes = []
        for k, (x, y) in enumerate(starts):
            if visible is None or i in visible[k]:
                boxes.append(astronaut_face_on(f, x + step[0] * i, y + step[1] * i, scale))
        frames.append(f)
        truth.append(boxes)
    return frames, truth


def _assert_same_faces(seq, full, truth):
    for i, (s, f, t) in enumerate(zip(seq, full, truth)):
        assert len(s) == len(f) == len(t), f"frame {i}: {len(s)} carried, {len(f)} searched, {len(t)} true"
        for box in t:
            best = max(iou(xywh(d), box) for d in s)
            assert best >= 0.5, f"frame {i}: carried box IoU {best:.2f} with the true face"
        for d in s:                                       # and each lands where the full search puts it
            assert max(iou(xywh(d), xywh(g)) for g in f) >= 0.6


@pytest.mark.parametrize("scale", [0.5, 0.62])           # faces 46-57 px wide on a 1280x720 frame
def test_small_face_found_on_every_frame_with_a_quarter_of_the_searches(scale):
    det = FaceDetector(device="cpu")
    frames, truth = _moving_faces(12, scale=scale)
    full = [det.detect([f])[0] for f in frames]
    searched = _counting(det)
    seq = det.detect_sequence(frames)
    assert sum(searched) == 3                             # frames 0, 4 and 8 of 12
    _assert_same_faces(seq, full, truth)
    assert min(min(d.width, d.height) for fr in seq for d in fr) < 60


def test_two_face_clip_keeps_both_faces_apart(tmp_path):
    from deepsentry.media import open as open_media
    from tests.mediautil import face_clip

    path, truth = face_clip(tmp_path / "two.mp4", seconds=4.0, fps=10, size=(960, 360), faces=2)
    sampled = list(open_media(path).sample(fps=2.5))
    frames = [fr.image for fr in sampled]
    det = FaceDetector(device="cpu")
    full = [det.detect([f])[0] for f in frames]
    seq = det.detect_sequence(frames)
    _assert_same_faces(seq, full, [truth[fr.index] for fr in sampled])
    tracks = link_tracks(seq, [fr.t for fr in sampled])
    assert len(tracks) == 2 and all(len(t) == len(frames) for t in tracks)


def test_faces_coming_and_going_between_key_frames():
    det = FaceDetector(device="cpu")
    # face 0 leaves after frame 5; face 1 enters at frame 2; key frames are 0, 4 and 8
    frames, truth = _moving_faces(10, starts=((100, 300), (800, 200)), step=(4, 0),
                                  visible=[range(0, 6), range(2, 10)])
    seq = det.detect_sequence(frames)
    full = [det.detect([f])[0] for f in frames]
    _assert_same_faces(seq, full, truth)


def test_face_seen_only_between_empty_key_frames_is_found():
    det = FaceDetector(device="cpu")
    frames, truth = _moving_faces(9, visible=[range(1, 4)])   # key frames 0, 4 and 8 show no face
    searched = _counting(det)
    seq = det.detect_sequence(frames)
    assert sum(searched) == 9                            # 3 key frames, then the 6 between them whole
    _assert_same_faces(seq, [det.detect([f])[0] for f in frames], truth)

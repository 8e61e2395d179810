"""Our MTCNN (``deepsentry.detector.mtcnn``) is facenet-pytorch's search, written without torchvision:
on the same frames it finds the same faces with the same scores and landmarks, and loading the daemon's
analyser (face detector and shipped detector) no longer imports torchvision or facenet-pytorch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from deepsentry.detector.mtcnn import MTCNN
from tests.mediautil import astronaut, astronaut_face_on, scene

ROOT = Path(__file__).resolve().parents[2]


def _frames() -> dict[str, np.ndarray]:
    small = scene(640, 360, seed=3)
    astronaut_face_on(small, 300, 120, 0.2)           # a face of about 45 px
    two = scene(960, 540, seed=4)
    astronaut_face_on(two, 80, 40, 0.55)
    astronaut_face_on(two, 560, 90, 0.45)
    big = cv2.resize(astronaut(), (1280, 1280), interpolation=cv2.INTER_CUBIC)[200:920]
    return {"astronaut": astronaut(), "small_face": small, "two_faces": two, "large_face": big,
            "empty": scene(640, 360, seed=5)}


@pytest.fixture(scope="module")
def pair():
    facenet = pytest.importorskip("facenet_pytorch")
    return facenet.MTCNN(keep_all=True, min_face_size=12, post_process=False), MTCNN()


@pytest.mark.parametrize("min_face", [12, 20, 32])
def test_same_faces_scores_and_landmarks_as_facenet(pair, min_face):
    ref, ours = pair
    ref.min_face_size = min_face
    with_faces = 0
    for name, frame in _frames().items():
        boxes, probs, marks = ref.detect(frame[None], landmarks=True)
        got_boxes, got_probs, got_marks = ours.detect(frame[None], min_face=min_face)[0]
        if boxes[0] is None:
            assert len(got_boxes) == 0, name
            continue
        want = [np.asarray(v, np.float64) for v in (boxes[0], probs[0], marks[0])]
        assert got_boxes.shape == want[0].shape, name
        for got, ref_value in zip((got_boxes, got_probs, got_marks), want):
            np.testing.assert_allclose(got, ref_value, atol=1e-2, err_msg=name)
        with_faces += 1
    assert with_faces >= (4 if min_face <= 32 else 3)


def test_batches_keep_frames_apart(pair):
    ref, ours = pair
    ref.min_face_size = 20
    f = _frames()
    batch = np.stack([f["two_faces"], f["two_faces"][:, ::-1], scene(960, 540, seed=6)])
    boxes, _probs = ref.detect(batch)
    got = ours.detect(batch, min_face=20)
    assert [len(g[0]) for g in got] == [0 if b is None else len(b) for b in boxes] == [2, 2, 0]
    for b, g in zip(boxes[:2], got[:2]):
        np.testing.assert_allclose(g[0], np.asarray(b, np.float64), atol=1e-2)


def test_analyser_loads_without_torchvision_or_facenet():
    code = ("import sys; from deepsentry.settings import load_settings; "
            "from deepsentry.detector.pipeline import Analyzer; "
            "a = Analyzer(load_settings(ledger_enabled=False)); assert a.scorer is not None; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'torchvision', 'facenet_pytorch'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_summed_area_resampling_equals_area_interpolation():
    """Pyramid levels and candidate patches read from the summed-area table are what
    ``interpolate(mode="area")`` gives (the reference's resampling), edges and upsampling included."""
    import torch
    import torch.nn.functional as F

    from deepsentry.detector import mtcnn

    frames = np.random.default_rng(0).integers(0, 256, (2, 37, 53, 3), dtype=np.uint8)
    table = mtcnn._integral(torch.as_tensor(frames))
    imgs = torch.as_tensor(frames).permute(0, 3, 1, 2).float()
    for size in [(27, 38), (12, 12), (37, 53), (50, 61)]:
        want = (F.interpolate(imgs, size=size, mode="area") - 127.5) * 0.0078125
        torch.testing.assert_close(mtcnn._area(table, size), want, atol=1e-5, rtol=0)
    # boxes (x1, y1, x2, y2, score) in 1-based pixel terms, some past the edges, one empty after clipping
    boxes = torch.tensor([[3.7, 2.2, 20.9, 30.1, 1], [-5, -4, 10, 8, 1], [40, 20, 70, 45, 1],
                          [30, 30, 33, 32, 1], [60, 50, 80, 60, 1]], dtype=torch.float32)
    inds = torch.tensor([0, 1, 1, 0, 0])
    for size in (24, 48):
        got, ok = mtcnn._patches(table, boxes, inds, size)
        assert ok.tolist() == [True, True, True, True, False]
        want = []
        for (x1, y1, x2, y2), k in zip(boxes[:4, :4].trunc().int().tolist(), inds[:4].tolist()):
            x, y, ex, ey = max(x1, 1), max(y1, 1), min(x2, 53), min(y2, 37)
            want.append(F.interpolate(imgs[k:k + 1, :, y - 1:ey, x - 1:ex], size=(size, size), mode="area"))
        torch.testing.assert_close(got, (torch.cat(want) - 127.5) * 0.0078125, atol=1e-5, rtol=0)

"""Fixtures for the detector tests: real face crops made at test time, tiny trained weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.mediautil import astronaut


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """One torch thread per test: on a shared, loaded CPU, torch's spinning worker threads make small
    models many times slower. Restored afterwards for other areas' tests."""
    import torch

    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(prev)


@pytest.fixture(scope="session")
def mtcnn_box() -> tuple[float, float, float, float]:
    """facenet-pytorch MTCNN's box (x1, y1, x2, y2) of the astronaut's face."""
    from facenet_pytorch import MTCNN

    boxes, probs = MTCNN(keep_all=True, device="cpu").detect(astronaut())
    i = int(np.argmax(probs))
    return tuple(float(v) for v in boxes[i])


@pytest.fixture(scope="session")
def shipped_scorer():
    from deepsentry.detector.inference import default_weights_path, load_scorer

    assert default_weights_path().is_file(), f"shipped weights missing: {default_weights_path()}"
    return load_scorer()


@pytest.fixture(scope="session")
def face_crop_160(mtcnn_box) -> np.ndarray:
    """The astronaut's face cropped like the training set's 160x160 crops."""
    from deepsentry.detector.faces import crop_face
    from deepsentry.detector.model import DetectorCfg

    return crop_face(astronaut(), mtcnn_box, DetectorCfg().margin, 160)


@pytest.fixture(scope="session")
def tiny_index(tmp_path_factory, face_crop_160) -> Path:
    """A small crop index in the shared dataset's format: jittered/recoloured astronaut crops and scene
    patches as 'real', self-blended fakes of them as 'fake', in train and val splits."""
    import csv

    import cv2

    from deepsentry.detector.sbi import face_landmarks, self_blend
    from tests.mediautil import scene

    root = tmp_path_factory.mktemp("tiny_index")
    rng = np.random.default_rng(0)
    lm = face_landmarks(face_crop_160)
    assert lm is not None
    rows = []
    for split, n in (("train", 16), ("val", 8)):
        for k in range(n):
            img = face_crop_160.astype(np.float32)
            img = np.clip((img - 128) * rng.uniform(0.8, 1.2) + 128 + rng.uniform(-20, 20, 3), 0, 255).astype(np.uint8)
            if k % 4 == 3:
                img = cv2.resize(scene(320, 320, seed=k)[80:240, 80:240], (160, 160))
            label = "real"
            if k % 2 == 1:
                img, _ = self_blend(img, lm, rng)
                label = "fake"
            rel = f"{split}/{label}/astro_{split}_{k}.jpg"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / rel), img[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
            rows.append({"path": rel, "split": split, "label": label, "source": "astro" if k % 3 else "other",
                         "group": f"g{split}{k}", "cluster": f"c{split}{k}"})
    with open(root / "index.csv", "w", newline="") as f:
        w = csv.DictWriter(f, list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return root


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory, tiny_index) -> Path:
    """A tiny_test detector trained for one short epoch on ``tiny_index`` through ``train()``."""
    from deepsentry.detector.train import TrainOptions, train

    out = tmp_path_factory.mktemp("tiny_run") / "tiny.pt"
    train(TrainOptions(data=tiny_index, out=out, arch="tiny_test", epochs=1, batch_size=8, workers=0,
                       threads=1, warmup_steps=1, progress=False, val_subset=8))
    return out

"""The shipped two-branch detector (``deepsentry-detector-v15-lite0.pt``, EfficientNet-Lite0 with a blend
and a synthesis branch, a member of the default ensemble): the blend branch orders a real face below its
self-blended fakes, the fused score does too, and the default ensemble's branch scores (this model's two
and the swap model's) reach ``deepsentry check --json``."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from deepsentry.detector.inference import WEIGHTS_DIR, load_scorer
from deepsentry.detector.model import face_crop
from deepsentry.detector.sbi import face_landmarks, self_blend
from tests.mediautil import astronaut, astronaut_face_on, scene

LITE = WEIGHTS_DIR / "deepsentry-detector-v15-lite0.pt"


@pytest.fixture(scope="module")
def lite():
    return load_scorer(LITE)


def test_lite0_is_small_and_carries_its_combiner(lite):
    assert LITE.stat().st_size < 50 * 1024 * 1024
    c = lite.cfg
    assert c.branches == ("blend", "synthesis") and len(c.fusion) == 4 and len(c.branch_temperature) == 2
    assert c.uncertain_band[0] <= c.threshold <= c.uncertain_band[1]


def test_blend_branch_and_fused_score_order_real_below_sbi_fake(lite, mtcnn_box):
    crop160 = face_crop(astronaut(), mtcnn_box, lite.cfg, 160)
    lm = face_landmarks(crop160)
    assert lm is not None
    rng = np.random.default_rng(7)
    fakes = [self_blend(crop160, lm, rng)[0] for _ in range(8)]
    real, *fake_scores = lite.score_crops_detailed([crop160, *fakes])
    assert np.mean([f.branches["blend"] for f in fake_scores]) > real.branches["blend"]
    assert np.mean([f.fake_prob for f in fake_scores]) > real.fake_prob
    assert set(real.branches) == {"blend", "synthesis"}
    assert all(0.0 <= v <= 1.0 for f in fake_scores for v in f.branches.values())


def test_branch_scores_in_check_json(tmp_path):
    canvas = scene(640, 360, seed=5)
    astronaut_face_on(canvas, 120, 10, 0.65)
    img = tmp_path / "face.jpg"
    cv2.imwrite(str(img), canvas[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
    out = subprocess.run([sys.executable, "-m", "deepsentry", "check", str(img), "--json", "--no-provenance",
                          ], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert res["faces"] and set(res["faces"][0]["branches"]) == {"swap", "blend", "synthesis"}
    assert res["verdict"]["branches"] == max(res["faces"], key=lambda f: f["fake_prob"])["branches"]
    assert res["model"]["branches"] == ["swap", "blend", "synthesis"]

"""The shipped two-branch detector (``deepsentry-detector-v15-lite0.pt``, EfficientNet-Lite0 with a blend
and a synthesis branch, a member of the default ensemble): the blend branch orders a real face below its
self-blended fakes, the fused score does too; the default ensemble orders a real face below GAN faces
that no shipped model trained on (``tests/fixtures/gan_faces``: our own DCGAN's), and the default
ensemble's branch scores (this model's two and the swap model's) reach ``deepsentry check --json``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from deepsentry.detector.inference import WEIGHTS_DIR, load_scorer
from deepsentry.detector.model import face_crop
from deepsentry.detector.sbi import face_landmarks, self_blend
from deepsentry.media import load_image
from tests.mediautil import astronaut, astronaut_face_on, scene

LITE = WEIGHTS_DIR / "deepsentry-detector-v15-lite0.pt"
GAN_FACES = Path(__file__).resolve().parents[1] / "fixtures" / "gan_faces"


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


@pytest.fixture(scope="module")
def gan_vs_real(shipped_scorer, mtcnn_box):
    """The default ensemble's scores of the sixteen fixture GAN faces (64 px, brought to crop size as the
    crop index loader does) and of the astronaut's face at full resolution and at the GAN's 64 px."""
    gans = [cv2.resize(load_image(p), (160, 160), interpolation=cv2.INTER_LINEAR)
            for p in sorted(GAN_FACES.glob("*.jpg"))]
    assert len(gans) == 16
    real = face_crop(astronaut(), mtcnn_box, shipped_scorer.cfg, 160)
    real64 = cv2.resize(cv2.resize(real, (64, 64), interpolation=cv2.INTER_AREA), (160, 160),
                        interpolation=cv2.INTER_LINEAR)
    real_full, real_small, *gan = shipped_scorer.score_crops_detailed([real, real64, *gans])
    return gan, (real_full, real_small)


def test_default_orders_a_real_face_below_gan_faces_it_never_trained_on(gan_vs_real):
    gan, reals = gan_vs_real
    fused = np.array([g.fake_prob for g in gan])
    blend = np.array([g.branches["blend"] for g in gan])
    for real in reals:
        assert fused.mean() > real.fake_prob + 0.15, (fused.mean(), real.fake_prob)
        assert (fused > real.fake_prob).sum() >= 12, np.round(fused, 2)
        assert blend.mean() > real.branches["blend"]


@pytest.mark.xfail(strict=True, reason="known limit (model card): the synthesis branch learned diffusion faces and "
                                       "ranks our DCGAN's faces no higher than a real face; the blend and swap "
                                       "branches carry the verdict on them")
def test_synthesis_branch_orders_a_real_face_below_gan_faces(gan_vs_real):
    gan, reals = gan_vs_real
    synthesis = np.array([g.branches["synthesis"] for g in gan])
    assert all((synthesis > real.branches["synthesis"]).sum() >= 12 for real in reals), np.round(synthesis, 3)


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

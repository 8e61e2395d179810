"""The shipped weights: loadable, calibrated, order a real face below self-blended fakes of it, and
explain themselves with a heatmap that looks at the face."""

from __future__ import annotations

import numpy as np

from deepsentry.detector.faces import crop_face
from deepsentry.detector.inference import default_weights_path
from deepsentry.detector.model import face_crop
from deepsentry.detector.sbi import face_landmarks, self_blend
from tests.mediautil import astronaut


def test_shipped_weights_small_and_calibrated(shipped_scorer):
    assert default_weights_path().stat().st_size < 50 * 1024 * 1024
    info = shipped_scorer.info()
    lo, hi = info.uncertain_band
    assert 0.0 < info.threshold < 1.0 and lo <= info.threshold <= hi
    assert info.temperature > 0 and info.trained_on


def test_shipped_model_orders_real_below_sbi_fake(shipped_scorer, mtcnn_box):
    cfg = shipped_scorer.cfg
    # SBI on a 160 px crop (the training resolution), then crop size for the model: same as training
    crop160 = face_crop(astronaut(), mtcnn_box, cfg, 160)
    lm = face_landmarks(crop160)
    assert lm is not None
    rng = np.random.default_rng(7)
    fakes = [self_blend(crop160, lm, rng)[0] for _ in range(8)]
    p_real = shipped_scorer.score_image(crop160)
    p_fakes = shipped_scorer.score_crops(fakes)
    assert np.mean(p_fakes) > p_real, (p_real, p_fakes)
    # the track head agrees: a track of the real face vs a temporally inconsistent SBI track
    s = cfg.input_size
    real_track = np.stack([face_crop(astronaut(), np.add(mtcnn_box, (d, d, d, d)), cfg, s)
                           for d in (-2, 0, 2, 0)])
    fake_track = np.stack([crop_face(f, (0, 0, 160, 160), 0.0, s) for f in fakes[:4]])
    r, f = shipped_scorer.score_tracks([real_track, fake_track])
    assert f.fake_prob > r.fake_prob, (r, f)


def _inner_and_ring(heat: np.ndarray) -> tuple[float, float]:
    """Mean heat in the middle of the crop (the face) and in the outer sixth (hair, background, neck)."""
    s = heat.shape[0]
    b = s // 6
    ring = np.concatenate([heat[:b].ravel(), heat[s - b:].ravel(), heat[b:s - b, :b].ravel(),
                           heat[b:s - b, s - b:].ravel()])
    return float(heat[b:s - b, b:s - b].mean()), float(ring.mean())


def test_gradcam_shape_range_and_focus(shipped_scorer, mtcnn_box):
    """Grad-CAM: a valid heatmap for any crop, and on self-blended fakes that the model flags, the
    evidence for "fake" lies on the blended face, not on the background (on average, and for most of
    them one by one; the real face's "real" evidence is spread out, so it is not asked to focus)."""
    cfg = shipped_scorer.cfg
    s = cfg.input_size
    crop = face_crop(astronaut(), mtcnn_box, cfg)
    heat = shipped_scorer.explain(crop)
    assert heat.shape == (s, s) and heat.dtype == np.float32
    assert heat.min() >= 0.0 and heat.max() <= 1.0 and heat.max() > 0.0
    crop160 = face_crop(astronaut(), mtcnn_box, cfg, 160)
    lm = face_landmarks(crop160)
    rng = np.random.default_rng(7)
    flagged = []
    for _ in range(6):
        fake = crop_face(self_blend(crop160, lm, rng)[0], (0, 0, 160, 160), 0.0, s)
        if shipped_scorer.score_image(fake) > cfg.threshold:
            flagged.append(_inner_and_ring(shipped_scorer.explain(fake, target="fake")))
    assert len(flagged) >= 3, flagged
    inner, ring = np.mean(flagged, axis=0)
    assert inner > 2 * ring, flagged
    assert sum(i > 2 * r for i, r in flagged) >= 0.6 * len(flagged), flagged

"""The shipped weights: loadable, calibrated, order a real face below self-blended fakes of it, and
explain themselves with a heatmap that looks at the face."""

from __future__ import annotations

import cv2
import numpy as np

from deepsentry.detector.faces import crop_face
from deepsentry.detector.inference import default_weights_path
from deepsentry.detector.model import face_crop
from deepsentry.detector.sbi import face_landmarks, hull_mask, self_blend
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


def _on_and_off_blend(heat: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """Mean heat where the self-blend changed the face (its mask, resized to the heatmap) and where it
    did not (background, hair, neck). The crops are tight, so the blend's edge, the cue SBI teaches, lies
    in the crop's outer sixth: a ring around the border would count that evidence as background."""
    m = cv2.resize(mask.astype(np.float32), heat.shape[::-1], interpolation=cv2.INTER_LINEAR) > 0.05
    return float(heat[m].mean()), float(heat[~m].mean())


def test_gradcam_shape_range_and_focus(shipped_scorer, mtcnn_box):
    """Grad-CAM: a valid heatmap for any crop, and on self-blended fakes that the model flags, the
    evidence for "fake" lies on the blended face rather than on what the blend left alone: 1.5x the heat
    there, on average and for most of them one by one (a map blind to the image scores 1x; the blended
    region is most of a tight crop, so a coarse last stage cannot score much higher). The real face's
    "real" evidence is spread out, so it is not asked to focus."""
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
        blended, params = self_blend(crop160, lm, rng)
        fake = crop_face(blended, (0, 0, 160, 160), 0.0, s)
        if shipped_scorer.score_image(fake) > cfg.threshold:
            mask = hull_mask(crop160.shape[:2], lm, np.random.default_rng(params["mask_seed"]))
            assert 0.05 < (mask > 0.05).mean() < 0.95           # both regions exist
            flagged.append(_on_and_off_blend(shipped_scorer.explain(fake, target="fake"), mask))
    assert len(flagged) >= 3, flagged
    on, off = np.mean(flagged, axis=0)
    assert on > 1.5 * off, flagged
    assert sum(i > 1.5 * o for i, o in flagged) >= 0.6 * len(flagged), flagged

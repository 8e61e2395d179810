"""Inference preprocessing equals training preprocessing; the Scorer interface the pipeline uses."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deepsentry.detector.data import TrackDataset, eval_tensor
from deepsentry.detector.faces import crop_face, square_box
from deepsentry.detector.inference import Scorer, TrackScore, load_scorer
from deepsentry.detector.model import (DetectorCfg, create_detector, face_crop, preprocess, preprocess_batch,
                                      save_weights)
from deepsentry.errors import BadRequest, ModelUnavailable
from tests.mediautil import astronaut


def test_inference_crop_equals_training_tensor(mtcnn_box):
    cfg = DetectorCfg(crop_shift=0.1)
    frame = astronaut()
    # inference: the pipeline crops at the model's size with the model's margin and shift, then
    # preprocess_batch
    crop = face_crop(frame, mtcnn_box, cfg)
    assert np.array_equal(crop, crop_face(frame, mtcnn_box, cfg.margin, cfg.input_size, 0.1))
    infer = preprocess_batch([crop], cfg)[0]
    # training/validation: the dataset's deterministic path on the same crop
    ds = TrackDataset(crop[None], np.array([0]), ["astro"], cfg, train=False)
    train_x = ds[0][0][0]
    assert infer.shape == (3, cfg.input_size, cfg.input_size)
    assert torch.equal(infer, train_x)
    assert torch.equal(infer, preprocess(crop, cfg))
    # a dataset-sized (160 px) crop goes through the same resize on both paths
    big = face_crop(frame, mtcnn_box, cfg, 160)
    assert torch.equal(preprocess_batch([big], cfg)[0], eval_tensor(big, cfg))
    # and the normalisation is the configured one
    raw = torch.from_numpy(crop).permute(2, 0, 1).float() / 255
    expect = (raw - torch.tensor(cfg.mean).view(3, 1, 1)) / torch.tensor(cfg.std).view(3, 1, 1)
    assert torch.allclose(infer, expect, atol=1e-6)


def test_view_scale_frames_inference_like_the_training_windows(mtcnn_box):
    """Training sees windows of 0.85-1.0 of each dataset crop; with ``view_scale`` the pipeline's crop of
    a frame and the validation path's view of the dataset-framed crop are the same picture."""
    from deepsentry.detector.augment import TRAIN_VIEW_SCALE, WINDOW_SCALE
    from deepsentry.detector.model import dataset_crop, model_view

    assert WINDOW_SCALE[0] < TRAIN_VIEW_SCALE < WINDOW_SCALE[1]
    cfg = DetectorCfg(crop_shift=0.1, view_scale=TRAIN_VIEW_SCALE)
    frame = astronaut()
    infer = preprocess_batch([face_crop(frame, mtcnn_box, cfg)], cfg)[0]
    framed = dataset_crop(frame, mtcnn_box, cfg, 400)          # how video datasets are cut for training
    assert np.array_equal(framed, crop_face(frame, mtcnn_box, cfg.margin, 400, cfg.crop_shift))
    view = model_view(framed, cfg)
    assert view.shape[:2] == (370, 370)
    val = eval_tensor(framed, cfg)
    # same picture, resampled along two routes: equal up to interpolation
    assert float((infer - val).abs().mean()) < 0.03, float((infer - val).abs().mean())
    # and not the unnarrowed crop
    wide = preprocess_batch([crop_face(frame, mtcnn_box, cfg.margin, cfg.input_size, cfg.crop_shift)], cfg)[0]
    assert float((infer - wide).abs().mean()) > 3 * float((infer - val).abs().mean())
    assert model_view(framed, DetectorCfg()) is framed


def test_margin_matches_training_crops(mtcnn_box):
    """The dataset's crops are tight (brow to chin): the MTCNN box is ~1.3-1.4x their side. The margin
    in the config reproduces that scale from a detector box."""
    cfg = DetectorCfg()
    x1, y1, x2, y2 = mtcnn_box
    side = max(x2 - x1, y2 - y1) * (1 + cfg.margin)
    assert 0.65 * max(x2 - x1, y2 - y1) < side < 0.85 * max(x2 - x1, y2 - y1)


def test_crop_shift_moves_the_crop_down(mtcnn_box):
    x1, y1, x2, y2 = mtcnn_box
    cx0, cy0, s0 = square_box(mtcnn_box, -0.25)
    cx1, cy1, s1 = square_box(mtcnn_box, -0.25, 0.1)
    assert (cx1, s1) == (cx0, s0) and cy1 == pytest.approx(cy0 + 0.1 * (y2 - y1))
    frame = astronaut()
    up, down = crop_face(frame, mtcnn_box, 0.0, 64), crop_face(frame, mtcnn_box, 0.0, 64, 0.25)
    # a quarter box lower: the top rows of the shifted crop are the rows a quarter down the plain one
    assert np.abs(down[:40].astype(int) - up[16:56].astype(int)).mean() < 6
    assert np.abs(down[:40].astype(int) - up[:40].astype(int)).mean() > 12


def test_preprocess_rejects_bad_input():
    cfg = DetectorCfg()
    with pytest.raises(BadRequest):
        preprocess(np.zeros((10, 10), np.uint8), cfg)
    with pytest.raises(BadRequest):
        preprocess(np.zeros((10, 10, 3), np.float32), cfg)


@pytest.fixture(scope="module")
def tiny_scorer(tmp_path_factory) -> Scorer:
    torch.manual_seed(0)
    m = create_detector("tiny_test")
    cfg = m.cfg.replace(temperature_frame=2.0, temperature_track=0.5, threshold=0.45, uncertain_band=(0.4, 0.6))
    path = tmp_path_factory.mktemp("w") / "tiny.pt"
    save_weights(m, path, cfg)
    return load_scorer(path)


def test_scorer_info_and_labels(tiny_scorer):
    info = tiny_scorer.info().to_json()
    for k in ("name", "version", "arch", "input_size", "threshold", "uncertain_band", "temperature",
              "weights_sha256", "trained_on"):
        assert k in info
    assert info["arch"] == "tiny_test" and info["threshold"] == 0.45 and info["uncertain_band"] == [0.4, 0.6]
    assert len(info["weights_sha256"]) == 64
    assert tiny_scorer.label(0.9) == "fake" and tiny_scorer.label(0.1) == "real"
    assert tiny_scorer.label(0.5) == "uncertain"


def test_score_tracks_batched_equals_alone_and_is_calibrated(tiny_scorer):
    s = tiny_scorer.cfg.input_size
    rng = np.random.default_rng(0)
    tracks = [rng.integers(0, 256, (n, s, s, 3), dtype=np.uint8) for n in (4, 1, 7)]
    together = tiny_scorer.score_tracks(tracks)
    assert [len(t.frame_probs) for t in together] == [4, 1, 7]
    for tr, res in zip(tracks, together):
        assert isinstance(res, TrackScore)
        alone = tiny_scorer.score_tracks([tr])[0]
        assert alone.fake_prob == pytest.approx(res.fake_prob, abs=1e-5)
        assert alone.frame_probs == pytest.approx(res.frame_probs, abs=1e-5)
        assert 0.0 <= res.fake_prob <= 1.0
    # per-frame probabilities are the frame head with its temperature; still images use the same head
    m = tiny_scorer.model
    with torch.no_grad():
        logit = m.frame_logits(m.frame_features(preprocess_batch(tracks[1], tiny_scorer.cfg)))[0].item()
    expected = 1 / (1 + np.exp(-logit / 2.0))
    assert together[1].frame_probs[0] == pytest.approx(expected, abs=1e-5)
    assert tiny_scorer.score_image(tracks[1][0]) == pytest.approx(expected, abs=1e-5)
    assert tiny_scorer.score_tracks([]) == []
    with pytest.raises(BadRequest):
        tiny_scorer.score_tracks([np.zeros((0, s, s, 3), np.uint8)])


def test_track_score_modes_combine_the_lstm_and_the_frames_as_stored(tiny_scorer, tmp_path):
    """``track_score`` is read from the weights file: "mean" is the track's mean calibrated frame logit,
    "lstm" the LSTM's calibrated logit, "lstm+mean" the mean of the two; an unknown mode is refused."""
    s = tiny_scorer.cfg.input_size
    track = np.random.default_rng(3).integers(0, 256, (6, s, s, 3), dtype=np.uint8)
    logit = lambda p: float(np.log(p / (1 - p)))                          # noqa: E731
    scores = {}
    for how in ("lstm", "mean", "lstm+mean"):
        path = tmp_path / f"{how}.pt"
        save_weights(tiny_scorer.model, path, tiny_scorer.cfg.replace(track_score=how))
        scorer = load_scorer(path)
        assert scorer.info().to_json()["track_score"] == how
        scores[how] = scorer.score_tracks([track])[0]
    frames = np.mean([logit(p) for p in scores["mean"].frame_probs])
    assert logit(scores["mean"].fake_prob) == pytest.approx(frames, abs=1e-4)
    assert abs(logit(scores["lstm"].fake_prob) - frames) > 1e-3        # the LSTM reads the track its own way
    both = 0.5 * (logit(scores["lstm"].fake_prob) + frames)
    assert logit(scores["lstm+mean"].fake_prob) == pytest.approx(both, abs=1e-4)
    assert scores["lstm"].frame_probs == pytest.approx(scores["mean"].frame_probs, abs=1e-6)
    with pytest.raises(BadRequest, match="track_score"):
        DetectorCfg.from_dict({**tiny_scorer.cfg.to_dict(), "track_score": "max"})


def test_tta_flip_averages_a_crop_and_its_mirror(tmp_path):
    torch.manual_seed(1)
    m = create_detector("tiny_test")
    path = tmp_path / "tta.pt"
    save_weights(m, path, m.cfg.replace(tta_flip=True, temperature_frame=1.5))
    tta = load_scorer(path)
    s = tta.cfg.input_size
    rng = np.random.default_rng(5)
    crop = rng.integers(0, 256, (s, s, 3), dtype=np.uint8)
    mirror = np.ascontiguousarray(crop[:, ::-1])
    # a mirrored face is the same evidence: with TTA both score the same, frame and track heads alike
    assert tta.score_image(crop) == pytest.approx(tta.score_image(mirror), abs=1e-6)
    a, b = tta.score_tracks([np.stack([crop, crop]), np.stack([mirror, mirror])])
    assert a.fake_prob == pytest.approx(b.fake_prob, abs=1e-6)
    # and the score is the mean of the two views' logits
    m.eval()
    with torch.no_grad():
        x = preprocess_batch([crop, mirror], m.cfg)
        logits = m.frame_logits(m.frame_features(x))
    expected = 1 / (1 + np.exp(-float(logits.mean()) / 1.5))
    assert tta.score_image(crop) == pytest.approx(expected, abs=1e-5)
    assert abs(float(logits[0] - logits[1])) > 1e-4     # the untrained net is not mirror-symmetric itself


def test_load_scorer_explicit_missing_path(tmp_path):
    with pytest.raises(ModelUnavailable):
        load_scorer(tmp_path / "missing.pt")

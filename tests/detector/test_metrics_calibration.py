"""Metrics against hand-computed cases; calibration math on synthetic logits."""

from __future__ import annotations

import math

import numpy as np
import pytest

from deepsentry.detector.calibrate import (choose_threshold, choose_uncertain_band, fit_logistic, fit_temperature,
                                           label_for, sigmoid)
from deepsentry.detector.metrics import auc, draw_roc_png, eer, roc_curve, summary, threshold_metrics


def test_auc_hand_computed():
    # pairs (fake, real): (0.35>0.1) yes, (0.35>0.4) no, (0.8>0.1) yes, (0.8>0.4) yes -> 3/4
    assert auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert auc([0, 1], [0.2, 0.9]) == 1.0
    assert auc([0, 1], [0.9, 0.2]) == 0.0
    # a tie between a real and a fake counts one half
    assert auc([0, 1, 0, 1], [0.5, 0.5, 0.1, 0.9]) == pytest.approx(0.875)
    assert math.isnan(auc([1, 1], [0.2, 0.3]))


def test_roc_points():
    fpr, tpr, thr = roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    assert fpr.tolist() == [0.0, 0.0, 0.5, 0.5, 1.0]
    assert tpr.tolist() == [0.0, 0.5, 0.5, 1.0, 1.0]
    assert thr[0] == np.inf


def test_eer_hand_computed():
    # perfectly separated: 0; reversed: 1
    assert eer([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 0.0
    assert eer([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1]) == 1.0
    # 4 reals, 4 fakes, one of each on the wrong side: FPR = FNR = 1/4 at the crossing
    y = [0, 0, 0, 0, 1, 1, 1, 1]
    s = [0.1, 0.2, 0.3, 0.7, 0.4, 0.8, 0.85, 0.9]
    assert eer(y, s) == pytest.approx(0.25)


def test_threshold_metrics_hand_computed():
    m = threshold_metrics([0, 0, 1, 1, 1], [0.2, 0.6, 0.7, 0.4, 0.9], 0.5)
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (2, 1, 1, 1)
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3)
    s = summary([0, 0, 1, 1, 1], [0.2, 0.6, 0.7, 0.4, 0.9], 0.5)
    assert s["n"] == 5 and s["n_fake"] == 3 and s["auc"] == pytest.approx(5 / 6)


def test_temperature_recovers_scale():
    rng = np.random.default_rng(0)
    true_logit = rng.normal(0, 2.0, 20000)
    y = (rng.random(true_logit.size) < sigmoid(true_logit)).astype(int)
    # an overconfident model reports 3x the true logit: the fitted temperature undoes it
    assert fit_temperature(3.0 * true_logit, y) == pytest.approx(3.0, rel=0.08)
    assert fit_temperature(0.5 * true_logit, y) == pytest.approx(0.5, rel=0.08)
    assert fit_temperature(true_logit, np.ones_like(y)) == 1.0     # one class: identity


def test_threshold_and_band():
    y = np.array([0] * 50 + [1] * 50)
    p = np.r_[np.linspace(0.0, 0.6, 50), np.linspace(0.4, 1.0, 50)]
    t = choose_threshold(p, y)
    assert 0.4 <= t <= 0.61
    lo, hi = choose_uncertain_band(p, y, t, max_error=0.1)
    assert lo <= t <= hi
    assert lo == pytest.approx(np.quantile(p[y == 1], 0.1), abs=1e-3)
    assert hi == pytest.approx(np.quantile(p[y == 0], 0.9), abs=1e-3)
    # a perfectly separating model has no uncertain band beyond the threshold itself
    p2 = np.r_[np.linspace(0.0, 0.3, 50), np.linspace(0.7, 1.0, 50)]
    t2 = choose_threshold(p2, y)
    assert choose_uncertain_band(p2, y, t2) == (round(t2, 4), round(t2, 4))
    assert label_for(0.9, 0.5, (0.4, 0.6)) == "fake"
    assert label_for(0.1, 0.5, (0.4, 0.6)) == "real"
    assert label_for(0.55, 0.5, (0.4, 0.6)) == "uncertain"
    assert label_for(0.5, 0.5, (0.5, 0.5)) == "fake"


def test_roc_png(tmp_path):
    import cv2

    out = tmp_path / "roc.png"
    draw_roc_png({"a": ([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])}, out)
    img = cv2.imread(str(out))
    assert img is not None and img.shape == (480, 480, 3)
    # the curve is drawn in colour, not only the grey/black frame
    assert np.any(np.abs(img[:, :, 0].astype(int) - img[:, :, 2].astype(int)) > 80)


def test_logistic_combiner_recovers_known_weights():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1.5, (4000, 2))
    y = (rng.random(4000) < sigmoid(2.0 * x[:, 0] - 1.0 * x[:, 1])).astype(int)    # balanced by symmetry
    w1, w2, b = fit_logistic(x, y)
    assert w1 == pytest.approx(2.0, abs=0.2) and w2 == pytest.approx(-1.0, abs=0.15) and abs(b) < 0.15


def test_logistic_combiner_stays_finite_and_right_on_separable_data():
    # val crops that one logit separates perfectly, at a large scale, with an unbalanced second column:
    # a full Newton step overshoots here; the fit must still rank and split the classes, with weights a
    # scorer can use (not thousands, not a bias of -1e12)
    rng = np.random.default_rng(1)
    n = 600
    y = np.r_[np.zeros(n), np.ones(n // 3)].astype(int)
    x = np.c_[np.where(y == 1, rng.uniform(4, 30, len(y)), rng.uniform(-30, -4, len(y))),
              rng.normal(0, 5, len(y)) + 40 * y]
    coef = fit_logistic(x, y)
    assert all(math.isfinite(c) and abs(c) < 100 for c in coef), coef
    p = sigmoid(x @ np.array(coef[:2]) + coef[2])
    assert p[y == 1].min() > 0.5 > p[y == 0].max()

"""Calibration: temperature scaling (Guo et al. 2017) and the operating threshold / uncertain band.

All fitted on the validation split; the results are stored in the weights file's config.
"""

from __future__ import annotations

import math

import numpy as np


def fit_temperature(logits, labels, lo: float = 0.05, hi: float = 20.0, iters: int = 100) -> float:
    """T > 0 minimising the binary NLL of sigmoid(logits / T) against labels (golden-section search on
    log T; the NLL is unimodal in T)."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if z.size == 0 or y.min() == y.max():
        return 1.0

    def nll(log_t: float) -> float:
        s = z / math.exp(log_t)
        # log(1 + exp(-|s|)) + max(s, 0) - y s  == BCE with logits
        return float(np.mean(np.logaddexp(0.0, s) - y * s))

    a, b = math.log(lo), math.log(hi)
    g = (math.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = nll(c), nll(d)
    for _ in range(iters):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = nll(c)
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = nll(d)
    return float(math.exp((a + b) / 2))


def fit_logistic(x, labels, l2: float = 1e-3, iters: int = 100) -> tuple[float, ...]:
    """Weights and bias (w_1..w_k, b) of a logistic regression of labels on the columns of ``x`` (N, k),
    by Newton's method with a small L2 penalty on the weights: the calibrated combiner of several
    logits. Classes are weighted equally, so the fit does not lean to the larger one.

    Each Newton step is halved until the penalised loss goes down (Armijo backtracking): a full step can
    overshoot when the classes are (nearly) separable on val, and once did, leaving weights in the
    thousands and a bias of -1e12 that made every score 0. The penalised loss is strictly convex in the
    weights, so this converges; a result that is still not finite raises ``ValueError``."""
    X = np.c_[np.asarray(x, dtype=np.float64), np.ones(len(x))]
    y = np.asarray(labels, dtype=np.float64)
    if y.size == 0 or y.min() == y.max():
        return tuple([1.0] + [0.0] * (X.shape[1] - 1))
    sw = np.where(y == 1, 0.5 / y.mean(), 0.5 / (1 - y.mean()))
    reg = np.full(X.shape[1], l2 * len(y))
    reg[-1] = 1e-6 * len(y)                 # a trace of penalty on the bias keeps the Hessian regular

    def loss(b: np.ndarray) -> float:
        z = X @ b
        return float(np.sum(sw * (np.logaddexp(0.0, z) - y * z)) + 0.5 * np.sum(reg * b * b))

    beta = np.zeros(X.shape[1])
    beta[0] = 1.0
    f = loss(beta)
    for _ in range(iters):
        p = sigmoid(X @ beta)
        g = X.T @ (sw * (p - y)) + reg * beta
        h = (X * (sw * p * (1 - p))[:, None]).T @ X + np.diag(reg)
        step = np.linalg.solve(h, g)
        t, decrease = 1.0, float(g @ step)
        while t > 1e-12:
            cand = beta - t * step
            fc = loss(cand)
            if np.isfinite(fc) and fc <= f - 1e-4 * t * decrease:
                break
            t *= 0.5
        else:
            break                            # no descent left along Newton's direction: converged
        beta, f = cand, fc
        if np.abs(t * step).max() < 1e-8:
            break
    if not np.all(np.isfinite(beta)):
        raise ValueError("logistic calibration did not converge")
    return tuple(float(v) for v in beta)


def sigmoid(x):
    x = np.asarray(x, dtype=np.float64)
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def choose_threshold(probs, labels) -> float:
    """The threshold maximising balanced accuracy (mean of real and fake recall) on validation; ties go
    to the one nearest 0.5."""
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    if y.size == 0 or y.min() == y.max():
        return 0.5
    cands = np.unique(np.r_[p, 0.5])
    best, best_t = -1.0, 0.5
    for t in cands:
        pred = p >= t
        bal = 0.5 * (np.mean(pred[y == 1]) + np.mean(~pred[y == 0]))
        if bal > best + 1e-12 or (abs(bal - best) <= 1e-12 and abs(t - 0.5) < abs(best_t - 0.5)):
            best, best_t = bal, float(t)
    return best_t


def choose_uncertain_band(probs, labels, threshold: float, max_error: float = 0.1) -> tuple[float, float]:
    """[lo, hi] around the threshold where a verdict would be unreliable: ``lo`` is the lowest score at
    which at most ``max_error`` of val fakes fall below it, ``hi`` the score above which at most
    ``max_error`` of val reals remain. Outside the band a 'real'/'fake' verdict is right at least
    (1 - max_error) of the time for that class on validation; a perfect model gets an empty band at
    the threshold."""
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    if y.size == 0 or y.min() == y.max():
        return float(threshold), float(threshold)
    lo = float(np.quantile(p[y == 1], max_error))
    hi = float(np.quantile(p[y == 0], 1.0 - max_error))
    lo, hi = min(lo, threshold), max(hi, threshold)
    return round(lo, 4), round(hi, 4)


def label_for(p: float, threshold: float, band: tuple[float, float]) -> str:
    lo, hi = band
    if lo < hi and lo <= p <= hi:
        return "uncertain"
    return "fake" if p >= threshold else "real"

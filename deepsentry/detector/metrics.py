"""Binary detection metrics (numpy only): ROC, AUC, EER, threshold metrics, and a ROC plot drawn with cv2.

Convention: label 1 = fake (positive), score = probability of fake.
"""

from __future__ import annotations

import numpy as np


def roc_curve(labels, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds), thresholds descending, starting at (0, 0) with threshold +inf.
    Tied scores form one point."""
    y = np.asarray(labels, dtype=np.int64)
    s = np.asarray(scores, dtype=np.float64)
    if y.size == 0:
        return np.array([0.0, 1.0]), np.array([0.0, 1.0]), np.array([np.inf, -np.inf])
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    distinct = np.where(np.diff(s))[0]
    idx = np.r_[distinct, y.size - 1]
    tps = np.cumsum(y)[idx].astype(np.float64)
    fps = (idx + 1 - tps).astype(np.float64)
    P, N = max(tps[-1], 0.0), max(fps[-1], 0.0)
    tpr = np.r_[0.0, tps / P] if P > 0 else np.r_[0.0, np.zeros_like(tps)]
    fpr = np.r_[0.0, fps / N] if N > 0 else np.r_[0.0, np.zeros_like(fps)]
    return fpr, tpr, np.r_[np.inf, s[idx]]


def auc(labels, scores) -> float:
    """Area under the ROC curve (ties count one half); NaN when only one class is present."""
    y = np.asarray(labels, dtype=np.int64)
    if y.size == 0 or y.min() == y.max():
        return float("nan")
    fpr, tpr, _ = roc_curve(labels, scores)
    return float(np.trapezoid(tpr, fpr) if hasattr(np, "trapezoid") else np.trapz(tpr, fpr))


def eer(labels, scores) -> float:
    """Equal error rate: where the false positive rate equals the false negative rate (interpolated)."""
    y = np.asarray(labels, dtype=np.int64)
    if y.size == 0 or y.min() == y.max():
        return float("nan")
    fpr, tpr, _ = roc_curve(labels, scores)
    fnr = 1.0 - tpr
    d = fpr - fnr                       # increasing from -1 to +1
    i = int(np.searchsorted(d, 0.0))
    if i == 0:
        return float(fpr[0])
    x0, x1 = d[i - 1], d[i]
    w = 0.0 if x1 == x0 else (0.0 - x0) / (x1 - x0)
    return float(fpr[i - 1] + w * (fpr[i] - fpr[i - 1]))


def threshold_metrics(labels, scores, threshold: float = 0.5) -> dict:
    """Accuracy, precision, recall, F1 (fake = positive) at ``score >= threshold``, plus the confusion counts."""
    y = np.asarray(labels, dtype=np.int64)
    pred = np.asarray(scores, dtype=np.float64) >= threshold
    tp = int(np.sum(pred & (y == 1)))
    fp = int(np.sum(pred & (y == 0)))
    fn = int(np.sum(~pred & (y == 1)))
    tn = int(np.sum(~pred & (y == 0)))
    n = tp + fp + fn + tn
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"accuracy": (tp + tn) / n if n else float("nan"), "precision": precision, "recall": recall,
            "f1": f1, "tp": tp, "fp": fp, "fn": fn, "tn": tn}


def summary(labels, scores, threshold: float = 0.5) -> dict:
    """n, auc, eer and the threshold metrics."""
    y = np.asarray(labels)
    return {"n": int(y.size), "n_fake": int(np.sum(y == 1)), "n_real": int(np.sum(y == 0)),
            "auc": auc(labels, scores), "eer": eer(labels, scores), "threshold": float(threshold),
            **threshold_metrics(labels, scores, threshold)}


def draw_roc_png(curves: dict[str, tuple], path, size: int = 480) -> None:
    """Write a ROC plot PNG with cv2: ``curves`` maps a legend label to (labels, scores)."""
    import cv2

    pad_l, pad_b, pad_t, pad_r = 60, 50, 20, 20
    W = H = size
    img = np.full((H, W, 3), 255, np.uint8)
    x0, y0, x1, y1 = pad_l, pad_t, W - pad_r, H - pad_b

    def pt(fx, fy):
        return int(round(x0 + fx * (x1 - x0))), int(round(y1 - fy * (y1 - y0)))

    for g in np.linspace(0, 1, 6):
        cv2.line(img, pt(g, 0), pt(g, 1), (225, 225, 225), 1)
        cv2.line(img, pt(0, g), pt(1, g), (225, 225, 225), 1)
        cv2.putText(img, f"{g:.1f}", (pt(g, 0)[0] - 12, y1 + 18), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
        cv2.putText(img, f"{g:.1f}", (x0 - 32, pt(0, g)[1] + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
    cv2.rectangle(img, (x0, y0), (x1, y1), (0, 0, 0), 1)
    cv2.line(img, pt(0, 0), pt(1, 1), (160, 160, 160), 1, cv2.LINE_AA)
    cv2.putText(img, "false positive rate", (x0 + 110, H - 12), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)
    cv2.putText(img, "TPR", (8, y0 + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)
    colours = [(200, 60, 30), (30, 120, 220), (40, 160, 40), (150, 40, 160), (0, 0, 0)]
    for k, (name, (labels, scores)) in enumerate(curves.items()):
        fpr, tpr, _ = roc_curve(labels, scores)
        c = colours[k % len(colours)]
        pts = np.array([pt(a, b) for a, b in zip(fpr, tpr)], np.int32).reshape(-1, 1, 2)
        cv2.polylines(img, [pts], False, c, 2, cv2.LINE_AA)
        a = auc(labels, scores)
        cv2.putText(img, f"{name}  AUC {a:.3f}", (x0 + 130, y1 - 12 - 18 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.45, c, 1,
                    cv2.LINE_AA)
    cv2.imwrite(str(path), img[:, :, ::-1])

"""``deepsentry eval``: score a labelled crop index or a real/ fake/ media folder and report metrics.

- Crop index CSV (``index.csv`` format): each row's crop is scored directly by the per-frame head
  (crops are already faces; the model sees their centre ``cfg.view_scale``, as in training). Metrics are frame (= item) level, with a per-source breakdown.
- Folder with ``real/`` and ``fake/``: every image/video goes through the daemon's own pipeline
  (``deepsentry.detector.pipeline.Analyzer``: decode, face detection, tracks, scoring). Media level
  uses the verdict's fake_prob (the most suspicious face), frame level every scored face frame. Media
  where no face is found are counted and listed, not dropped silently (they count as errors in the
  media-level accuracy: no verdict was possible).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from deepsentry.detector.metrics import draw_roc_png, summary
from deepsentry.errors import BadRequest, ModelUnavailable
from deepsentry.media import kind_from_name, load_image


@dataclass(frozen=True)
class Evaluation:
    """Metrics of one evaluation (JSON-able, what ``deepsentry eval --json`` prints) and the label/score
    arrays behind each ROC curve (for ``--roc-png``; not JSON)."""

    metrics: Mapping[str, Any]
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]]


def _clean(obj):
    """NaN/inf -> None so the report is strict JSON."""
    if isinstance(obj, float):
        return None if (math.isnan(obj) or math.isinf(obj)) else obj
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.generic):
        return _clean(obj.item())
    return obj


def _scorer(weights: Path | None, device: str):
    from deepsentry.detector.inference import load_scorer

    scorer = load_scorer(weights, device=device)
    if scorer is None:
        raise ModelUnavailable("no detector weights installed; pass --weights FILE")
    return scorer


def evaluate_index(index_csv: Path, scorer, split: str = "val", batch: int = 256) -> Evaluation:
    """Crop-level metrics of a crop index (rows of ``split``, or all with split='all')."""
    from deepsentry.detector.data import read_index
    from deepsentry.detector.model import model_view

    rows = read_index(Path(index_csv))
    if split != "all":
        rows = [r for r in rows if r.split == split]
    if not rows:
        raise BadRequest(f"{index_csv}: no rows in split {split!r}")
    root = Path(index_csv).parent
    scores: list[float] = []
    for i in range(0, len(rows), batch):
        crops = [model_view(load_image(root / r.path), scorer.cfg) for r in rows[i:i + batch]]
        scores.extend(scorer.score_crops(crops))
    y = np.array([r.label for r in rows])
    p = np.array(scores)
    thr = scorer.cfg.threshold
    res = {**summary(y, p, thr), "level": "frame", "split": split}
    res["per_source"] = {}
    src = np.array([r.source for r in rows])
    for s in sorted(set(src.tolist())):
        m = src == s
        res["per_source"][s] = summary(y[m], p[m], thr)
    # each source's reals against all fakes (a source with only reals otherwise has no AUC)
    fakes = y == 1
    for s in sorted(set(src[y == 0].tolist())):
        m = (src == s) & (y == 0) | fakes
        res["per_source"][s]["auc_vs_all_fakes"] = summary(y[m], p[m], thr)["auc"]
    res["labels"] = {"uncertain": int(sum(scorer.label(v) == "uncertain" for v in p))}
    res["items"] = [{"path": r.path, "label": "fake" if r.label else "real", "source": r.source,
                     "score": round(float(s), 5), "verdict": scorer.label(float(s))} for r, s in zip(rows, p)]
    curves = {"all": (y, p), **{s: (y[src == s], p[src == s]) for s in res["per_source"]
                                if len(set(y[src == s].tolist())) == 2}}
    return Evaluation(res, curves)


def _media_files(folder: Path) -> list[tuple[Path, int]]:
    out = []
    for sub, label in (("real", 0), ("fake", 1)):
        d = folder / sub
        if not d.is_dir():
            continue
        for p in sorted(d.rglob("*")):
            if p.is_file() and kind_from_name(p) is not None:
                out.append((p, label))
    if not out:
        raise BadRequest(f"{folder}: expected real/ and fake/ subfolders with images or videos")
    return out


def evaluate_folder(folder: Path, scorer, settings=None, analyzer=None) -> Evaluation:
    """Media-level and frame-level metrics of a real/ fake/ folder through the daemon's pipeline."""
    from deepsentry.detector.pipeline import Analyzer
    from deepsentry.errors import DeepsentryError
    from deepsentry.settings import load_settings

    settings = settings or load_settings(device=scorer.device)
    analyzer = analyzer or Analyzer(settings, scorer=scorer)
    thr = scorer.cfg.threshold
    items, no_face, failed = [], [], []
    fy, fp = [], []
    for path, label in _media_files(Path(folder)):
        rel = str(path.relative_to(folder))
        try:
            result = analyzer.analyze_file(path)
        except DeepsentryError as exc:
            failed.append({"path": rel, "label": "fake" if label else "real", "error": exc.code})
            continue
        v = result.verdict
        kind = result.media.kind
        if v.fake_prob is None:
            no_face.append({"path": rel, "label": "fake" if label else "real", "kind": kind})
            continue
        # the alternative to the LSTM: each track's mean frame probability, the media's most suspicious track
        means = [float(np.mean([f.p for f in face.frame_probs])) for face in result.faces if face.frame_probs]
        items.append({"path": rel, "label": "fake" if label else "real", "kind": kind,
                      "score": float(v.fake_prob), "verdict": v.label, "faces": len(result.faces),
                      "mean_of_frames": max(means) if means else float(v.fake_prob)})
        for face in result.faces:
            for f in face.frame_probs:
                fy.append(label)
                fp.append(float(f.p))
    y = np.array([1 if it["label"] == "fake" else 0 for it in items])
    p = np.array([it["score"] for it in items])
    res = {**summary(y, p, thr), "level": "media"}
    # media without a verdict are neither right nor wrong above; also report accuracy counting them as errors
    n_all = len(items) + len(no_face) + len(failed)
    res["accuracy_incl_no_face"] = (res["tp"] + res["tn"]) / n_all if n_all else None
    res["frame_level"] = summary(np.array(fy), np.array(fp), thr)
    res["mean_of_frames"] = summary(y, np.array([it["mean_of_frames"] for it in items]), thr)
    res["per_kind"] = {k: summary(y[m], p[m], thr) for k in ("image", "video")
                       if (m := np.array([it["kind"] == k for it in items], bool)).any()}
    res["no_face"] = {"count": len(no_face), "items": no_face}
    res["failed"] = {"count": len(failed), "items": failed}
    res["items"] = items
    return Evaluation(res, {"media": (y, p), "frame": (np.array(fy), np.array(fp))})


def evaluate_path(path: Path, weights: Path | None = None, split: str = "val", roc_png: Path | None = None,
                  device: str = "cpu", scorer=None) -> dict:
    """Evaluate a crop index CSV (or a folder holding index.csv) or a real/ fake/ media folder."""
    path = Path(path)
    scorer = scorer or _scorer(weights, device)
    if path.is_file() and path.suffix.lower() == ".csv":
        ev = evaluate_index(path, scorer, split)
    elif path.is_dir() and (path / "index.csv").is_file() and not (path / "real").is_dir():
        ev = evaluate_index(path / "index.csv", scorer, split)
    elif path.is_dir():
        ev = evaluate_folder(path, scorer)
    else:
        raise BadRequest(f"{path}: not a crop index CSV or a folder with real/ and fake/")
    res, curves = dict(ev.metrics), ev.curves
    if roc_png:
        draw_roc_png({k: v for k, v in curves.items() if len(v[0]) and len(set(v[0].tolist())) == 2}, roc_png)
        res["roc_png"] = str(roc_png)
    res["model"] = scorer.info().to_json()
    return _clean(res)


def format_report(res: dict) -> str:
    def line(name, m):
        if m.get("auc") is None and not m.get("n"):
            return f"  {name:<14} n=0"
        auc = "n/a" if m.get("auc") is None else f"{m['auc']:.4f}"
        eer = "n/a" if m.get("eer") is None else f"{m['eer']:.4f}"
        return (f"  {name:<14} n={m['n']:<6} AUC {auc}  EER {eer}  acc {m['accuracy']:.4f}  "
                f"prec {m['precision']:.4f}  rec {m['recall']:.4f}  F1 {m['f1']:.4f}")

    out = [f"model {res['model']['name']} v{res['model']['version']} ({res['model']['arch']}), "
           f"threshold {res['threshold']:.4f}, uncertain band {res['model']['uncertain_band']}"]
    out.append(f"{res['level']}-level:")
    out.append(line("all", res))
    for s, m in res.get("per_source", {}).items():
        out.append(line(s, m) + (f"  (reals vs all fakes AUC {m['auc_vs_all_fakes']:.4f})"
                                 if m.get("auc_vs_all_fakes") is not None and m.get("auc") is None else ""))
    if "mean_of_frames" in res:
        out.append(line("mean of frames", res["mean_of_frames"]) + "  (each track's mean frame score, not the LSTM)")
    if "frame_level" in res:
        out.append("frame-level:")
        out.append(line("all frames", res["frame_level"]))
        for k, m in res.get("per_kind", {}).items():
            out.append(line(f"{k}s", m))
    if "no_face" in res:
        out.append(f"no face found: {res['no_face']['count']}"
                   + "".join(f"\n  {it['label']}: {it['path']}" for it in res["no_face"]["items"]))
        if res["failed"]["count"]:
            out.append(f"failed to decode: {res['failed']['count']}"
                       + "".join(f"\n  {it['path']} ({it['error']})" for it in res["failed"]["items"]))
    if res.get("roc_png"):
        out.append(f"ROC curve: {res['roc_png']}")
    return "\n".join(out)

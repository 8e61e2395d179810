"""Several detectors behind the one ``Scorer`` interface, fused by a calibrated combiner.

No single network here is best everywhere: the from-scratch MobileNetV3 (v9) is the strongest on DFDC face
swaps, the ImageNet-started Lite0 with its blend and synthesis heads on GAN edits and diffusion faces.
An ensemble scores the same face crops with each member, at the member's own input size and
normalisation (the members share the crop framing: margin, shift and view), and a logistic regression
over the members' calibrated logits, fitted on a validation split that mixes every family (classes
weighted equally), gives the fused logit. Threshold and uncertain band are chosen on the fused scores. Its Grad-CAM map mixes the members' maps in the
proportions they pushed the verdict.

The ensemble is a JSON manifest beside its members' weights files::

    {"format": "deepsentry-ensemble/1", "name": ..., "version": ..., "track_score": "mean",
     "members": [{"file": "deepsentry-detector-v9.pt", "sha256": ..., "branch": "swap"},
                 {"file": "deepsentry-detector-v15-lite0.pt", "sha256": ...}],
     "combiner": [w_1, ..., w_k, b], "threshold": ..., "uncertain_band": [lo, hi], "trained_on": ...}

A member's file must have the SHA-256 the manifest names, so a manifest never fuses weights its combiner
was not fitted on. Each member appears in the result's ``branches``: under its ``branch`` name (its own
calibrated probability), or, for a member with branch heads, as those heads.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deepsentry.detector.inference import (
    Scorer,
    ScorerBase,
    TrackScore,
    _sigmoid,
    check_tracks,
    track_logit,
)
from deepsentry.detector.result import TRACK_SCORES
from deepsentry.detector.threads import on_torch_thread
from deepsentry.errors import BadRequest, ModelUnavailable

FORMAT = "deepsentry-ensemble/1"


@dataclass(frozen=True)
class Member:
    file: str
    sha256: str
    branch: str | None = None          # its name in ``branches``; None: the member's own branch heads

    def to_json(self) -> dict:
        return {"file": self.file, "sha256": self.sha256, **({"branch": self.branch} if self.branch else {})}


@dataclass(frozen=True)
class EnsembleSpec:
    """What a manifest holds: the members, the combiner over their calibrated logits, the verdict's
    threshold and uncertain band on the fused probability, and how a track's score is made."""

    name: str
    version: str
    members: tuple[Member, ...]
    combiner: tuple[float, ...]        # one weight per member, then the bias
    threshold: float
    uncertain_band: tuple[float, float]
    track_score: str = "mean"
    trained_on: str = ""

    def __post_init__(self):
        if not self.members or len(self.combiner) != len(self.members) + 1:
            raise ModelUnavailable("an ensemble needs members and one combiner weight per member plus a bias")
        if self.track_score not in TRACK_SCORES:
            raise ModelUnavailable(f"unknown track_score {self.track_score!r}: one of {', '.join(TRACK_SCORES)}")
        if not all(math.isfinite(v) for v in (*self.combiner, self.threshold, *self.uncertain_band)):
            raise ModelUnavailable("the ensemble's combiner and calibration must be finite numbers")

    def to_json(self) -> dict:
        return {"format": FORMAT, "name": self.name, "version": self.version,
                "members": [m.to_json() for m in self.members], "combiner": list(self.combiner),
                "threshold": self.threshold, "uncertain_band": list(self.uncertain_band),
                "track_score": self.track_score, "trained_on": self.trained_on}

    @classmethod
    def from_json(cls, d: dict) -> EnsembleSpec:
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise ModelUnavailable(f"not a deepsentry ensemble manifest (format {FORMAT})")
        try:
            members = tuple(Member(str(m["file"]), str(m["sha256"]), m.get("branch")) for m in d["members"])
            return cls(name=str(d["name"]), version=str(d["version"]), members=members,
                       combiner=tuple(float(v) for v in d["combiner"]), threshold=float(d["threshold"]),
                       uncertain_band=(float(d["uncertain_band"][0]), float(d["uncertain_band"][1])),
                       track_score=str(d.get("track_score", "mean")), trained_on=str(d.get("trained_on", "")))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ModelUnavailable(f"malformed ensemble manifest: {exc}") from exc


class EnsembleScorer(ScorerBase):
    """The ``Scorer`` interface over several member scorers (see the module docstring)."""

    def __init__(self, spec: EnsembleSpec, members: list[Scorer], path: Path, device: str = "cpu"):
        self.spec = spec
        self.members = members
        self.weights_path = Path(path)
        self.device = device
        first = members[0].cfg
        for m in members[1:]:
            c = m.cfg
            if (c.margin, c.crop_shift, c.view_scale) != (first.margin, first.crop_shift, first.view_scale):
                raise ModelUnavailable("ensemble members must frame faces alike (margin, crop_shift, view_scale)")
        branches = []
        for spec_m, m in zip(spec.members, members):
            branches += [spec_m.branch] if spec_m.branch else list(m.cfg.branches)
        if len(set(branches)) != len(branches):
            raise ModelUnavailable(f"ensemble branch names repeat: {branches}")
        # the crops the pipeline makes: the members' framing at the largest input size (each member
        # resizes to its own); the verdict's calibration is the ensemble's
        self.cfg = first.replace(
            arch="+".join(m.cfg.arch for m in members), backbone="+".join(m.cfg.backbone for m in members),
            input_size=max(m.cfg.input_size for m in members), branches=tuple(branches), fusion=(),
            branch_temperature=(), temperature_frame=1.0, temperature_track=1.0, track_score=spec.track_score,
            threshold=spec.threshold, uncertain_band=spec.uncertain_band, name=spec.name, version=spec.version,
            trained_on=spec.trained_on)

    # ------------------------------------------------------------------ scoring
    def _combine(self, logits: np.ndarray) -> np.ndarray:
        """(..., k) member logits -> fused logits."""
        w = np.asarray(self.spec.combiner[:-1], np.float64)
        return np.asarray(logits, np.float64) @ w + self.spec.combiner[-1]

    def _member_outputs(self, crops, lengths=None):
        return [m.calibrated_logits(crops, lengths) for m in self.members]

    def _fused_frames(self, outs) -> np.ndarray:
        """Fused frame logits from the members' ``calibrated_logits`` outputs."""
        return self._combine(np.stack([o[0] for o in outs], axis=-1))

    def _branches(self, outs, sl: slice) -> dict[str, float]:
        res = {}
        for spec_m, m, (frame, _, bp) in zip(self.spec.members, self.members, outs):
            if spec_m.branch:
                res[spec_m.branch] = round(float(_sigmoid(frame[sl]).mean()), 4)
            else:
                res.update({b: round(float(bp[sl, j].mean()), 4) for j, b in enumerate(m.cfg.branches)})
        return res

    @on_torch_thread
    def score_tracks(self, tracks: list[np.ndarray]) -> list[TrackScore]:
        """Each member scores every track; a track's fused logit combines the members' track logits,
        each made as the ensemble's ``track_score`` says (the LSTM's, the mean frame logit, or both)."""
        arrays = check_tracks(tracks)
        if not arrays:
            return []
        lengths = [a.shape[0] for a in arrays]
        outs = self._member_outputs([c for a in arrays for c in a], lengths)
        frame_fused = self._fused_frames(outs)
        out, k = [], 0
        for i, n in enumerate(lengths):
            sl = slice(k, k + n)
            per_member = [track_logit(self.cfg.track_score, float(lstm[i]), frame[sl]) for frame, lstm, _ in outs]
            fused = float(self._combine(np.array(per_member)))
            out.append(TrackScore(float(_sigmoid(fused)), [float(v) for v in _sigmoid(frame_fused[sl])],
                                  self._branches(outs, sl)))
            k += n
        return out

    @on_torch_thread
    def score_crops_detailed(self, crops) -> list[TrackScore]:
        if len(crops) == 0:
            return []
        outs = self._member_outputs(crops)
        p = _sigmoid(self._fused_frames(outs))
        return [TrackScore(float(p[i]), [float(p[i])], self._branches(outs, slice(i, i + 1))) for i in range(len(p))]

    @on_torch_thread
    def score_crops(self, crops) -> list[float]:
        if len(crops) == 0:
            return []
        return [float(v) for v in _sigmoid(self._fused_frames(self._member_outputs(crops)))]

    @on_torch_thread
    def explain(self, crop: np.ndarray, target: str = "predicted") -> np.ndarray:
        """Grad-CAM for the fused score: each member's map (toward ``target``; "predicted": the fused
        verdict's side) weighted by how far that member pushes the fused logit that way (its combiner
        weight times its logit, nothing for a member pushing the other way), so the map shows the evidence
        in the proportions the verdict used it. (S, S) float32 in [0, 1]."""
        if target not in ("predicted", "fake", "real"):
            raise ValueError(f"target must be predicted, fake or real, not {target!r}")
        logits = np.array([m.calibrated_logits([crop])[0][0] for m in self.members])
        sign = {"fake": 1.0, "real": -1.0}.get(target, 1.0 if self._combine(logits) >= 0 else -1.0)
        push = np.clip(sign * np.asarray(self.spec.combiner[:-1]) * logits, 0.0, None)
        if push.sum() <= 0:
            push = np.ones(len(self.members))
        heat = sum(w * m.explain(crop, target=target) for w, m in zip(push, self.members) if w > 0)
        top = float(heat.max())
        return (heat / top).astype(np.float32) if top > 0 else np.zeros(heat.shape, np.float32)


def load_ensemble(path: Path, device: str = "cpu") -> EnsembleScorer:
    """The ensemble a manifest describes; each member is read from the manifest's folder and must have
    the SHA-256 the manifest names. ``ModelUnavailable`` for anything missing, foreign or changed."""
    from deepsentry.detector.inference import load_scorer
    from deepsentry.media import sha256_file

    path = Path(path)
    if not path.is_file():
        raise ModelUnavailable(f"detector weights not found: {path}")
    try:
        spec = EnsembleSpec.from_json(json.loads(path.read_text()))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelUnavailable(f"cannot read ensemble manifest {path}: {exc}") from exc
    members = []
    for m in spec.members:
        f = path.parent / m.file
        if Path(m.file).name != m.file:
            raise ModelUnavailable(f"ensemble member {m.file!r} must be a file beside the manifest")
        if not f.is_file():
            raise ModelUnavailable(f"ensemble member not found: {f}")
        if sha256_file(f) != m.sha256:
            raise ModelUnavailable(f"ensemble member {f.name} is not the file the combiner was fitted on "
                                   "(SHA-256 differs): refit it with `deepsentry fuse`")
        members.append(load_scorer(f, device=device))
    return EnsembleScorer(spec, members, path, device=device)


def fit_ensemble(member_paths: list[Path], branch_names: list[str | None], data: list[Path], out: Path,
                 name: str = "deepsentry-detector", version: str = "0", track_score: str = "mean",
                 split: str = "val", max_error: float = 0.1) -> tuple[EnsembleSpec, dict]:
    """Fit the combiner, threshold and uncertain band on the ``split`` crops of the ``data`` crop indexes
    (each member scoring the same crops, framed as ``deepsentry eval`` frames them), write the manifest
    to ``out`` (the members must lie in its folder) and return it with the fused validation metrics."""
    from deepsentry.detector.calibrate import (
        choose_threshold,
        choose_uncertain_band,
        fit_logistic,
    )
    from deepsentry.detector.evaluate import evaluate_index
    from deepsentry.detector.inference import load_scorer
    from deepsentry.detector.metrics import auc
    from deepsentry.media import sha256_file

    out = Path(out)
    if len(member_paths) < 2 or len(branch_names) != len(member_paths):
        raise BadRequest("an ensemble needs at least two members, each with a branch name or its own branches")
    members, scorers = [], []
    for p, b in zip(member_paths, branch_names):
        p = Path(p)
        if p.resolve().parent != out.resolve().parent:
            raise BadRequest(f"{p} must lie in the manifest's folder {out.parent}")
        s = load_scorer(p)
        if not isinstance(s, Scorer):
            raise BadRequest(f"{p} is not a single detector's weights file")
        if not b and not s.cfg.branches:
            raise BadRequest(f"{p.name} has no branch heads: give it a branch name (FILE:NAME)")
        members.append(Member(p.name, sha256_file(p), b or None))
        scorers.append(s)
    logits, labels, keys = [], None, None
    for s in scorers:
        items = []
        for d in data:
            items += evaluate_index(Path(d) / "index.csv", scorer=s, split=split).metrics["items"]
        items.sort(key=lambda it: it["path"])
        k = [it["path"] for it in items]
        if keys is not None and k != keys:
            raise BadRequest("the members did not score the same crops")
        keys = k
        p = np.clip(np.array([it["score"] for it in items], np.float64), 1e-7, 1 - 1e-7)
        logits.append(np.log(p / (1 - p)))
        labels = np.array([it["label"] == "fake" for it in items], np.int64)
    x = np.stack(logits, axis=-1)
    combiner = tuple(round(v, 5) for v in fit_logistic(x, labels))
    fused = _sigmoid(x @ np.asarray(combiner[:-1]) + combiner[-1])
    thr = round(choose_threshold(fused, labels), 4)
    band = choose_uncertain_band(fused, labels, thr, max_error)
    trained_on = "; ".join(f"{m.file}: {s.cfg.trained_on}" for m, s in zip(members, scorers))
    spec = EnsembleSpec(name=name, version=version, members=tuple(members), combiner=combiner, threshold=thr,
                        uncertain_band=band, track_score=track_score,
                        trained_on=f"combiner fitted on {split} of {', '.join(Path(d).name for d in data)} "
                                   f"({len(labels)} crops); members: {trained_on}")
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(spec.to_json(), indent=2) + "\n")
    tmp.replace(out)
    metrics = {"n": len(labels), "auc": auc(labels, fused),
               "member_auc": {m.file: auc(labels, x[:, i]) for i, m in enumerate(members)}}
    return spec, metrics


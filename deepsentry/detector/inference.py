"""Scoring face crops and face tracks with the trained detector: the interface the pipeline and daemon use.

    scorer = load_scorer()                     # None when no weights file is installed
    crops = model.face_crop(frame, box, scorer.cfg)
    scorer.score_tracks([track_crops, ...])    # -> [TrackScore(fake_prob, frame_probs), ...]

All probabilities are calibrated (temperature scaling fitted on validation, stored in the weights).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from deepsentry.errors import BadRequest
from deepsentry.detector.result import ModelInfo
from deepsentry.detector.threads import on_torch_thread

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_WEIGHTS_NAME = "deepsentry-detector-v15.json"   # an ensemble manifest (detector/ensemble.py)


def default_weights_path() -> Path:
    return WEIGHTS_DIR / DEFAULT_WEIGHTS_NAME


@dataclass(frozen=True)
class TrackScore:
    fake_prob: float                          # calibrated, over the whole track (``cfg.track_score``)
    frame_probs: list[float] = field(default_factory=list)   # calibrated, per-frame head, in track order
    # per-branch calibrated probabilities (mean over the track's frames), for models with branches
    branches: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"fake_prob": self.fake_prob, "frame_probs": list(self.frame_probs),
                **({"branches": dict(self.branches)} if self.branches else {})}


def track_logit(track_score: str, lstm: float, frames: np.ndarray) -> float:
    """A track's calibrated logit from the LSTM's calibrated logit and its frames' (see
    ``DetectorCfg.track_score``)."""
    mean = float(np.mean(frames))
    if track_score == "mean":
        return mean
    if track_score == "lstm+mean":
        return 0.5 * (lstm + mean)
    return lstm


def check_tracks(tracks) -> list[np.ndarray]:
    """The tracks as arrays, each a non-empty (T, S, S, 3) uint8 stack of crops; BadRequest otherwise."""
    arrays = [np.asarray(t) for t in tracks]
    for a in arrays:
        if a.ndim != 4 or a.shape[0] < 1 or a.shape[3] != 3 or a.dtype != np.uint8:
            raise BadRequest("each track must be a non-empty (T, S, S, 3) uint8 array")
    return arrays


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=np.float64)))


class ScorerBase:
    """What every scorer shares: a ``cfg`` (framing, calibration, branches), a ``weights_path`` and the
    metadata and labels made from them. Subclasses score (``score_crops``, ``score_tracks`` ...)."""

    cfg = None
    weights_path: Path | None = None
    _sha: str | None = None

    # ------------------------------------------------------------------ metadata
    @property
    def weights_sha256(self) -> str:
        if self._sha is None:
            from deepsentry.media import sha256_file
            self._sha = sha256_file(self.weights_path) if self.weights_path and self.weights_path.is_file() else ""
        return self._sha

    def info(self) -> ModelInfo:
        c = self.cfg
        return ModelInfo(name=c.name, version=c.version, arch=c.arch, input_size=c.input_size,
                         threshold=c.threshold, uncertain_band=(c.uncertain_band[0], c.uncertain_band[1]),
                         temperature=c.temperature_frame, temperature_track=c.temperature_track,
                         track_score=c.track_score,
                         margin=c.margin, crop_shift=c.crop_shift, weights_sha256=self.weights_sha256,
                         trained_on=c.trained_on, branches=tuple(c.branches) if c.branches else None)

    def label(self, p: float) -> str:
        from deepsentry.detector.calibrate import label_for
        return label_for(float(p), self.cfg.threshold, self.cfg.uncertain_band)

    @on_torch_thread
    def score_image(self, crop: np.ndarray) -> float:
        """Still image: the calibrated per-frame fake probability of one crop."""
        return self.score_crops([np.asarray(crop)])[0]


class Scorer(ScorerBase):
    """A loaded detector. Thread-safe for scoring (one lock around the model; torch runs the math)."""

    def __init__(self, model, weights_path: Path | None = None, device: str = "cpu", batch_size: int = 64):
        self.model = model.eval()
        self.cfg = model.cfg
        self.device = device
        self.batch_size = batch_size
        self.weights_path = Path(weights_path) if weights_path else None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ scoring
    def _features(self, crops) -> list:
        """Frame features of the crops, one (N, D) tensor per test-time view (``model.tta_views``)."""
        import torch

        from deepsentry.detector.model import preprocess_batch, tta_views

        views: list[list[torch.Tensor]] = []
        for i in range(0, len(crops), self.batch_size):
            x = preprocess_batch(crops[i:i + self.batch_size], self.cfg).to(self.device)
            for k, xv in enumerate(tta_views(x, self.cfg)):
                if len(views) <= k:
                    views.append([])
                if self.device.startswith("cuda"):
                    with torch.autocast(device_type="cuda", dtype=torch.float16):
                        views[k].append(self.model.frame_features(xv).float())
                else:
                    views[k].append(self.model.frame_features(xv))
        return [torch.cat(v) for v in views]

    @on_torch_thread
    def calibrated_logits(self, crops, lengths: list[int] | None = None
                          ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """The model's calibrated outputs for crops (all frames of all tracks end to end): frame logits (N,),
        the LSTM's logit per track (with ``lengths``; else None) and the branch heads' probabilities (N, K).
        What ``score_tracks`` turns into probabilities, and what an ensemble combines across models."""
        import torch

        with self._lock, torch.inference_mode():
            views = self._features(list(crops))
            frame, track = self.model.view_logits(views, lengths)
            frame_cal = frame.float().cpu().numpy() / self.cfg.temperature_frame
            lstm_cal = None if track is None else track.float().cpu().numpy() / self.cfg.temperature_track
            bp = self._branch_probs(views)
        return frame_cal, lstm_cal, bp

    @on_torch_thread
    def score_tracks(self, tracks: list[np.ndarray]) -> list[TrackScore]:
        """Score face tracks: each a (T, S, S, 3) RGB uint8 array of one face's crops in time order
        (S should be ``cfg.input_size``; other sizes are resized). All frames of all tracks go through the
        CNN together in batches, then the LSTM reads each track (packed, so lengths never mix); each
        track's ``fake_prob`` is made from the LSTM's logit and/or its frames' as ``cfg.track_score`` says."""
        arrays = check_tracks(tracks)
        if not arrays:
            return []
        lengths = [a.shape[0] for a in arrays]
        frame_cal, lstm_cal, bp = self.calibrated_logits([c for a in arrays for c in a], lengths)
        fp = _sigmoid(frame_cal)
        out, k = [], 0
        for i, n in enumerate(lengths):
            branches = {b: round(float(bp[k:k + n, j].mean()), 4) for j, b in enumerate(self.cfg.branches)}
            track = track_logit(self.cfg.track_score, float(lstm_cal[i]), frame_cal[k:k + n])
            out.append(TrackScore(float(_sigmoid(track)), [float(v) for v in fp[k:k + n]], branches))
            k += n
        return out

    def _branch_probs(self, views) -> np.ndarray:
        """(N, K) calibrated probabilities of the branch heads (mean logit over test-time views)."""
        import torch

        if not self.cfg.branches:
            return np.zeros((views[0].shape[0], 0))
        logits = torch.stack([self.model.branch_logits(f) for f in views]).mean(0).float().cpu().numpy()
        temps = np.asarray(self.cfg.branch_temperature or (1.0,) * len(self.cfg.branches))
        return _sigmoid(logits / temps[None, :])

    @on_torch_thread
    def score_crops_detailed(self, crops) -> list[TrackScore]:
        """Still images: each crop's calibrated frame probability (as ``fake_prob``) and branch scores."""
        if len(crops) == 0:
            return []
        logits, _, bp = self.calibrated_logits(crops)
        p = _sigmoid(logits)
        return [TrackScore(float(p[i]), [float(p[i])],
                           {b: round(float(bp[i, j]), 4) for j, b in enumerate(self.cfg.branches)})
                for i in range(len(p))]

    @on_torch_thread
    def score_crops(self, crops) -> list[float]:
        """Calibrated per-frame fake probabilities of independent crops (still images)."""
        if len(crops) == 0:
            return []
        return [float(v) for v in _sigmoid(self.calibrated_logits(crops)[0])]

    @on_torch_thread
    def explain(self, crop: np.ndarray, target: str = "predicted") -> np.ndarray:
        """Grad-CAM heatmap (S, S) float32 in [0, 1] on the last conv stage for one crop: where the
        evidence for the model's decision (``target="predicted"``; or "fake"/"real") lies."""
        from deepsentry.detector.explain import grad_cam

        with self._lock:
            return grad_cam(self.model, np.asarray(crop), device=self.device, target=target)


@on_torch_thread
def load_scorer(weights: Path | None = None, device: str = "cpu"):
    """The detector from ``weights`` (default: the shipped file): a ``Scorer`` for a weights file, an
    ``ensemble.EnsembleScorer`` (the same interface) for an ensemble manifest (``.json``). None when the
    default file is not installed; an explicit path that is missing or unreadable raises ``ModelUnavailable``."""
    from deepsentry.detector.model import load_weights

    if device == "auto":
        import torch
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if weights is None:
        weights = default_weights_path()
        if not weights.is_file():
            return None
    if Path(weights).suffix == ".json":
        from deepsentry.detector.ensemble import load_ensemble
        return load_ensemble(Path(weights), device=device)
    model, _ = load_weights(Path(weights), device=device)
    return Scorer(model, Path(weights), device=device)

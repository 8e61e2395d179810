"""What an analysis returns: frozen records whose ``to_json()`` is the API's ``Result`` (the OpenAPI
schema is generated from these classes by ``deepsentry.records.json_schemas``).

Numbers are rounded where the records are built (``Analyzer``), not here: a record holds exactly what
the API sends.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from deepsentry.records import Record, field, optional

MediaKind = Literal["video", "image", "frames"]
Label = Literal["fake", "real", "uncertain", "no_faces"]
# how a face track's fake probability is made from the LSTM and the track's frames (``DetectorCfg.track_score``)
TrackScoreMode = Literal["lstm", "mean", "lstm+mean"]
TRACK_SCORES: tuple[str, ...] = TrackScoreMode.__args__


@dataclass(frozen=True)
class Box(Record):
    """One face box in one sampled frame, in media pixels."""

    t: float = field("seconds into the media")
    x: float = field("left edge")
    y: float = field("top edge")
    w: float = field()
    h: float = field()
    confidence: float = field("face detector confidence")


@dataclass(frozen=True)
class FrameProb(Record):
    """The per-frame head's calibrated fake probability of one crop of a track."""

    t: float = field()
    p: float = field()


@dataclass(frozen=True)
class Heatmap(Record):
    """Grad-CAM of the track's most suspicious crop over that crop, as a PNG (with ``explain``)."""

    t: float = field()
    png: str | None = field("base64 PNG")


@dataclass(frozen=True)
class Thumbnail(Record):
    """One sampled frame as a small JPEG (with ``explain``); boxes stay in media pixels."""

    t: float = field()
    width: int = field()
    height: int = field()
    jpeg: str = field("base64 JPEG")


@dataclass(frozen=True)
class FaceTrack(Record):
    """One face followed through the sampled frames and its scores."""

    track_id: int = field()
    boxes: tuple[Box, ...] = field()
    fake_prob: float | None = field("calibrated fake probability of the whole track (LSTM); null without weights")
    frame_probs: tuple[FrameProb, ...] = field()
    branches: Mapping[str, float] | None = optional(
        "models with branches only: each branch's calibrated fake probability (swap: the face-swap model; "
        "blend: swaps, pasted edits, warps; synthesis: faces a generator made whole), beside the fused fake_prob")
    heatmap: Heatmap | None = optional()


@dataclass(frozen=True)
class Verdict(Record):
    """The media's answer: as fake as its most suspicious face."""

    label: Label = field()
    fake_prob: float | None = field()
    threshold: float | None = field()
    uncertain_band: tuple[float, float] | None = field("scores inside it are labelled uncertain")
    branches: Mapping[str, float] | None = optional("the branch scores of the most suspicious face")
    reason: Literal["no_weights", "faces_too_small"] | None = optional()
    min_face_px: int | None = optional("faces_too_small: the smallest face side the detector judges")
    largest_small_face_px: int | None = optional("faces_too_small: the largest face side found below it")


@dataclass(frozen=True)
class MediaInfo(Record):
    """What was analysed."""

    kind: MediaKind = field()
    format: str | None = field()
    codec: str | None = field()
    size: int = field("bytes")
    duration: float | None = field("seconds")
    fps: float | None = field()
    width: int = field()
    height: int = field()
    sha256: str = field()
    source_url: str | None = field()
    frames_sampled: int = field()
    greyscale: bool = field("every frame is black-and-white (scored less reliably)")


@dataclass(frozen=True)
class ModelInfo(Record):
    """The detector weights that gave the scores."""

    name: str = field()
    version: str = field()
    arch: str = field()
    input_size: int = field()
    threshold: float = field()
    uncertain_band: tuple[float, float] = field()
    temperature: float = field()
    temperature_track: float = field()
    track_score: TrackScoreMode = field(
        "how a face track's fake_prob is made: the LSTM over the track, the mean of its frame scores, or both")
    margin: float = field()
    crop_shift: float = field()
    weights_sha256: str = field()
    trained_on: str = field()
    branches: tuple[str, ...] | None = optional()


@dataclass(frozen=True)
class AnalysisResult(Record):
    """One analysis of a file or of captured frames (``/v1/analyze``'s ``result``, ``check --json``)."""

    media: MediaInfo = field()
    faces: tuple[FaceTrack, ...] = field()
    verdict: Verdict = field()
    model: ModelInfo | None = field()
    model_status: Literal["ready", "no_weights"] = field()
    timings: Mapping[str, float] = field("seconds per stage (decode_s, detect_s, score_s, total_s)")
    thumbnails: tuple[Thumbnail, ...] | None = optional()
    provenance: Mapping[str, Any] | None = field("the provenance check (see /v1/verify); null when not asked",
                                                 default=None)

    def with_provenance(self, block: Mapping[str, Any] | None) -> AnalysisResult:
        return replace(self, provenance=block)

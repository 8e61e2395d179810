"""Media → sampled frames → faces → tracks → CNN+LSTM scores → one result.

The same :class:`Analyzer` serves the daemon, ``deepsentry check`` and ``deepsentry eval``, so all three
give identical answers for the same media. The result is an :class:`~deepsentry.detector.result.AnalysisResult`
whose ``to_json()`` is the API's ``Result``.
"""

from __future__ import annotations

import base64
import math
import threading
import time
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from deepsentry.detector.faces import FaceDetector, Track, link_tracks
from deepsentry.detector.memory import releasing
from deepsentry.detector.result import (AnalysisResult, Box, FaceTrack, FrameProb, Heatmap, MediaInfo, ModelInfo,
                                        Thumbnail, Verdict)
from deepsentry.detector.threads import on_torch_thread
from deepsentry.settings import Settings

ProgressFn = Callable[[float, str], None]

# Frames of one track that go through the CNN at most (spread over the track).
MAX_FRAMES_PER_TRACK = 32


def resolve_device(name: str = "auto") -> str:
    if name != "auto":
        return name
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:  # pragma: no cover - torch is a hard dependency
        return "cpu"


def set_torch_threads(n: int = 0) -> int:
    """Use ``n`` CPU threads for torch (0: as many as there are idle cores, see
    :mod:`deepsentry.detector.threads`); returns the count set."""
    import torch

    from deepsentry.detector.threads import ThreadChooser

    n = ThreadChooser(n).choose()
    torch.set_num_threads(n)
    return n


def _load_default_scorer(weights: Path | None, device: str):
    try:
        from deepsentry.detector.inference import load_scorer
    except ModuleNotFoundError:
        return None
    return load_scorer(weights, device=device)


def _noop(_fraction: float, _stage: str) -> None:
    pass


THUMB_SIDE = 320


def _is_greyscale(frames: list[np.ndarray]) -> bool:
    """True when every frame is black-and-white (its colour channels agree within 6 levels on a coarse
    grid): the detector is known to score such media less reliably, so the answer says so."""
    if not frames:
        return False
    for img in frames[:: max(1, len(frames) // 4)]:
        grid = img[:: max(1, img.shape[0] // 64), :: max(1, img.shape[1] // 64)].astype(np.int16)
        if np.abs(grid[..., 0] - grid[..., 1]).max() > 6 or np.abs(grid[..., 1] - grid[..., 2]).max() > 6:
            return False
    return True


def _thumbnails(frames: list[np.ndarray], times: list[float]) -> tuple[Thumbnail, ...]:
    """Every sampled frame as a small JPEG (longest side ``THUMB_SIDE``), so a details view or a report
    can show what was analysed whichever way the media arrived; face boxes stay in media pixels."""
    out = []
    for t, img in zip(times, frames):
        h, w = img.shape[:2]
        scale = min(1.0, THUMB_SIDE / max(h, w))
        small = cv2.resize(img, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        ok, jpg = cv2.imencode(".jpg", small[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 72])
        if ok:
            out.append(Thumbnail(t=round(float(t), 4), width=small.shape[1], height=small.shape[0],
                                 jpeg=base64.b64encode(jpg.tobytes()).decode()))
    return tuple(out)


def _spread(n: int, k: int) -> list[int]:
    """``k`` indices spread evenly over ``range(n)`` (all of them when ``n <= k``)."""
    if n <= k:
        return list(range(n))
    return sorted({int(round(i * (n - 1) / (k - 1))) for i in range(k)})


class Analyzer:
    """Holds the face detector and the scorer (loaded once) and analyses media with them."""

    def __init__(self, settings: Settings, *, scorer: Any = "auto", face_detector: FaceDetector | None = None) -> None:
        self.settings = settings
        self.device = resolve_device(settings.device)
        from deepsentry.detector.threads import ThreadChooser

        self._threads = ThreadChooser(settings.torch_threads)
        self._use_threads()
        self.faces = face_detector or FaceDetector(device=self.device, key_every=settings.face_key_every)
        self.scorer = _load_default_scorer(settings.detector_weights, self.device) if scorer == "auto" else scorer
        self._score_lock = threading.Lock()

    # ---------------------------------------------------------------- info
    @property
    def model_status(self) -> str:
        return "ready" if self.scorer is not None else "no_weights"

    def model_info(self) -> ModelInfo | None:
        return self.scorer.info() if self.scorer is not None else None

    # ---------------------------------------------------------------- entry points
    @releasing
    def analyze_file(self, path: str | Path, *, progress: ProgressFn | None = None, explain: bool = False,
                     source_url: str | None = None) -> AnalysisResult:
        from deepsentry.media import probe, sample_frames, sha256_file

        progress = progress or _noop
        limits = self.settings.limits
        t0 = time.perf_counter()
        info = probe(path, limits)
        progress(0.02, "decoding")
        sha = sha256_file(path)
        frames: list[np.ndarray] = []
        times: list[float] = []
        expected = self._expected_frames(info)
        for fr in sample_frames(path, limits):
            frames.append(fr.image)
            times.append(float(fr.t))
            progress(0.02 + 0.28 * min(1.0, len(frames) / expected), "decoding")
        t_decode = time.perf_counter() - t0
        media = dict(kind=info.kind, format=getattr(info, "format", None), codec=getattr(info, "codec", None),
                     size=info.size_bytes, duration=info.duration, fps=info.fps, width=info.width,
                     height=info.height, sha256=sha, source_url=source_url, frames_sampled=len(frames))
        return self._analyze(frames, times, media, progress, explain, {"decode_s": t_decode}, t0)

    def decode_frames(self, frames) -> list[tuple[float, np.ndarray]]:
        """Captured frames ``[(t, encoded image bytes), ...]`` decoded through ``deepsentry.media`` (limits
        checked on each header first); all must have one size."""
        from deepsentry.errors import BadRequest
        from deepsentry.media import decode_image_bytes

        decoded = [(t, decode_image_bytes(raw, self.settings.limits)) for t, raw in frames]
        if len({img.shape for _, img in decoded}) > 1:
            raise BadRequest("all frames of one request must have the same size", code="bad_frames")
        return decoded

    @releasing
    def analyze_frames(self, frames: list[tuple[float, np.ndarray]], *, sha256: str, size: int,
                       source_url: str | None = None, progress: ProgressFn | None = None,
                       explain: bool = False) -> AnalysisResult:
        """Frames captured elsewhere (the extension), each ``(t, RGB uint8 image)``."""
        t0 = time.perf_counter()
        frames = sorted(frames, key=lambda f: f[0])
        h, w = frames[0][1].shape[:2]
        media = dict(kind="frames", format="jpeg", codec=None, size=size,
                     duration=(frames[-1][0] - frames[0][0]) if len(frames) > 1 else None,
                     fps=None, width=w, height=h, sha256=sha256, source_url=source_url, frames_sampled=len(frames))
        return self._analyze([f[1] for f in frames], [float(f[0]) for f in frames], media,
                             progress or _noop, explain, {"decode_s": 0.0}, t0)

    # ---------------------------------------------------------------- core
    def _use_threads(self) -> None:
        """Torch threads for this analysis: the idle cores now (or the fixed ``torch_threads``)."""
        import torch

        n = self._threads.choose()
        if n != torch.get_num_threads():
            torch.set_num_threads(n)
        self.threads = n

    def _expected_frames(self, info) -> int:
        if info.kind != "video" or not info.duration:
            return 1
        lim = self.settings.limits
        return max(1, min(lim.max_frames, int(math.ceil(info.duration * lim.sample_fps))))

    @on_torch_thread
    def _analyze(self, frames: list[np.ndarray], times: list[float], media: dict[str, Any],
                 progress: ProgressFn, explain: bool, timings: dict[str, float], t0: float) -> AnalysisResult:
        t1 = time.perf_counter()
        self._use_threads()
        progress(0.30, "finding faces")
        per_frame = self.faces.detect_sequence(frames)
        progress(0.75, "finding faces")
        tracks = link_tracks(per_frame, times)
        # With several frames, a face seen once is most often a false detection: keep tracks seen in
        # at least two sampled frames (or in the only frame there is).
        min_len = 2 if len(frames) >= 5 else 1
        tracks = [tr for tr in tracks if len(tr) >= min_len]
        for new_id, tr in enumerate(tracks):
            tr.track_id = new_id
        timings["detect_s"] = time.perf_counter() - t1

        t2 = time.perf_counter()
        progress(0.78, "scoring")
        if self.scorer is not None and tracks:
            faces = self._score(frames, tracks, media["kind"] == "image", explain)
        else:
            faces = tuple(self._unscored(tr) for tr in tracks)
        timings["score_s"] = time.perf_counter() - t2
        timings["total_s"] = time.perf_counter() - t0
        progress(1.0, "done")
        return AnalysisResult(
            media=MediaInfo(**media, greyscale=_is_greyscale(frames)),
            faces=faces,
            verdict=self._verdict(faces, frames),
            model=self.model_info(),
            model_status=self.model_status,
            timings={k: round(v, 4) for k, v in timings.items()},
            thumbnails=_thumbnails(frames, times) if explain else None,
        )

    @staticmethod
    def _boxes(tr: Track) -> tuple[Box, ...]:
        return tuple(Box(t=round(t, 4), x=round(d.box[0], 1), y=round(d.box[1], 1), w=round(d.box[2] - d.box[0], 1),
                         h=round(d.box[3] - d.box[1], 1), confidence=round(d.confidence, 4))
                     for t, d in zip(tr.times, tr.detections))

    def _unscored(self, tr: Track) -> FaceTrack:
        return FaceTrack(track_id=tr.track_id, boxes=self._boxes(tr), fake_prob=None, frame_probs=())

    def _score(self, frames, tracks: list[Track], still: bool, explain: bool) -> tuple[FaceTrack, ...]:
        from deepsentry.detector.model import face_crop

        cfg = self.scorer.cfg
        crops_per_track: list[np.ndarray] = []
        kept: list[list[int]] = []
        for tr in tracks:
            idx = _spread(len(tr), MAX_FRAMES_PER_TRACK)
            kept.append(idx)
            crops_per_track.append(np.stack([
                face_crop(frames[tr.frame_indices[i]], tr.detections[i].box, cfg) for i in idx
            ]))
        faces = []
        with self._score_lock:
            if still:
                scores = self.scorer.score_crops_detailed([c[0] for c in crops_per_track])
            else:
                scores = self.scorer.score_tracks(crops_per_track)
            for tr, idx, crops, score in zip(tracks, kept, crops_per_track, scores):
                frame_probs = list(score.frame_probs)
                heatmap = None
                if explain:
                    worst = int(np.argmax(frame_probs)) if frame_probs else 0
                    heatmap = self._heatmap(crops[worst], tr.times[idx[worst]])
                faces.append(FaceTrack(
                    track_id=tr.track_id, boxes=self._boxes(tr), fake_prob=round(float(score.fake_prob), 4),
                    frame_probs=tuple(FrameProb(t=round(tr.times[i], 4), p=round(float(fp), 4))
                                      for i, fp in zip(idx, frame_probs)),
                    branches=dict(score.branches) if score.branches else None, heatmap=heatmap))
        return tuple(faces)

    def _heatmap(self, crop: np.ndarray, t: float) -> Heatmap:
        heat = np.clip(self.scorer.explain(crop), 0.0, 1.0)
        colour = cv2.applyColorMap((heat * 255).astype(np.uint8), cv2.COLORMAP_JET)[:, :, ::-1]
        overlay = (0.55 * crop + 0.45 * colour).astype(np.uint8)
        ok, png = cv2.imencode(".png", overlay[:, :, ::-1])
        return Heatmap(t=round(t, 4), png=base64.b64encode(png.tobytes()).decode() if ok else None)

    def _verdict(self, faces: tuple[FaceTrack, ...], frames: list[np.ndarray]) -> Verdict:
        cfg = self.scorer.cfg if self.scorer is not None else None
        threshold = cfg.threshold if cfg else None
        band = (cfg.uncertain_band[0], cfg.uncertain_band[1]) if cfg else None
        if not faces:
            return Verdict(label="no_faces", fake_prob=None, threshold=threshold, uncertain_band=band,
                           **(self._small_faces_hint(frames) if frames else {}))
        if self.scorer is None:
            return Verdict(label="uncertain", fake_prob=None, threshold=None, uncertain_band=None, reason="no_weights")
        # The media is as fake as its most suspicious face; its branch scores explain that face's.
        worst = max(faces, key=lambda f: f.fake_prob)
        return Verdict(label=self.scorer.label(worst.fake_prob), fake_prob=worst.fake_prob, threshold=threshold,
                       uncertain_band=band, branches=worst.branches)

    def _small_faces_hint(self, frames: list[np.ndarray]) -> dict[str, Any]:
        """``reason="faces_too_small"`` with the detector's minimum and the largest face found below it,
        when a deeper search of three of the frames finds faces smaller than the detector judges."""
        picked = [frames[i] for i in _spread(len(frames), 3)]
        small = self.faces.small_faces(picked)
        if not small:
            return {}
        sides = [min(d.box[2] - d.box[0], d.box[3] - d.box[1]) for d in small]
        return {"reason": "faces_too_small", "min_face_px": self.faces.min_face,
                "largest_small_face_px": round(max(sides))}

"""Embedding and reading the mark on RGB frames (see the package docstring for the design)."""

from __future__ import annotations

import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Iterable, NamedTuple

import cv2
import numpy as np

from deepsentry.errors import BadRequest, WatermarkError
from deepsentry.watermark import _payload, _refine, _riva

CANONICAL_SHORT = 160        # short side of the canonical copy the networks see
STRENGTH = 6.0               # largest residual gain on top of RivaGAN's own output (the PSNR budget binds first)
TARGET_PSNR = 38.4           # the gain is set so that the rounded residual costs about this PSNR
REUSE_MAD = 16.0             # video: reuse a key frame's residual unless the (motion-compensated) canonical
                             # copy changed by this much since (a cut)
REUSE_SHIFT = 8.0            # ... or moved by more than this many canonical pixels
VOTE_CLIP = 8.0              # per-frame scores are clipped to +-VOTE_CLIP before voting
FRAME_AGREE_BITS = 58        # a frame "agrees" when >= this many of its 64 bits match the final id

# (horizontal flip, crop factor) tried in order; the first one whose votes pass the check wins.
HYPOTHESES: tuple[tuple[bool, float], ...] = ((False, 1.0), (False, 0.8), (True, 1.0), (False, 0.6))


class _Key(NamedTuple):
    """A video key frame whose residual later frames reuse."""

    small: np.ndarray        # its canonical copy
    grey: np.ndarray         # ... and that copy's grey level, for the motion estimate
    residual: np.ndarray
    gain: float              # the gain it was applied with
    index: int


def new_watermark_id() -> int:
    """A random id in the payload's range (32 bits)."""
    return secrets.randbits(_payload.WATERMARK_BITS)


def _check_id(wm_id: int) -> int:
    if isinstance(wm_id, bool) or not isinstance(wm_id, (int, np.integer)):
        raise BadRequest(f"watermark id must be an integer, got {type(wm_id).__name__}", code="bad_watermark_id")
    if not 0 <= int(wm_id) <= _payload.ID_MAX:
        raise BadRequest(f"watermark id must be in [0, {_payload.ID_MAX}]", code="bad_watermark_id")
    return int(wm_id)


def _check_frame(frame: np.ndarray) -> np.ndarray:
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        shape = getattr(frame, "shape", None)
        raise WatermarkError(f"expected an RGB uint8 image (H x W x 3), got {shape} {getattr(frame, 'dtype', '')}".strip(),
                             code="bad_frame")
    if min(frame.shape[:2]) < 16:
        raise WatermarkError(f"image too small to carry a watermark: {frame.shape[1]}x{frame.shape[0]}", code="bad_frame")
    return frame


def canonical_size(height: int, width: int, short: float = CANONICAL_SHORT) -> tuple[int, int]:
    """(width, height) of the canonical copy: short side ``short``, width even (two equal halves)."""
    s = short / min(height, width)
    w = max(16, int(round(width * s)))
    h = max(16, int(round(height * s)))
    return w - (w % 2), h


def _resize(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    h, w = img.shape[:2]
    interp = cv2.INTER_AREA if size[0] < w else cv2.INTER_LINEAR
    return cv2.resize(img, size, interpolation=interp)


def _halves(small: np.ndarray) -> np.ndarray:
    half = small.shape[1] // 2
    return np.stack([small[:, :half], small[:, half: 2 * half]])


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0 ** 2 / mse)


class FrameMarker:
    """Marks frames of one size with one id. Build once per clip; ``mark`` is called per frame.

    ``refine``: gradient steps that adapt each encoder residual to how the decoder reads it (see
    ``_refine``; the PSNR budget is kept); ``adaptive=True`` (still images) defaults it to
    ``_refine.STEPS``; video defaults to ``_refine.video_policy()``: on a GPU or as set by
    DEEPSENTRY_WM_REFINE every key frame, on the CPU within a budget (``refine_every``: beyond the
    first key frame of each polarity, at most one refined key frame per that many frames on average
    since the start of the clip; the others get the one-pass residual). An explicit ``refine`` refines
    every key frame unless ``refine_every`` is given.
    ``reuse=True`` (video) keeps the last key frame's residual (and its gain) of each polarity and
    reuses it for the rest of its segment (``SEGMENT_FRAMES``), or with ``hold=True`` for as long as
    the picture allows: the global motion since the key frame is estimated by phase correlation of the
    canonical copies, the residual is shifted with it, and it is used unless the motion-compensated
    copies differ by ``REUSE_MAD`` grey levels or more (mean absolute difference: a cut) or the shift
    is over ``REUSE_SHIFT`` canonical pixels. Besides saving the encoder, a residual that stays put
    survives H.264 better than one recomputed on every frame. A fresh key frame per segment makes the
    frames' errors differ, so the reader's vote fixes more of them (bench, CRF 28 + 0.5x, refined
    marks: voted bit accuracy 0.975 with a key frame per segment, 0.942 with one per polarity for the
    whole clip); ``hold`` is therefore the default only under the CPU's refinement budget, where on a
    static background (a talking head, an animated photo) the two refined residuals, one per
    polarity, serve the whole clip and beat fresh one-pass ones (CRF 35: 95 % against 75 %).
    ``stats`` counts key frames (``encoded``, of which ``refined``) and ``reused`` frames.
    ``polarity=True`` (video) inverts both words on a keyed pseudo-random half of the
    ``SEGMENT_FRAMES``-frame segments (frame index = call count, or ``index=``), so the reader can
    cancel the decoder's content bias across frames (see the package docstring).
    """

    def __init__(self, wm_id: int, width: int, height: int, *, strength: float = STRENGTH,
                 adaptive: bool = False, reuse: bool = False, polarity: bool = False,
                 refine: int | None = None, refine_every: int | None = None, hold: bool | None = None) -> None:
        self.wm_id = _check_id(wm_id)
        self.width, self.height = int(width), int(height)
        if min(self.width, self.height) < 16:
            raise WatermarkError(f"frame too small to carry a watermark: {width}x{height}", code="bad_frame")
        self.strength = float(strength)
        self.adaptive = adaptive
        self.reuse = reuse and not adaptive
        self.polarity = polarity and not adaptive
        every = 0
        if refine is None:
            refine, every = (_refine.STEPS, 0) if adaptive else _refine.video_policy()
        self.refine = max(0, int(refine))
        self.refine_every = max(0, int(every if refine_every is None else refine_every))
        self.hold = bool(self.refine and self.refine_every) if hold is None else bool(hold)
        self._index = 0
        self._keys: dict[int, _Key] = {}            # the last key frame of each polarity
        self._refined_pols: set[int] = set()
        self._dither_map: np.ndarray | None = None
        self.stats = {"encoded": 0, "refined": 0, "reused": 0}
        self.canonical = canonical_size(self.height, self.width)
        a, b = _payload.words_for(self.wm_id)
        self.words = np.stack([a, b])
        self.signs = self.words * 2.0 - 1.0
        _riva.load("encoder")
        if self.refine:
            _riva.load("decoder")

    def _residual(self, small: np.ndarray, pol: int = 0) -> np.ndarray:
        """Canonical-size encoder residual for the two halves (words inverted when ``pol``)."""
        halves = _halves(small)
        res = _riva.encode_residual(halves, 1.0 - self.words if pol else self.words)
        out = np.zeros(small.shape, np.float32)
        half = halves.shape[2]
        out[:, :half] = res[0]
        out[:, half: 2 * half] = res[1]
        return out

    @staticmethod
    def _follow(key: _Key, small: np.ndarray) -> np.ndarray | None:
        """The key frame's residual moved with the picture, or None when the picture changed too much."""
        # the global motion (none beyond REUSE_SHIFT), or no shift when a moving foreground (a face) drew
        # the estimate off a still background
        (dx, dy), _ = cv2.phaseCorrelate(key.grey, small.mean(axis=2))
        if abs(dx) > REUSE_SHIFT or abs(dy) > REUSE_SHIFT:
            return None
        best, shift = float(np.mean(np.abs(key.small - small))), None
        if (dx, dy) != (0.0, 0.0):
            m = np.float32([[1, 0, dx], [0, 1, dy]])
            moved_key = cv2.warpAffine(key.small, m, (small.shape[1], small.shape[0]), flags=cv2.INTER_LINEAR,
                                       borderMode=cv2.BORDER_REPLICATE)
            mad = float(np.mean(np.abs(moved_key - small)))
            if mad < best:
                best, shift = mad, m
        if best >= REUSE_MAD:
            return None
        if shift is None:
            return key.residual
        return cv2.warpAffine(key.residual, shift, (small.shape[1], small.shape[0]), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REFLECT)

    def _may_refine(self, idx: int, pol: int) -> bool:
        """Whether the key frame at index ``idx`` (polarity ``pol``) is refined: always, or under the
        CPU budget (``refine_every``) when it is its polarity's first key frame or the refined key frames
        beyond those stay within one per ``refine_every`` frames on average (see the class docstring)."""
        if not self.refine:
            return False
        if self.refine_every == 0 or pol not in self._refined_pols:
            return True
        return self.stats["refined"] - len(self._refined_pols) < idx // self.refine_every

    def _dither(self) -> np.ndarray:
        if self._dither_map is None:
            rng = np.random.default_rng(0x5EED)
            self._dither_map = rng.random((self.height, self.width, 3), dtype=np.float32) - 0.5
        return self._dither_map

    def gain(self, up: np.ndarray) -> float:
        """``strength``, lowered so that the full-size residual ``up``, scaled and rounded with the dither
        as it will be on the frame, costs about TARGET_PSNR. With uniform dither the expected squared
        change of a pixel whose intended change is x is x^2 + f(1 - f), f the fractional part of |x|."""
        x = np.abs(up.reshape(-1)[::17]).astype(np.float64)
        budget = (255.0 / 10 ** (TARGET_PSNR / 20)) ** 2

        def cost(g: float) -> float:
            v = g * x
            f = v - np.floor(v)
            return float(np.mean(v * v + f * (1.0 - f)))

        if x.size == 0 or cost(self.strength) <= budget:
            return self.strength
        lo, hi = 0.0, self.strength
        for _ in range(12):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if cost(mid) <= budget else (lo, mid)
        return lo

    def _apply(self, frame: np.ndarray, residual: np.ndarray, gain: float | None = None) -> tuple[np.ndarray, float]:
        """(marked frame, gain used): frame + gain * upscaled residual + dither, rounded and saturated.
        The fixed dither pattern (uniform in [-0.5, 0.5)) makes the cost continuous in the gain."""
        up = cv2.resize(residual, (self.width, self.height), interpolation=cv2.INTER_LINEAR)
        g = self.gain(up) if gain is None else gain
        delta = cv2.scaleAdd(up, g, self._dither())
        return cv2.add(frame, delta, dtype=cv2.CV_8U), g

    def mark(self, frame: np.ndarray, index: int | None = None) -> np.ndarray:
        """The marked copy of one RGB uint8 frame (video frames in order, or with ``index``)."""
        frame = _check_frame(frame)
        idx = self._index if index is None else int(index)
        self._index = idx + 1
        pol = _payload.polarity(idx // _payload.SEGMENT_FRAMES) if self.polarity else 0
        if frame.shape[:2] != (self.height, self.width):
            raise WatermarkError(f"frame is {frame.shape[1]}x{frame.shape[0]}, marker was built for "
                                 f"{self.width}x{self.height}", code="bad_frame")
        small = _resize(frame, self.canonical).astype(np.float32)
        key = self._keys.get(pol) if self.reuse else None
        if key is not None and (self.hold or 0 <= idx - key.index < _payload.SEGMENT_FRAMES):
            moved = self._follow(key, small)
            if moved is not None:
                self.stats["reused"] += 1
                return self._apply(frame, moved, key.gain)[0]
        residual = self._residual(small, pol=pol)
        self.stats["encoded"] += 1
        if self._may_refine(idx, pol):
            self.stats["refined"] += 1
            self._refined_pols.add(pol)
            # refine at the gain the budget allows; _apply then re-fits the gain to the refined pattern
            g = self.gain(cv2.resize(residual, (self.width, self.height), interpolation=cv2.INTER_LINEAR))
            refined = _refine.refine(small, residual * g, -self.signs if pol else self.signs, self.refine,
                                     video=not self.adaptive)
            if self.adaptive:
                # a still: the steps model the canonical copy, not the rounded full-size image, so check
                # the image actually written and keep the one-pass mark in the rare case it reads better
                marked = self._apply(frame, refined)[0]
                plain = self._apply(frame, residual)[0]
                return marked if self._worst_margin(marked) >= self._worst_margin(plain) else plain
            residual = refined
        marked, g = self._apply(frame, residual)
        if self.reuse:
            self._keys[pol] = _Key(small, small.mean(axis=2), residual, g, idx)
        return marked

    def _worst_margin(self, marked: np.ndarray) -> float:
        """The weakest bit's decoder score (times its sign) on the canonical copy of a marked still."""
        return float((_riva.decode_scores(_halves(_resize(marked, self.canonical))) * self.signs).min())


@dataclass(frozen=True)
class WatermarkResult:
    """A watermark found in an image or clip."""

    id: int
    confidence: float                 # 1 - upper bound on the chance this match is a false detection
    frames_agreeing: int              # decoded frames whose own 64 bits (almost) all agree with the id
    frames_decoded: int
    bit_accuracy_estimate: float      # fraction of the 64 voted bits that agree with the id's words
    check_distance: int = 0           # of the 64 voted bits, how many disagree with the id's two words
    flipped: bool = False             # found on the horizontally flipped picture
    crop_factor: float = 1.0          # scale hypothesis that matched (1.0: not cropped)
    details: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "confidence": self.confidence, "frames_agreeing": self.frames_agreeing,
                "frames_decoded": self.frames_decoded}


def read_scores(frame: np.ndarray, *, flip: bool = False, crop_factor: float = 1.0) -> np.ndarray:
    """Decoder scores (2 x 32: word A, word B) for one RGB frame under a geometric hypothesis."""
    frame = _check_frame(frame)
    if flip:
        frame = frame[:, ::-1]
    small = _resize(frame, canonical_size(*frame.shape[:2], short=CANONICAL_SHORT * crop_factor))
    # each hypothesis at its own (smaller) FFT size: ~2x faster for the crops than padding to the plain one
    return _riva.decode_scores(_halves(small))


def _vote(scores: list[np.ndarray]) -> np.ndarray:
    return np.sum([np.clip(s, -VOTE_CLIP, VOTE_CLIP) for s in scores], axis=0)


def votes(scores: list[np.ndarray]):
    """The soft votes the check is run on, in order: the plain sum and its inverse (a still from an
    inverted segment), then, with >= 2 frames, two bias-cancelled votes and their inverses: scores
    minus their mean over frames, each frame signed by its projection on the first principal
    direction, then each frame weighted by that projection (a frame H.264 caught mid-way through a
    polarity switch, coding the sign flip over several frames, counts less)."""
    plain = _vote(scores)
    yield plain
    yield -plain
    if len(scores) >= 2:
        c = np.array([np.clip(s, -VOTE_CLIP, VOTE_CLIP) for s in scores], dtype=np.float64)
        c -= c.mean(axis=0)
        flat = c.reshape(len(scores), -1)
        if np.linalg.norm(flat) > 1e-6:
            u = np.linalg.svd(flat, full_matrices=False)[2][0]
            proj = flat @ u
            for weights in (np.where(proj >= 0, 1.0, -1.0), proj):
                centred = np.tensordot(weights, c, axes=1)
                yield centred
                yield -centred


def _check(scores: list[np.ndarray]) -> tuple[_payload.Match | None, int]:
    tests = 0
    for v in votes(scores):
        tests += 1
        m = _payload.match(v[0], v[1])
        if m is not None:
            return m, tests
    return None, tests


SCREEN_BITS = 24             # a probe "looks marked" when an id fits outside its 24 least reliable bits


def _screen(scores: list[np.ndarray]) -> bool:
    """Whether a probe that failed the check still looks marked, so that reading more frames is worth it.
    Not a decision (nothing is accepted on it): on unmarked media it passes with probability <= 2^-8
    per vote, which only costs the extra reads."""
    return any(_payload.reliability_match(v[0], v[1], SCREEN_BITS) is not None for v in votes(scores))


def _result(m: _payload.Match, scores: list[np.ndarray], tests: int, flip: bool, crop: float) -> WatermarkResult:
    a, b = _payload.words_for(m.wm_id)
    expected = np.stack([a, b]) > 0.5
    agree = [int(np.count_nonzero((s > 0) == expected)) for s in scores]
    agreeing = sum(int(max(n, 64 - n) >= FRAME_AGREE_BITS) for n in agree)
    conf = 1.0 - _payload.false_match_probability(tests)
    return WatermarkResult(id=m.wm_id, confidence=round(conf, 9), frames_agreeing=agreeing,
                           frames_decoded=len(scores), bit_accuracy_estimate=round(m.agreement, 4),
                           check_distance=m.distance, flipped=flip, crop_factor=crop,
                           details={"tests": tests, "depth": m.flipped, "decoder": m.decoder})


_pool: tuple[int, ThreadPoolExecutor] | None = None
_pool_lock = threading.Lock()


def _read_all(fn: Callable[[int], np.ndarray], idx: range) -> list[np.ndarray]:
    """``[fn(i) for i in idx]``, on ``_riva._threads()`` threads (NumPy and SciPy's FFT release the GIL)."""
    global _pool
    n = _riva._threads()
    if n <= 1 or len(idx) <= 1:
        return [fn(i) for i in idx]
    with _pool_lock:
        if _pool is None or _pool[0] != n:
            _pool = (n, ThreadPoolExecutor(n, thread_name_prefix="deepsentry-wm"))
        pool = _pool[1]
    return list(pool.map(fn, idx))


def spread_order(n: int) -> list[int]:
    """An order of n evenly sampled frames whose every prefix is spread over the clip (0, 2, 4, ..., 1, 3, ...)."""
    return list(range(0, n, 2)) + list(range(1, n, 2))


def decide(n_frames: int, score: Callable[[int, int], np.ndarray], *, subset: int = 5,
           first: int | None = None) -> WatermarkResult | None:
    """The decision over ``n_frames`` frames; ``score(h, i)`` gives frame i's scores under HYPOTHESES[h].

    The plain hypothesis reads the first ``first`` frames (all by default); the others (crop 0.8,
    flip, crop 0.6) first read ``subset`` frames, and when those pass the check they read up to
    ``first`` for the result. When a read does not pass the check but looks marked (:func:`_screen`),
    every frame is read and checked again. Frames should come in :func:`spread_order`, so that every
    prefix is spread over the clip. Each vote checked (see :func:`votes`) counts as one test in the
    false-match bound.
    """
    first = n_frames if first is None else max(1, min(first, n_frames))
    tests = 0
    for h, (flip, crop) in enumerate(HYPOTHESES):
        probe = first if h == 0 else min(subset, first)
        scores = _read_all(partial(score, h), range(probe))
        m, t = _check(scores)
        tests += t
        if m is None:
            if probe == n_frames or not _screen(scores):
                continue
            more = n_frames
        else:
            more = first
        if more > probe:
            scores += _read_all(partial(score, h), range(probe, more))
            full, t = _check(scores)
            tests += t
            m = full or m
        if m is None:
            continue
        return _result(m, scores, tests, flip, crop)
    return None


def detect_frames(frames: Iterable[np.ndarray], *, subset: int = 5, first: int | None = None) -> WatermarkResult | None:
    """Vote over the frames' per-bit scores; None when no id passes the check under any hypothesis.
    ``first``: read only that many frames unless they look marked but fail the check (see :func:`decide`)."""
    frames = [_check_frame(f) for f in frames]
    if not frames:
        raise WatermarkError("no frames to decode", code="no_frames")

    def score(h: int, i: int) -> np.ndarray:
        flip, crop = HYPOTHESES[h]
        return read_scores(frames[i], flip=flip, crop_factor=crop)

    return decide(len(frames), score, subset=subset, first=first)


def embed_image(image: np.ndarray, wm_id: int) -> np.ndarray:
    """Mark one RGB uint8 image (refined against the decoder, see ``_refine``); returns a new array of the same shape."""
    image = _check_frame(image)
    return FrameMarker(wm_id, image.shape[1], image.shape[0], adaptive=True).mark(image)

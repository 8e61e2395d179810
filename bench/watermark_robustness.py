"""Robustness, false detections, quality and speed of ``deepsentry.watermark``.

Usage:  python bench/watermark_robustness.py [--quick] [--clips N] [--images N] [--unmarked-clips N]

Media (all made here from photos shipped in scikit-image plus ``tests.mediautil``):
- images: skimage photos (astronaut, coffee, chelsea, rocket, camera, cat, motorcycle, ...) at varied
  sizes/aspects, some with a face pasted in (astronaut or an upscaled LFW face), plus generated scenes;
- clips: 2.2 s at 30 fps, 960x540: a face moving over a static photo background ("talking head"),
  some with a panning background, two over a generated scene (``tests.mediautil.scene``).
Every video attack is followed by a real H.264 re-encode (CRF 23 unless the attack sets the CRF),
because any delivery re-encodes. Crops are centred. The table gives, per attack and method, the
exact-id recovery rate, wrong ids (a result with another id) and the mean bit accuracy of the
voted 64 bits under the right geometric hypothesis (over the 8 frames detection reads first), and for
video the mean single-frame accuracy. Clips are read as ``detect`` reads them: 16 frames sampled, 8
read, all 16 only when those look marked but fail. "video(mark only)" PSNR compares the marked frames
with the source before any encode; "after CRF18" includes the delivery encode. ``dwtDct`` is the
full-resolution frequency method of invisible-watermark carrying the bare 32-bit id (no check), for
comparison on stills. Encoders, decoders and frame reads use DEEPSENTRY_WM_THREADS threads (default:
the CPU count up to 4; the robustness runs below pin 1). ``--skip images,clips,false`` runs the speed
part alone. Still images are marked as ``seal`` and ``watermark embed`` mark them (``embed_image_file``
without an id: the PNG is read back and another id drawn when it does not read; the log's ``ids``
and the timings' ``ids_drawn_per_still`` count the draws) and are always refined against the decoder
(``deepsentry.watermark._refine``);
video key frames by the package default (4 steps; on a GPU every key frame, on the CPU the first of
each polarity and one more per 90 frames) or, with ``--refine STEPS``, every key frame with STEPS
(0: the one-pass mark). Everything prints as it goes; run it in the
background and redirect to a file:
    OMP_NUM_THREADS=1 DEEPSENTRY_WM_THREADS=1 python bench/watermark_robustness.py \
        --clips 20 --images 50 --unmarked-clips 100 > runs/watermark_bench.txt
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deepsentry.watermark import (FrameMarker, WatermarkResult, embed_image, embed_image_file,  # noqa: E402
                                  embed_video, load_frames, new_watermark_id, psnr, read_scores)
from deepsentry.watermark import _core, _payload, _refine, _riva  # noqa: E402
from deepsentry.watermark._io import DETECT_FRAMES, MAX_DETECT_FRAMES  # noqa: E402
from tests.mediautil import astronaut, lfw_faces, scene  # noqa: E402

RNG = np.random.default_rng(20261123)
THREADS = str(_riva._threads())   # DEEPSENTRY_WM_THREADS, else the package default (CPU count up to 4)


def write_video(path, frames, fps: int = 25, crf: int = 23) -> Path:
    """H.264 (libx264 veryfast, yuv420p) with THREADS encoder threads."""
    path = Path(path)
    frames = iter(frames)
    first = next(frames)
    h, w = first.shape[:2]
    w, h = w - w % 2, h - h % 2
    with av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=Fraction(int(fps), 1))
        st.width, st.height, st.pix_fmt = w, h, "yuv420p"
        st.options = {"crf": str(crf), "preset": "veryfast", "threads": THREADS}
        for f in _chain(first, frames):
            out.mux(st.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f[:h, :w]), format="rgb24")))
        out.mux(st.encode())
    return path


def _chain(first, rest):
    yield first
    yield from rest


def log(*a):
    print(*a, flush=True)


# ----------------------------------------------------------------------------------------------- media
def photos() -> list[tuple[str, np.ndarray]]:
    from skimage import data

    def rgb(x):
        x = np.asarray(x)
        if x.dtype != np.uint8:
            x = (np.clip(x, 0, 1) * 255).astype(np.uint8) if x.max() <= 1 else x.astype(np.uint8)
        if x.ndim == 2:
            x = np.stack([x] * 3, axis=-1)
        return np.ascontiguousarray(x[..., :3])

    out = [("astronaut", rgb(data.astronaut())), ("coffee", rgb(data.coffee())), ("chelsea", rgb(data.chelsea())),
           ("rocket", rgb(data.rocket())), ("camera", rgb(data.camera())), ("cat", rgb(data.cat())),
           ("motorcycle", rgb(data.stereo_motorcycle()[0])), ("ihc", rgb(data.immunohistochemistry())),
           ("coins", rgb(data.coins())), ("retina", rgb(data.retina())), ("moon", rgb(data.moon())),
           ("page", rgb(data.page())), ("grass", rgb(data.grass())), ("brick", rgb(data.brick())),
           ("hubble", rgb(data.hubble_deep_field())), ("gravel", rgb(data.gravel())),
           ("cell", rgb(data.cell()))]
    return out


def lfw_face(i: int, size: int) -> np.ndarray:
    f = lfw_faces()[i % 100]
    f = cv2.resize((f * 255).astype(np.uint8), (size, size), interpolation=cv2.INTER_CUBIC)
    return np.stack([f] * 3, axis=-1)


def fit(img: np.ndarray, w: int, h: int) -> np.ndarray:
    """Resize-and-centre-crop to exactly w x h."""
    ih, iw = img.shape[:2]
    s = max(w / iw, h / ih)
    r = cv2.resize(img, (max(w, round(iw * s)), max(h, round(ih * s))), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
    y0, x0 = (r.shape[0] - h) // 2, (r.shape[1] - w) // 2
    return np.ascontiguousarray(r[y0:y0 + h, x0:x0 + w])


def make_images(n: int) -> list[tuple[str, str, np.ndarray]]:
    """(name, category, image): photos at varied sizes, with faces pasted in some; generated scenes."""
    sizes = [(1280, 720), (512, 512), (800, 600), (600, 800), (1024, 576), (640, 480), (720, 1280)]
    ph = photos()
    out = []
    for i in range(n):
        w, h = sizes[i % len(sizes)]
        if i % 10 == 9:
            img = scene(w, h, seed=i)
            if i % 20 == 9:
                face = cv2.resize(astronaut(), (min(w, h) // 2,) * 2)
                img[:face.shape[0], :face.shape[1]] = face
            out.append((f"scene{i}_{w}x{h}", "scene", img))
            continue
        name, base = ph[i % len(ph)]
        img = fit(base, w, h)
        if i % 3 == 0:
            s = min(w, h) // 2
            face = cv2.resize(astronaut()[20:220, 150:310], (s, int(s * 1.25))) if i % 2 == 0 else lfw_face(i, s)
            y, x = (h - face.shape[0]) // 3, (w - face.shape[1]) // 2
            img[y:y + face.shape[0], x:x + face.shape[1]] = face
            name += "+face"
        out.append((f"{name}_{w}x{h}", "photo", img))
    return out


def make_clip(path: Path, i: int, w: int = 960, h: int = 540, seconds: float = 2.2, fps: int = 30) -> str:
    """A face moving over a photo background (static or panning) or over a generated scene."""
    ph = photos()
    n = int(round(seconds * fps))
    kind = "scene" if i % 10 == 7 else ("pan" if i % 4 == 3 else "static")
    if kind == "scene":
        bg = scene(w + 64, h, seed=i)
    else:
        bg = fit(ph[i % len(ph)][1], w + 64, h)
    s = int(h * 0.7)
    face = cv2.resize(astronaut(), (s, s)) if i % 2 == 0 else lfw_face(i, s)

    def frames():
        for k in range(n):
            off = (k * 2) % 64 if kind == "pan" else 0
            f = bg[:, off:off + w].copy()
            x = int(w * 0.3 + 12 * np.sin(k / 9.0))
            y = int(h * 0.12 + 4 * np.sin(k / 7.0))
            f[y:y + s, x:x + s] = face
            yield f

    write_video(path, frames(), fps=fps, crf=18)
    return kind


# -------------------------------------------------------------------------------------------- attacks
def jpeg(x, q):
    ok, b = cv2.imencode(".jpg", x[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, q])
    return np.ascontiguousarray(cv2.imdecode(b, cv2.IMREAD_COLOR)[:, :, ::-1])


def crop(x, f):
    h, w = x.shape[:2]
    ch, cw = int(h * f), int(w * f)
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    return np.ascontiguousarray(x[y0:y0 + ch, x0:x0 + cw])


def scale(x, f):
    return cv2.resize(x, (max(2, round(x.shape[1] * f)), max(2, round(x.shape[0] * f))), interpolation=cv2.INTER_AREA)


def bright(x, d):
    return np.clip(x.astype(np.int16) + d, 0, 255).astype(np.uint8)


def contrast(x, c):
    return np.clip((x.astype(np.float32) - 128) * c + 128, 0, 255).round().astype(np.uint8)


def noise(x, sigma, rng=RNG):
    return np.clip(x + rng.normal(0, sigma, x.shape), 0, 255).round().astype(np.uint8)


def flip(x):
    return np.ascontiguousarray(x[:, ::-1])


# name -> (per-frame op, true hypothesis (flip, crop)); stills
IMAGE_ATTACKS = {
    "none": (lambda x: x, (False, 1.0)),
    "jpeg50": (lambda x: jpeg(x, 50), (False, 1.0)),
    "down0.5": (lambda x: scale(x, .5), (False, 1.0)),
    "down0.25": (lambda x: scale(x, .25), (False, 1.0)),
    "crop80": (lambda x: crop(x, .8), (False, .8)),
    "crop60": (lambda x: crop(x, .6), (False, .6)),
    "bright+20": (lambda x: bright(x, 20), (False, 1.0)),
    "bright-20": (lambda x: bright(x, -20), (False, 1.0)),
    "contrast0.8": (lambda x: contrast(x, .8), (False, 1.0)),
    "noise5": (lambda x: noise(x, 5), (False, 1.0)),
    "hflip": (flip, (True, 1.0)),
    "jpeg50+down0.5": (lambda x: jpeg(scale(x, .5), 50), (False, 1.0)),
    "crop80+jpeg50": (lambda x: jpeg(crop(x, .8), 50), (False, .8)),
    "bright+20+jpeg50": (lambda x: jpeg(bright(x, 20), 50), (False, 1.0)),
    "noise5+down0.5": (lambda x: scale(noise(x, 5), .5), (False, 1.0)),
}

# name -> (per-frame op, frame selection(frames, fps) -> (frames, fps), crf, true hypothesis); video
_ALL = lambda fr, fps: (fr, fps)  # noqa: E731
_FPS15 = lambda fr, fps: (fr[::2], fps // 2)  # noqa: E731
_TRIM2 = lambda fr, fps: (fr[len(fr) - 2 * fps:], fps)  # noqa: E731
VIDEO_ATTACKS = {
    "crf23": (None, _ALL, 23, (False, 1.0)),
    "crf28": (None, _ALL, 28, (False, 1.0)),
    "crf35": (None, _ALL, 35, (False, 1.0)),
    "down0.5": (lambda x: scale(x, .5), _ALL, 23, (False, 1.0)),
    "down0.25": (lambda x: scale(x, .25), _ALL, 23, (False, 1.0)),
    "crop80": (lambda x: crop(x, .8), _ALL, 23, (False, .8)),
    "crop60": (lambda x: crop(x, .6), _ALL, 23, (False, .6)),
    "bright+20": (lambda x: bright(x, 20), _ALL, 23, (False, 1.0)),
    "bright-20": (lambda x: bright(x, -20), _ALL, 23, (False, 1.0)),
    "contrast0.8": (lambda x: contrast(x, .8), _ALL, 23, (False, 1.0)),
    "noise5": (lambda x: noise(x, 5), _ALL, 23, (False, 1.0)),
    "hflip": (flip, _ALL, 23, (True, 1.0)),
    "fps30to15": (None, _FPS15, 23, (False, 1.0)),
    "trim2s": (None, _TRIM2, 23, (False, 1.0)),
    "crf28+down0.5": (lambda x: scale(x, .5), _ALL, 28, (False, 1.0)),
    "crop80+crf28": (lambda x: crop(x, .8), _ALL, 28, (False, .8)),
    "bright+20+crf35": (lambda x: bright(x, 20), _ALL, 35, (False, 1.0)),
    "noise5+down0.5": (lambda x: scale(noise(x, 5), .5), _ALL, 23, (False, 1.0)),
    "fps15+trim2s": (None, lambda fr, fps: _TRIM2(*_FPS15(fr, fps)), 23, (False, 1.0)),
    "contrast0.8+crop80": (lambda x: crop(contrast(x, .8), .8), _ALL, 23, (False, .8)),
    "hflip+crf28": (flip, _ALL, 28, (True, 1.0)),
}


SELECTED: set[str] | None = None   # --attacks: only these (both tables)
FIXED_IDS = False                  # --fixed-ids: ids from the clip / image index, for A/B runs


def attacks(table: dict) -> list:
    """``table``'s items, restricted to ``--attacks`` when given."""
    return [(k, v) for k, v in table.items() if SELECTED is None or k in SELECTED]


def bench_id(index: int, salt: int) -> int:
    """A fresh random id, or with ``--fixed-ids`` one derived from the item's index (same ids every run)."""
    if not FIXED_IDS:
        return new_watermark_id()
    return (1_000_003 * index + 7_919 * salt + 424_242) % 2 ** 32


def decode_all(path: Path) -> tuple[list[np.ndarray], int]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_count = int(THREADS)
        fps = int(round(float(s.average_rate or 30)))
        return [f.to_ndarray(format="rgb24") for f in c.decode(s)], fps


def sample_for_detect(path: Path) -> list[np.ndarray]:
    """The frames ``detect`` samples (MAX_DETECT_FRAMES, in spread order; it reads the first DETECT_FRAMES)."""
    _, frames = load_frames(path, MAX_DETECT_FRAMES)
    return [frames[i] for i in _core.spread_order(len(frames))]


# ------------------------------------------------------------------------------------------ decision
class Scored:
    """detect_frames' decision with cached per-(hypothesis, frame) scores, so the bench can also read
    bit accuracy under the true hypothesis without decoding twice."""

    def __init__(self, frames: list[np.ndarray]):
        self.frames = frames
        self.cache: dict[tuple[int, int], np.ndarray] = {}

    def score(self, h: int, i: int) -> np.ndarray:
        if (h, i) not in self.cache:
            flip_, crop_ = _core.HYPOTHESES[h]
            self.cache[h, i] = read_scores(self.frames[i], flip=flip_, crop_factor=crop_)
        return self.cache[h, i]

    def detect(self, idx: list[int] | None = None, first: int | None = None) -> WatermarkResult | None:
        idx = list(range(len(self.frames))) if idx is None else idx
        return _core.decide(len(idx), lambda h, i: self.score(h, idx[i]), first=first)

    def bit_accuracy(self, wm_id: int, hyp: tuple[bool, float], n: int | None = None) -> tuple[float, float]:
        """(voted 64-bit accuracy, mean single-frame accuracy) under hypothesis ``hyp`` over the first
        ``n`` frames; the best of the votes the check runs on, and each frame under its better polarity."""
        h = _core.HYPOTHESES.index(hyp)
        a, b = _payload.words_for(wm_id)
        exp = np.stack([a, b]) > 0.5
        sc = [self.score(h, i) for i in range(min(n or len(self.frames), len(self.frames)))]
        voted = max(float(np.mean((v > 0) == exp)) for v in _core.votes(sc))
        single = [float(np.mean((s > 0) == exp)) for s in sc]
        return voted, float(np.mean([max(x, 1 - x) for x in single]))


class Tally:
    def __init__(self):
        self.rows: dict[tuple[str, str], list] = {}

    def add(self, method: str, attack: str, ok: bool, wrong: bool, acc: float, acc1: float | None = None):
        self.rows.setdefault((method, attack), []).append((ok, wrong, acc, acc1))

    def table(self, title: str) -> str:
        lines = [title, f"{'method':<22}{'attack':<22}{'n':>4}{'exact-id':>10}{'wrong':>7}{'bit-acc':>9}{'frame-acc':>10}"]
        for (method, attack), v in self.rows.items():
            n = len(v)
            ok = sum(r[0] for r in v) / n
            wrong = sum(r[1] for r in v)
            acc = np.mean([r[2] for r in v])
            f1 = [r[3] for r in v if r[3] is not None]
            lines.append(f"{method:<22}{attack:<22}{n:>4}{ok:>10.1%}{wrong:>7}{acc:>9.3f}"
                         + (f"{np.mean(f1):>10.3f}" if f1 else f"{'':>10}"))
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------- baselines
def dwt_embed(img: np.ndarray, wm_id: int) -> np.ndarray:
    from imwatermark import WatermarkEncoder

    enc = WatermarkEncoder()
    enc.set_watermark("bits", [int(b) for b in _payload.to_bits(wm_id)])
    return np.ascontiguousarray(enc.encode(img[:, :, ::-1].copy(), "dwtDct")[:, :, ::-1])


def dwt_bits(img: np.ndarray) -> np.ndarray | None:
    from imwatermark import WatermarkDecoder

    if img.shape[0] * img.shape[1] < 256 * 256:
        return None
    return np.array(WatermarkDecoder("bits", 32).decode(np.ascontiguousarray(img[:, :, ::-1]), "dwtDct"), dtype=np.uint8)


# ------------------------------------------------------------------------------------------------ main
def ssim(a, b) -> float:
    from skimage.metrics import structural_similarity

    return float(structural_similarity(a, b, channel_axis=2, data_range=255))


def bench_images(n: int, fp_frames: list, quality: list, timings: dict, baselines: bool, tmp: Path) -> Tally:
    """Stills are marked the way ``seal`` and ``deepsentry watermark embed`` mark them: ``embed_image_file``
    draws the id and reads the PNG back, drawing another when it does not read (``ids drawn`` counts them)."""
    tally = Tally()
    for k, (name, cat, img) in enumerate(make_images(n)):
        src, dst = tmp / f"still{k}.png", tmp / f"still{k}_m.png"
        Image.fromarray(img).save(src)
        drawn: list[int] = []

        def draw(k=k, drawn=drawn) -> int:       # --fixed-ids: the first draw keeps the image's usual id
            drawn.append(bench_id(k, 1 + 100 * len(drawn)))
            return drawn[-1]

        t0 = time.perf_counter()
        wm_id = embed_image_file(src, dst, draw_id=draw)
        timings.setdefault("embed_image_file_s", []).append(time.perf_counter() - t0)
        timings.setdefault("ids_drawn_per_still", []).append(len(drawn))
        marked = np.asarray(Image.open(dst).convert("RGB"))
        quality.append(("image", cat, psnr(marked, img), ssim(marked, img)))
        dwt = dwt_embed(img, wm_id) if baselines else None
        row = []
        for attack, (op, hyp) in attacks(IMAGE_ATTACKS):
            att = op(marked)
            sc = Scored([att])
            t0 = time.perf_counter()
            r = sc.detect()
            timings.setdefault("detect_image_s", []).append(time.perf_counter() - t0)
            acc, _ = sc.bit_accuracy(wm_id, hyp)
            ok = r is not None and r.id == wm_id
            tally.add(f"riva160+check/{cat}", attack, ok, r is not None and not ok, acc)
            row.append("." if ok else ("W" if r is not None else "x"))
            if baselines:
                bits = dwt_bits(op(dwt))
                exp = _payload.to_bits(wm_id).astype(np.uint8)
                if bits is None:
                    tally.add("dwtDct(32b,no check)", attack, False, False, 0.5)
                else:
                    tally.add("dwtDct(32b,no check)", attack, bool((bits == exp).all()), False, float(np.mean(bits == exp)))
            # unmarked counterpart for false detections
            fp_frames.append(op(img))
        log(f"image {k + 1}/{n} {name:<28} psnr {quality[-1][2]:.1f} ssim {quality[-1][3]:.4f} "
            f"embed {timings['embed_image_file_s'][-1]:.1f}s ids {timings['ids_drawn_per_still'][-1]}  {''.join(row)}")
    return tally


def bench_clips(n: int, tmp: Path, quality: list, timings: dict, start: int = 0) -> Tally:
    tally = Tally()
    for i in range(start, start + n):
        src, dst = tmp / f"clip{i}.mp4", tmp / f"clip{i}_m.mp4"
        kind = make_clip(src, i)
        wm_id = bench_id(i, 0)
        t0 = time.perf_counter()
        stats = embed_video(src, dst, wm_id)
        dt = time.perf_counter() - t0
        timings.setdefault("embed_video_ms_per_frame", []).append(1e3 * dt / stats["frames"])
        timings.setdefault("encoder_share", []).append(stats["encoded"] / stats["frames"])
        orig, fps = decode_all(src)
        marked, _ = decode_all(dst)
        # mark-only quality on every 12th frame, each marked as a key frame of its segment (refined when
        # the run refines: the refined residual is less uniform than the encoder's)
        fm = FrameMarker(wm_id, orig[0].shape[1], orig[0].shape[0], polarity=True, refine=_refine.video_policy()[0])
        raw = [(fm.mark(o, index=k), o) for k, o in enumerate(orig) if k % 12 == 0]
        quality.append(("video(mark only)", kind, np.mean([psnr(m, o) for m, o in raw]),
                        np.mean([ssim(m, o) for m, o in raw])))
        quality.append(("video(after CRF18)", kind, np.mean([psnr(m, o) for m, o in zip(marked[::12], orig[::12])]),
                        np.mean([ssim(m, o) for m, o in zip(marked[::12], orig[::12])])))
        row = []
        for attack, (op, select, crf, hyp) in attacks(VIDEO_ATTACKS):
            frames, afps = select(marked, fps)
            if op is not None:
                frames = [op(f) for f in frames]
            out = tmp / "attacked.mp4"
            write_video(out, frames, fps=afps, crf=crf)
            t0 = time.perf_counter()
            sampled = sample_for_detect(out)
            sc = Scored(sampled)
            r = sc.detect(first=DETECT_FRAMES)
            timings.setdefault("detect_clip_s", []).append(time.perf_counter() - t0)
            timings.setdefault("frames_read", []).append(r.frames_decoded if r is not None else DETECT_FRAMES)
            acc, acc1 = sc.bit_accuracy(wm_id, hyp, DETECT_FRAMES)
            ok = r is not None and r.id == wm_id
            tally.add(f"riva160+check/{'scene' if kind == 'scene' else 'photo'}", attack, ok, r is not None and not ok, acc, acc1)
            row.append("." if ok else ("W" if r is not None else "x"))
        log(f"clip {i + 1}/{start + n} ({kind}) embed {timings['embed_video_ms_per_frame'][-1]:.0f} ms/frame "
            f"(encoder on {stats['encoded']}/{stats['frames']} frames, {stats['refined']} refined) "
            f"psnr {quality[-1][2]:.1f}  {''.join(row)}")
    return tally


def bench_false(fp_frames: list, n_clips: int, tmp: Path) -> str:
    """False detections: unmarked stills (each alone) and unmarked clips (DETECT_FRAMES sampled frames voted)."""
    ph = photos()
    frames_tested = 0
    false_frames = 0
    false_clips = 0
    # unmarked clips: short real H.264 clips of varied photos (+ faces), 960x540, moving
    for c in range(n_clips):
        bg = fit(ph[c % len(ph)][1], 1024, 540) if c % 5 else scene(1024, 540, seed=100 + c)
        face = lfw_face(c, 300) if c % 2 else cv2.resize(astronaut(), (300, 300))
        path = tmp / "unmarked.mp4"

        def gen():
            for k in range(24):
                f = bg[:, k * (c % 3):k * (c % 3) + 960].copy()
                x = 200 + (c * 37) % 400 + k
                f[100:400, x:x + 300] = face
                yield f

        write_video(path, gen(), fps=24, crf=23 + c % 10)
        sampled = sample_for_detect(path)
        sc = Scored(sampled)
        if sc.detect(first=DETECT_FRAMES) is not None:
            false_clips += 1
        for j in range(min(DETECT_FRAMES, len(sampled))):
            frames_tested += 1
            false_frames += sc.detect([j]) is not None
        if (c + 1) % 20 == 0:
            log(f"unmarked clips {c + 1}/{n_clips}: false clips {false_clips}, false frames {false_frames}/{frames_tested}")
    for k, f in enumerate(fp_frames):
        if min(f.shape[:2]) < 16:
            continue
        frames_tested += 1
        false_frames += Scored([f]).detect() is not None
        if (k + 1) % 100 == 0:
            log(f"unmarked stills {k + 1}/{len(fp_frames)}: false frames {false_frames}/{frames_tested}")
    # checks a clip normally gets: every vote of a multi-frame read under every geometric hypothesis
    checks = len(_core.HYPOTHESES) * sum(1 for _ in _core.votes([np.ones((2, 32)), -np.ones((2, 32))]))
    return (f"false detections: {false_frames}/{frames_tested} unmarked frames ({false_frames / max(1, frames_tested):.3%}), "
            f"{false_clips}/{n_clips} unmarked clips ({false_clips / max(1, n_clips):.2%}); "
            f"bound per item ({checks} checks at most): {_payload.false_match_probability(checks):.1e}")


def bench_speed(tmp: Path, long_seconds: float) -> list[str]:
    lines = []
    img = fit(photos()[0][1], 1280, 720)
    m = FrameMarker(1234, 1280, 720, refine=0)
    m.mark(img)
    ts = []
    for _ in range(5):
        t0 = time.perf_counter()
        m.mark(img)
        ts.append(time.perf_counter() - t0)
    lines.append(f"FrameMarker.mark 1280x720 (encoder every frame): median {1e3 * np.median(ts):.0f} ms "
                 f"(min {1e3 * min(ts):.0f}) load avg {os.getloadavg()[0]:.1f}")
    m2 = FrameMarker(1234, 1280, 720, reuse=True)
    m2.mark(img)
    t0 = time.perf_counter()
    for _ in range(3):
        m2.mark(img)
    lines.append(f"FrameMarker.mark 1280x720 static frame, residual reused: {1e3 * (time.perf_counter() - t0) / 3:.0f} ms")
    ts = []
    for k in range(2):
        t0 = time.perf_counter()
        embed_image(img, 77 + k)
        ts.append(time.perf_counter() - t0)
    lines.append(f"embed_image 1280x720 (encoder + {_refine.STEPS} refinement steps, up to "
                 f"{_refine.STEPS * _refine.STILL_LIMIT} on hard content): {min(ts):.2f} s "
                 f"(refinement on {_refine.device()})")
    # a long 720p clip: talking head over a still photo
    src, dst = tmp / "long.mp4", tmp / "long_m.mp4"
    bg = fit(photos()[1][1], 1280, 720)
    face = cv2.resize(astronaut(), (500, 500))
    n = int(long_seconds * 30)

    def talking_head(background: np.ndarray, pan: int = 0):
        """The face moving over ``background``, which pans ``pan`` px per frame."""
        def frames():
            for k in range(n):
                f = background[:, pan * k: pan * k + 1280].copy()
                x = 400 + int(30 * np.sin(k / 15))
                f[100:600, x:x + 500] = face
                yield f
        return frames

    gen = talking_head(bg)
    panning = talking_head(fit(photos()[1][1], 1280 + 2 * n, 720), pan=2)

    write_video(src, gen(), fps=30, crf=18)
    for label, frames in (("talking-head clip", gen), ("talking head over a background panning 2 px/frame", panning)):
        fm = FrameMarker(4242, 1280, 720, reuse=True, polarity=True)
        spent = 0.0
        for f in frames():
            t0 = time.perf_counter()
            fm.mark(f)
            spent += time.perf_counter() - t0
        lines.append(f"FrameMarker.mark on the {long_seconds:.0f} s 1280x720 {label} (generator path: reuse, polarity, "
                     f"default refinement): {1e3 * spent / n:.1f} ms/frame (encoder on {fm.stats['encoded']}/{n} frames, "
                     f"{fm.stats['refined']} refined)")
    t0 = time.perf_counter()
    stats = embed_video(src, dst, 4242)
    dt = time.perf_counter() - t0
    lines.append(f"embed_video {long_seconds:.0f} s 1280x720@30 (decode + mark + x264 CRF18 veryfast, {THREADS} thread(s)): {dt:.1f} s = "
                 f"{1e3 * dt / stats['frames']:.0f} ms/frame (encoder on {stats['encoded']}/{stats['frames']} frames, "
                 f"{stats['refined']} refined)")
    from deepsentry.watermark import detect, detect_report
    for label, path in (("marked", dst), ("unmarked", src)):
        ts = []
        for _ in range(2):
            t0 = time.perf_counter()
            rep = detect_report(path)
            ts.append(time.perf_counter() - t0)
        lines.append(f"detect {label} {long_seconds:.0f} s 1280x720 clip: {min(ts):.2f} s "
                     f"(id {'ok' if rep.result and rep.result.id == 4242 else rep.result}; {rep.frames_decoded} frames; "
                     f"{THREADS} thread(s)) load avg {os.getloadavg()[0]:.1f}")
    del detect
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small run: 3 clips, 8 images, 10 unmarked clips")
    ap.add_argument("--clips", type=int, default=None)
    ap.add_argument("--images", type=int, default=None)
    ap.add_argument("--unmarked-clips", type=int, default=None)
    ap.add_argument("--long-seconds", type=float, default=None, help="length of the 720p speed clip (10 s)")
    ap.add_argument("--no-baselines", action="store_true")
    ap.add_argument("--clip-start", type=int, default=0, help="index of the first clip (to split a run)")
    ap.add_argument("--fp-stills", type=int, default=None,
                    help="with --skip images: unmarked stills (photos x attacks) for the false-detection count")
    ap.add_argument("--skip", default="", help="comma list of parts to skip: speed,images,clips,false")
    ap.add_argument("--refine", type=int, default=None, metavar="STEPS",
                    help="video: gradient steps on every key frame (sets DEEPSENTRY_WM_REFINE; default: the "
                         "package's, 4 within a budget on a CPU)")
    ap.add_argument("--attacks", default=None, help="comma list: only these attacks (names as in the tables)")
    ap.add_argument("--fixed-ids", action="store_true", help="ids derived from each clip's / image's index (A/B runs)")
    args = ap.parse_args(argv)
    global SELECTED, FIXED_IDS
    if args.attacks:
        SELECTED = set(filter(None, args.attacks.split(",")))
        unknown = SELECTED - set(IMAGE_ATTACKS) - set(VIDEO_ATTACKS)
        if unknown:
            ap.error(f"unknown attacks: {', '.join(sorted(unknown))}")
    FIXED_IDS = args.fixed_ids
    if args.refine is not None:
        os.environ["DEEPSENTRY_WM_REFINE"] = str(args.refine)
    q = args.quick
    n_clips = args.clips if args.clips is not None else (3 if q else 20)
    n_images = args.images if args.images is not None else (8 if q else 50)
    n_unmarked = args.unmarked_clips if args.unmarked_clips is not None else (10 if q else 100)
    long_s = args.long_seconds if args.long_seconds is not None else (3.0 if q else 10.0)
    skip = set(filter(None, args.skip.split(",")))
    steps, every = _refine.video_policy()
    policy = f"{steps} on every key frame" if not every else f"{steps} on the first key frame of each polarity + 1 per {every} frames"
    log(f"watermark bench: {n_images} images, {n_clips} clips, {n_unmarked} unmarked clips; canonical short side "
        f"{_core.CANONICAL_SHORT}, strength {_core.STRENGTH}, detect frames {DETECT_FRAMES}; refine steps: stills "
        f"{_refine.STEPS} (margin {_refine.MARGIN}, step {_refine.STEP}), video {policy} (margin {_refine.VIDEO_MARGIN}, "
        f"step {_refine.VIDEO_STEP}, scaled view "
        f"{_refine.SCALED_LUMA}/{_refine.SCALED_CHROMA}/{_refine.SCALED_NOISE}) (on {_refine.device()}); cpus {os.cpu_count()}, "
        f"load avg {os.getloadavg()[0]:.1f}; {time.strftime('%H:%M:%S')}")
    quality: list = []
    timings: dict = {}
    fp_frames: list = []
    out: list[str] = []
    with tempfile.TemporaryDirectory(prefix="wmbench") as d:
        tmp = Path(d)
        if "speed" not in skip:
            for line in bench_speed(tmp, long_s):
                log(line)
                out.append(line)
        if "images" not in skip:
            t = bench_images(n_images, fp_frames, quality, timings, not args.no_baselines, tmp)
            out.append(t.table("== stills (exact-id recovery per image) =="))
            log(out[-1])
        if "clips" not in skip:
            t = bench_clips(n_clips, tmp, quality, timings, args.clip_start)
            out.append(t.table("== video (exact-id recovery per clip; every attack ends in an H.264 re-encode) =="))
            log(out[-1])
        if "false" not in skip:
            if "images" in skip and args.fp_stills:
                for _, _, img in make_images(n_images):
                    fp_frames.extend(op(img) for op, _ in IMAGE_ATTACKS.values())
                fp_frames = fp_frames[: args.fp_stills]
            out.append(bench_false(fp_frames, n_unmarked, tmp))
            log(out[-1])
    lines = ["== quality =="]
    for kind in sorted({(k, c) for k, c, _, _ in quality}):
        v = [(p, s) for k, c, p, s in quality if (k, c) == kind]
        lines.append(f"{kind[0]:<20}{kind[1]:<8} n={len(v):<3} PSNR mean {np.mean([p for p, _ in v]):.1f} "
                     f"min {min(p for p, _ in v):.1f} dB   SSIM mean {np.mean([s for _, s in v]):.4f} min {min(s for _, s in v):.4f}")
    lines.append("== timings ==")
    for k, v in timings.items():
        lines.append(f"{k:<28} median {np.median(v):.3f}  mean {np.mean(v):.3f}  max {np.max(v):.3f}  (n={len(v)})")
    lines.append(f"load avg at end {os.getloadavg()[0]:.1f}; {time.strftime('%H:%M:%S')}")
    log("\n".join(out + lines) if False else "\n".join(lines))
    log("\n\n==================== SUMMARY ====================\n" + "\n\n".join(out + lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

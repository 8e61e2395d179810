"""Generator quality bench: runs the real pipeline (consent -> swap / animate -> watermark -> H.264 -> C2PA ->
embedded anvil ledger) in a temporary DEEPSENTRY_HOME and prints numbers.

    .venv/bin/python bench/generator_quality.py               # quality + speed, writes runs/generator_*.png
    .venv/bin/python bench/generator_quality.py --calibrate   # face-match threshold calibration only

Per mode it reports:
  identity   cosine similarity (dlib 128-d) of the output face to the source face, and to the face that
             was there before (swap target / the source photo itself for animate)
  landmarks  swap: mean landmark distance, output vs the target's tracked landmarks, in inter-ocular
             distances (IOD); animate: correlation and error of the output's landmark motion vs the motion
             transferred from the driver
  jitter     mean |second difference| of the output's landmarks over time, in IOD (target's own for reference)
  fps        frames per second of the whole generate() call and of frame synthesis alone
  detector   deepsentry.detector's fake score on the generated clip ("n/a" when no detector is available)

Test media (see tests/generator/media.py): the astronaut photo (skimage), another real person (LFW face #3,
25 px grey upscaled), a two-face clip and a synthetic-motion driver clip made from the astronaut.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PASSPHRASE = "bench-passphrase-123"


def _cos(a, b) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


# --- calibration ----------------------------------------------------------------------------------
def _variants(img):
    """Same person, other renditions: re-encoding, colour, geometry, light, resolution."""
    import cv2

    H, W = img.shape[:2]
    out = {}
    for q in (30, 60):
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, q])
        out[f"jpeg{q}"] = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    out["grey"] = cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    out["mirror"] = np.ascontiguousarray(img[:, ::-1])
    for s in (0.5, 0.35):
        small = cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        out[f"scale{s}"] = cv2.resize(small, (W, H), interpolation=cv2.INTER_CUBIC)
    for a in (-12, 12):
        M = cv2.getRotationMatrix2D((W / 2, H / 2), a, 1.0)
        out[f"rot{a}"] = cv2.warpAffine(img, M, (W, H), borderMode=cv2.BORDER_REFLECT_101)
    out["bright+40"] = np.clip(img.astype(np.int16) + 40, 0, 255).astype(np.uint8)
    out["dark-50"] = np.clip(img.astype(np.int16) - 50, 0, 255).astype(np.uint8)
    out["blur"] = cv2.GaussianBlur(img, (7, 7), 2.0)
    out["gamma0.6"] = (255 * (img / 255.0) ** 0.6).astype(np.uint8)
    return out


def calibrate() -> dict:
    import cv2

    from deepsentry.generator import landmarks as lm
    from deepsentry.generator.consent import FACE_MATCH_THRESHOLD
    from tests.mediautil import astronaut, lfw_faces

    def emb(img):
        faces = lm.detect_faces(img)
        return lm.embedding(img, faces[0].points) if faces else None

    a = astronaut()
    ea = emb(a)
    same = {k: float(np.linalg.norm(emb(v) - ea)) for k, v in _variants(a).items() if emb(v) is not None}
    # LFW subset: 100 different-looking real faces (25x25 grey), upscaled; same-person pairs from renditions
    lfw = []
    for i, f in enumerate(lfw_faces()[:100]):
        g = cv2.resize((f * 255).round().astype(np.uint8), (200, 200), interpolation=cv2.INTER_CUBIC)
        img = np.ascontiguousarray(np.stack([g] * 3, -1))
        e = emb(img)
        if e is not None:
            lfw.append((i, img, e))
    lfw_same = []
    for i, img, e in lfw[:25]:
        for k in ("jpeg60", "mirror", "bright+40", "rot12"):
            v = _variants(img)[k]
            ev = emb(v)
            if ev is not None:
                lfw_same.append(float(np.linalg.norm(ev - e)))
    astro_vs_lfw = [float(np.linalg.norm(e - ea)) for _, _, e in lfw]
    E = np.array([e for _, _, e in lfw])
    d = np.linalg.norm(E[:, None] - E[None], axis=2)
    lfw_pairs = d[np.triu_indices(len(E), 1)]
    same_all = np.array(list(same.values()) + lfw_same)
    diff_all = np.concatenate([astro_vs_lfw, lfw_pairs])
    res = {
        "threshold_in_use": FACE_MATCH_THRESHOLD,
        "same_person_astronaut_renditions": {k: round(v, 3) for k, v in sorted(same.items(), key=lambda kv: kv[1])},
        "same_person_lfw_renditions": _stats(lfw_same),
        "different_astronaut_vs_lfw": _stats(astro_vs_lfw),
        "different_lfw_pairs": _stats(lfw_pairs),
        "lfw_faces_detected": len(lfw),
    }
    for t in (0.45, 0.5, 0.55, 0.6):
        res[f"at_{t}"] = {"false_reject_same": round(float((same_all > t).mean()), 4),
                          "false_accept_different": round(float((diff_all <= t).mean()), 4)}
    return res


def _stats(x) -> dict:
    x = np.asarray(x, dtype=float)
    if not len(x):
        return {"n": 0}
    return {"n": int(len(x)), "min": round(float(x.min()), 3), "p5": round(float(np.percentile(x, 5)), 3),
            "median": round(float(np.median(x)), 3), "p95": round(float(np.percentile(x, 95)), 3),
            "max": round(float(x.max()), 3)}


# --- quality ----------------------------------------------------------------------------------------
def _track_output(path: Path, near: np.ndarray | None = None):
    """Landmarks of the face in each output frame (nearest to ``near`` points if given)."""
    from deepsentry.generator import landmarks as lm
    from deepsentry.generator import video

    frames = list(video.frames(path))
    pts, embs = [], []
    for i, f in enumerate(frames):
        faces = lm.detect_faces(f)
        if near is not None and faces:
            c = near[i].mean(0)
            faces.sort(key=lambda fc: np.hypot(*(np.array(fc.center) - c)))
        if not faces:
            pts.append(None)
            embs.append(None)
            continue
        pts.append(faces[0].points)
        embs.append(lm.embedding(f, faces[0].points) if i % 4 == 0 else None)
    return frames, pts, embs


def _iod(p):
    return float(np.linalg.norm(p[36:42].mean(0) - p[42:48].mean(0)))


def _jitter(pts):
    seq = [p for p in pts if p is not None]
    if len(seq) < 3:
        return float("nan")
    P = np.stack(seq)
    return float(np.abs(np.diff(P, 2, axis=0)).mean() / np.mean([_iod(p) for p in seq]))


def _detector_score(path: Path, settings=None, _cache={}):
    """The verdict the daemon would give (deepsentry.detector.pipeline.Analyzer), or "n/a" without weights."""
    try:
        from deepsentry.detector.pipeline import Analyzer
    except Exception as exc:  # noqa: BLE001 - trained in parallel; absent is "n/a"
        return f"n/a (no detector: {type(exc).__name__})"
    try:
        if "an" not in _cache:
            from deepsentry.settings import load_settings

            _cache["an"] = Analyzer(settings or load_settings())
        an = _cache["an"]
        if an.scorer is None:
            return "n/a (no detector weights installed)"
        r = an.analyze_file(path)
        return {"verdict": r.verdict.to_json(), "model": an.model_info().version}
    except Exception as exc:  # noqa: BLE001
        return f"n/a ({type(exc).__name__}: {exc})"


def _wm(path: Path, expected: int) -> str:
    from deepsentry import watermark

    r = watermark.detect(path)
    if r is None:
        return "not found"
    return "ok" if int(r.id) == int(expected) else f"WRONG id {r.id}"


def quality(out_dir: Path, runs: Path) -> dict:
    from deepsentry.generator import generate
    from deepsentry.generator import landmarks as lm
    from deepsentry.generator import video
    from deepsentry.generator.animate import animate_frame, driven_points, prepare_source as prep_anim
    from deepsentry.generator.consent import create_consent, read_image
    from deepsentry.generator.swap import prepare_source, swap_frame
    from deepsentry.generator.tracking import follow
    from deepsentry.keys import KeyStore
    from deepsentry.ledger import open_registry
    from deepsentry.provenance import verify
    from deepsentry.settings import load_settings
    from tests.generator.media import driver_clip, other_person, save_png
    from tests.mediautil import astronaut, face_clip

    settings = load_settings(config_dir=out_dir / "config", data_dir=out_dir / "data")
    KeyStore(settings.config_dir).init(PASSPHRASE)
    astro_png = save_png(out_dir / "astronaut.png", astronaut())
    other_png = save_png(out_dir / "other.png", other_person())
    clip, truth = face_clip(out_dir / "two_faces.mp4", seconds=2.0, fps=25, size=(720, 360), faces=2, drift=1)
    drv, _ = driver_clip(out_dir / "driver.mp4", n=48, fps=24)
    results: dict = {}
    with open_registry(settings, passphrase=PASSPHRASE) as client:
        # ---- swap: the other person (consented) onto track 0 of the astronaut clip
        c_other, _ = create_consent(subject_name="LFW person", photo=other_png, modes=["swap"],
                                    expires=dt.date.today() + dt.timedelta(days=30), out=out_dir / "other.json",
                                    settings=settings, passphrase=PASSPHRASE)
        out = out_dir / "swap.mp4"
        t = time.monotonic()
        receipt = generate("swap", consent=c_other.path, source=other_png, target=clip, out=out, settings=settings,
                           track=0, client=client)
        wall = time.monotonic() - t
        n = video.probe(out).frames
        frames_in = list(video.frames(clip))
        tr = follow(frames_in, track=0)
        src_img = read_image(other_png)
        src_face = lm.main_face(src_img)
        src_emb = lm.embedding(src_img, src_face.points)
        tgt_emb = lm.embedding(frames_in[0], tr.raw[0])
        sw = prepare_source(src_img, src_face.points)
        t = time.monotonic()
        for i, f in enumerate(frames_in):
            swap_frame(f, sw, tr.points[i])
        core_fps = len(frames_in) / (time.monotonic() - t)
        frames_out, pts, embs = _track_output(out, tr.points)
        err = [np.linalg.norm(p - tr.points[i], axis=1).mean() / _iod(tr.points[i])
               for i, p in enumerate(pts) if p is not None]
        e_out = [e for e in embs if e is not None]
        rep = verify(out, settings, client).to_json()
        results["swap"] = {
            "frames": n, "found_face_in_output": round(sum(p is not None for p in pts) / len(pts), 3),
            "identity_cos_to_source": round(float(np.mean([_cos(e, src_emb) for e in e_out])), 3),
            "identity_cos_to_original_target_face": round(float(np.mean([_cos(e, tgt_emb) for e in e_out])), 3),
            "source_vs_target_cos (reference)": round(_cos(src_emb, tgt_emb), 3),
            "identity_dist_to_source": round(float(np.mean([np.linalg.norm(e - src_emb) for e in e_out])), 3),
            "landmark_err_vs_target_iod": round(float(np.mean(err)), 4),
            "jitter_output_iod": round(_jitter(pts), 5),
            "jitter_target_raw_iod": round(_jitter(list(tr.raw)), 5),
            "fps_pipeline": round(n / wall, 2), "fps_synthesis": round(core_fps, 2),
            "verify": rep["verdict"], "detector": _detector_score(out),
        }
        k = len(frames_out) // 2
        x, y, w, h = (int(v) for v in truth[k][0])
        crop = (slice(max(0, y - h // 2), y + 2 * h), slice(max(0, x - w // 2), x + 2 * w))
        import cv2

        pair = [cv2.resize(np.ascontiguousarray(im[crop]), None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
                for im in (frames_in[k], frames_out[k])]
        src_small = cv2.resize(src_img, (pair[0].shape[0], pair[0].shape[0]))
        save_png(runs / "generator_swap.png", np.concatenate([src_small, pair[0], pair[1]], 1))
        save_png(runs / "generator_swap_full.png", frames_out[k])
        results["swap"]["receipt"] = {"watermark_id": receipt.watermark_id, "ledger": receipt.ledger.get("status")}
        results["swap"]["watermark_read_back"] = _wm(out_dir / "swap.mp4", receipt.watermark_id)

        # ---- animate: the astronaut photo driven by the driver clip
        c_astro, _ = create_consent(subject_name="Eileen Collins", photo=astro_png, modes=["animate"],
                                    expires=dt.date.today() + dt.timedelta(days=30), out=out_dir / "astro.json",
                                    settings=settings, passphrase=PASSPHRASE)
        out = out_dir / "animate.mp4"
        t = time.monotonic()
        receipt = generate("animate", consent=c_astro.path, source=astro_png, target=drv, out=out,
                           settings=settings, client=client)
        wall = time.monotonic() - t
        n = video.probe(out).frames
        img = astronaut()
        face = lm.main_face(img)
        src_emb = lm.embedding(img, face.points)
        an = prep_anim(img, face.points)
        dframes = list(video.frames(drv))
        dtr = follow(dframes)
        expected = [driven_points(an.points, dtr.points[0], dtr.points[i]) for i in range(len(dframes))]
        t = time.monotonic()
        for e in expected:
            animate_frame(an, e)
        core_fps = len(expected) / (time.monotonic() - t)
        frames_out, pts, embs = _track_output(out)
        ok = [i for i, p in enumerate(pts) if p is not None]
        got = np.stack([(pts[i] - pts[ok[0]]).ravel() for i in ok])
        want = np.stack([(expected[i] - expected[ok[0]]).ravel() for i in ok])
        motion_r = float(np.corrcoef(got.ravel(), want.ravel())[0, 1])
        motion_err = float(np.mean([np.linalg.norm(pts[i] - expected[i], axis=1).mean() / _iod(expected[i]) for i in ok]))
        e_out = [e for e in embs if e is not None]
        rep = verify(out, settings, client).to_json()
        results["animate"] = {
            "frames": n, "found_face_in_output": round(len(ok) / len(pts), 3),
            "identity_cos_to_source": round(float(np.mean([_cos(e, src_emb) for e in e_out])), 3),
            "identity_dist_to_source": round(float(np.mean([np.linalg.norm(e - src_emb) for e in e_out])), 3),
            "motion_corr_vs_driver": round(motion_r, 4),
            "landmark_err_vs_driven_iod": round(motion_err, 4),
            "jitter_output_iod": round(_jitter(pts), 5),
            "jitter_driver_raw_iod": round(_jitter(list(dtr.raw)), 5),
            "fps_pipeline": round(n / wall, 2), "fps_synthesis": round(core_fps, 2),
            "verify": rep["verdict"], "detector": _detector_score(out),
        }
        mouth = [np.linalg.norm(e[66] - e[62]) for e in expected]
        k = int(np.argmax(mouth))
        drv_k = cv2.resize(dframes[k], (img.shape[1], img.shape[0]), interpolation=cv2.INTER_CUBIC)
        save_png(runs / "generator_animate.png", np.concatenate([img, drv_k, frames_out[k]], 1))
        results["animate"]["receipt"] = {"watermark_id": receipt.watermark_id, "ledger": receipt.ledger.get("status")}
        results["animate"]["watermark_read_back"] = _wm(out, receipt.watermark_id)
    return results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calibrate", action="store_true", help="face-match threshold calibration only")
    ap.add_argument("--runs", type=Path, default=ROOT / "runs")
    args = ap.parse_args(argv)
    if args.calibrate:
        print(json.dumps(calibrate(), indent=2))
        return 0
    args.runs.mkdir(parents=True, exist_ok=True)
    os.environ["DEEPSENTRY_PASSPHRASE"] = PASSPHRASE
    with tempfile.TemporaryDirectory(prefix="genbench-") as d:
        os.environ["DEEPSENTRY_HOME"] = d
        res = quality(Path(d), args.runs)
    print(json.dumps(res, indent=2, default=str))
    print(f"stills: {args.runs / 'generator_swap.png'}, {args.runs / 'generator_animate.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

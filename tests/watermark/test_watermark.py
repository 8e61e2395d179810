"""Watermark round trips on real photos and real H.264 clips, unmarked media, corrupt input, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from deepsentry.errors import BadRequest, MediaDecodeError, NotFound, UnsupportedMedia, WatermarkError
from deepsentry.watermark import (WATERMARK_BITS, FrameMarker, WatermarkResult, detect, detect_frames, embed_image,
                                  embed_image_file, embed_video, new_watermark_id, psnr)
from deepsentry.watermark import _payload
from deepsentry.watermark._io import DETECT_FRAMES
from tests.mediautil import astronaut
from tests.watermark.conftest import talking_head_frames, write_clip

ROOT = Path(__file__).resolve().parents[2]


def _jpeg(img: np.ndarray, q: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", img[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, q])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1]


# ------------------------------------------------------------------------------------------ payload
def test_payload_words_are_a_checked_pair():
    for wm_id in (0, 1, 0xFFFFFFFF, 123456789):
        assert _payload.unpermute(_payload.permute(wm_id)) == wm_id
        a, b = _payload.words_for(wm_id)
        m = _payload.match(a * 2 - 1, b * 2 - 1)
        assert m is not None and m.wm_id == wm_id and m.distance == 0
    ids = {new_watermark_id() for _ in range(200)}
    assert len(ids) > 190 and all(0 <= i < 2 ** WATERMARK_BITS for i in ids)


def test_list_decoder_repairs_weak_bits_but_rejects_random_words():
    rng = np.random.default_rng(5)
    wm_id = 0xDEADBEEF
    a, b = _payload.words_for(wm_id)
    # distance list: three weak wrong bits in A, three confident wrong bits in B
    soft_a, soft_b = (a * 2 - 1) * 5.0, (b * 2 - 1) * 5.0
    soft_a[[3, 17, 29]] *= -0.1
    soft_b[[0, 8, 30]] *= -1.0
    m = _payload.match(soft_a, soft_b)
    assert m is not None and m.wm_id == wm_id and m.decoder == "distance"
    # reliability list: 14 wrong bits spread over both words, all among the 16 least reliable
    soft_a, soft_b = (a * 2 - 1) * rng.uniform(3, 9, 32), (b * 2 - 1) * rng.uniform(3, 9, 32)
    wrong = rng.permutation(64)[:14]
    for i in wrong:
        (soft_a if i < 32 else soft_b)[i % 32] *= -rng.uniform(0.05, 0.3)
    m = _payload.match(soft_a, soft_b)
    assert m is not None and m.wm_id == wm_id and m.decoder == "reliability" and m.distance == 14
    # ... but not with 4 more confident wrong bits in B (outside the weak set)
    soft_b[[i for i in range(32) if i + 32 not in wrong][:4]] *= -1.0
    assert _payload.match(soft_a, soft_b) is None or _payload.match(soft_a, soft_b).wm_id != wm_id
    # random soft words: the bound is 3.6e-5 per test, so 0.11 false matches are expected in 3000;
    # 3 or more would happen with probability 2e-4 if the bound holds
    false = sum(_payload.match(rng.normal(size=32), rng.normal(size=32)) is not None for _ in range(3000))
    assert false <= 2
    assert _payload.false_match_probability() == pytest.approx(2 ** 16 / 2 ** 32 + 16 * 5489 / 2 ** 32)
    # the vectorised Feistel network is the scalar one
    xs = rng.integers(0, 2 ** 32, 50, dtype=np.uint64).astype(np.uint32)
    assert [int(v) for v in _payload.permute_many(xs)] == [_payload.permute(int(x)) for x in xs]
    assert [int(v) for v in _payload.unpermute_many(_payload.permute_many(xs))] == [int(x) for x in xs]


def test_fft_networks_match_onnxruntime():
    """The NumPy/FFT RivaGAN gives the same residuals and scores as the wheel's ONNX graphs."""
    from deepsentry.watermark import _core, _riva

    img = astronaut()
    small = cv2.resize(img, _core.canonical_size(*img.shape[:2]), interpolation=cv2.INTER_AREA).astype(np.float32)
    halves = _core._halves(small)
    a, b = _payload.words_for(0x5A5A1234)
    words = np.stack([a, b])
    r_fft = _riva.encode_residual(halves, words)
    r_onnx = _riva.encode_residual(halves, words, backend="onnx")
    assert np.abs(r_fft - r_onnx).max() < 0.01 and np.abs(r_onnx).max() > 1.0
    s_fft = _riva.decode_scores(halves + r_fft)
    s_onnx = _riva.decode_scores(halves + r_fft, backend="onnx")
    assert np.abs(s_fft - s_onnx).max() < 1e-3 * max(1.0, float(np.abs(s_onnx).max()))
    assert np.mean((s_fft > 0) == (words > 0.5)) > 0.9
    # a smaller copy (a crop hypothesis) read at the full copy's FFT size: same scores as onnxruntime
    small_crop = np.ascontiguousarray((halves + r_fft)[:, 10:138, 7:121])
    s_pad = _riva.decode_scores(small_crop, fft_hw=halves.shape[1:3])
    s_ref = _riva.decode_scores(small_crop, backend="onnx")
    assert np.abs(s_pad - s_ref).max() < 1e-3 * max(1.0, float(np.abs(s_ref).max()))


def test_fft_reader_loads_without_onnxruntime():
    """Reading the mark needs only NumPy/SciPy: importing invisible-watermark (which pulls in
    onnxruntime, ~1.3 s) is left to the reference backend."""
    code = ("import sys, numpy as np; from deepsentry.watermark import detect_frames; "
            "from tests.mediautil import astronaut; r = detect_frames([astronaut()]); "
            "assert r is None, r; assert 'onnxruntime' not in sys.modules and 'imwatermark' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)


# ------------------------------------------------------------------------------------------- images
def test_image_round_trip_is_invisible_and_reads_back(marked_astronaut):
    marked, wm_id = marked_astronaut
    assert marked.shape == astronaut().shape and marked.dtype == np.uint8
    assert psnr(marked, astronaut()) >= 38.0
    r = detect_frames([marked])
    assert isinstance(r, WatermarkResult)
    assert r.id == wm_id and r.frames_decoded == 1 and r.frames_agreeing == 1
    assert r.confidence > 0.999
    assert r.to_json() == {"id": wm_id, "confidence": r.confidence, "frames_agreeing": 1, "frames_decoded": 1}


def test_image_survives_jpeg_resize_crop_and_flip(marked_astronaut):
    marked, wm_id = marked_astronaut
    h, w = marked.shape[:2]
    attacked = {
        "jpeg50": _jpeg(marked, 50),
        "half": cv2.resize(marked, (w // 2, h // 2), interpolation=cv2.INTER_AREA),
        "crop80": marked[h // 10: h - h // 10, w // 10: w - w // 10],
        "flip": np.ascontiguousarray(marked[:, ::-1]),
    }
    found = {k: detect_frames([v]) for k, v in attacked.items()}
    assert {k: (r.id if r else None) for k, r in found.items()} == {k: wm_id for k in attacked}
    assert found["flip"].flipped and found["crop80"].crop_factor == 0.8


def test_unmarked_images_yield_none():
    from skimage import data

    for img in (astronaut(), data.coffee(), _jpeg(data.chelsea(), 70)):
        assert detect_frames([img]) is None


def test_image_file_round_trip(tmp_path):
    from PIL import Image

    src = tmp_path / "in.png"
    Image.fromarray(astronaut()).save(src)
    dst = tmp_path / "out.jpg"
    embed_image_file(src, dst, 77)
    assert detect(dst).id == 77
    assert detect(src) is None


# -------------------------------------------------------------------------------------------- video
def test_video_round_trip_keeps_frames_size_and_audio(marked_clip, source_clip):
    path, wm_id, stats = marked_clip
    assert stats["frames"] == 30 and stats["encoded"] + stats["reused"] == 30
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        assert v.codec_context.name == "h264" and v.codec_context.pix_fmt == "yuv420p"
        assert (v.codec_context.width, v.codec_context.height) == (960, 540)
        assert len(c.streams.audio) == 1 and c.streams.audio[0].codec_context.name == "aac"
        assert sum(1 for _ in c.decode(v)) == 30
    r = detect(path)
    assert r is not None and r.id == wm_id
    assert r.frames_decoded == DETECT_FRAMES and r.frames_agreeing >= 2
    assert detect(source_clip) is None


def test_reencoded_clip_still_yields_its_id(marked_clip, wm_dir):
    path, wm_id, _ = marked_clip
    with av.open(str(path)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    crf28 = write_clip(wm_dir / "crf28.mp4", frames, crf=28)
    r = detect(crf28)
    assert r is not None and r.id == wm_id and r.frames_decoded == DETECT_FRAMES


def test_parallel_reads_decide_exactly_like_one_thread(marked_clip, monkeypatch):
    """Frames are read on several threads; the scores, their order and so the decision do not change."""
    from deepsentry.watermark import load_frames

    path, wm_id, _ = marked_clip
    _, frames = load_frames(path, DETECT_FRAMES)
    crop = [np.ascontiguousarray(f[54:-54, 96:-96]) for f in frames]        # centre crop to 80 %
    results = {}
    for threads in ("1", "3"):
        monkeypatch.setenv("DEEPSENTRY_WM_THREADS", threads)
        results[threads] = (detect_frames(frames), detect_frames(crop))
    assert results["1"] == results["3"]
    plain, cropped = results["3"]
    assert plain.id == wm_id and cropped.id == wm_id


def test_unmarked_video_yields_none(wm_dir):
    path = write_clip(wm_dir / "other.mp4", talking_head_frames(12, seed=1), crf=23)
    assert detect(path) is None


def test_frame_marker_reuses_residual_on_static_frames():
    frame = next(talking_head_frames(1))
    m = FrameMarker(5, frame.shape[1], frame.shape[0], reuse=True)
    out = [m.mark(frame) for _ in range(4)]
    assert m.stats == {"encoded": 1, "reused": 3}
    assert all(np.abs(out[0].astype(int) - o).max() <= 1 for o in out[1:])
    assert detect_frames(out[-1:]).id == 5


# --------------------------------------------------------------------------------------- bad input
def test_corrupt_and_unsupported_input_give_clear_errors(tmp_path, marked_clip):
    missing = tmp_path / "missing.png"
    with pytest.raises(NotFound):
        detect(missing)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(UnsupportedMedia, match="empty"):
        detect(empty)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(os.urandom(4096))
    with pytest.raises(UnsupportedMedia, match="not an image or video"):
        detect(junk)
    png = tmp_path / "cut.png"
    ok, buf = cv2.imencode(".png", astronaut())
    png.write_bytes(buf.tobytes()[: len(buf) // 2])
    with pytest.raises(MediaDecodeError, match="cut.png"):
        detect(png)
    data = marked_clip[0].read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 3])          # moov atom (at the end) is gone
    with pytest.raises((MediaDecodeError, UnsupportedMedia)):
        detect(cut)
    with pytest.raises(WatermarkError, match="RGB uint8"):
        embed_image(astronaut().astype(np.float32), 1)
    with pytest.raises(BadRequest):
        embed_image(astronaut(), 2 ** 32)
    out = tmp_path / "never.mp4"
    with pytest.raises((UnsupportedMedia, MediaDecodeError)):
        embed_video(junk, out, 1)
    assert not out.exists()


# ---------------------------------------------------------------------------------------------- CLI
def test_cli_embed_prints_id_and_detect_json_has_documented_shape(tmp_path, capsys):
    from PIL import Image

    from deepsentry.cli import main

    src, dst = tmp_path / "in.png", tmp_path / "out.png"
    Image.fromarray(astronaut()).save(src)
    proc = subprocess.run([sys.executable, "-m", "deepsentry", "watermark", "embed", str(src), str(dst), "--id", "4096"],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "4096"

    assert main(["watermark", "detect", str(dst), "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert set(body) == {"id", "confidence", "frames_agreeing", "frames_decoded"}
    assert body["id"] == 4096 and body["frames_decoded"] == 1 and body["frames_agreeing"] == 1
    assert 0.999 < body["confidence"] <= 1.0

    assert main(["watermark", "detect", str(src), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"id": None, "confidence": 0.0, "frames_agreeing": 0,
                                                   "frames_decoded": 1}

    assert main(["watermark", "embed", str(src), str(tmp_path / "r.png")]) == 0
    printed = int(capsys.readouterr().out.strip())
    assert 0 <= printed < 2 ** 32
    # a random id reads back on ~91 % of unattacked photos (bench): never as another id
    found = detect(tmp_path / "r.png")
    assert found is None or found.id == printed

    junk = tmp_path / "junk.png"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(200))
    assert main(["watermark", "detect", str(junk), "--json"]) == 1
    err = json.loads(capsys.readouterr().out)["error"]
    assert err["code"] in ("corrupt_media", "unsupported_media") and "junk.png" in err["message"]

"""probe / load_image / decode_image_bytes / sha256 on real files, and every typed refusal."""

from __future__ import annotations

import hashlib
import struct
import tracemalloc

import numpy as np
import pytest
from PIL import Image

from deepsentry.errors import MediaDecodeError, NotFound, TooLarge, UnsupportedMedia
from deepsentry.media import (MediaInfo, decode_image_bytes, load_image, probe, sample_frames, sha256_bytes,
                              sha256_file, sniff_bytes)
from deepsentry.settings import Limits
from tests.mediautil import astronaut

from media_testlib import FPS, SECONDS, SIZE, crafted_png


# ------------------------------------------------------------------------------------------- images

@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp", "bmp", "gif"])
def test_probe_image_formats(media, fmt):
    info = probe(media[fmt])
    assert isinstance(info, MediaInfo)
    assert (info.kind, info.format, info.width, info.height) == ("image", fmt, 512, 512)
    assert info.duration is None and info.fps is None and info.frame_count == 1
    assert info.size_bytes == media[fmt].stat().st_size
    js = info.to_json()
    assert set(js) >= {"kind", "format", "codec", "width", "height", "duration", "fps", "frame_count", "size_bytes"}


@pytest.mark.parametrize("fmt,max_err", [("png", 0), ("bmp", 0), ("jpeg", 4.0), ("webp", 6.0), ("gif", 12.0)])
def test_load_image_matches_source(media, fmt, max_err):
    img = load_image(media[fmt])
    assert img.shape == (512, 512, 3) and img.dtype == np.uint8 and img.flags["C_CONTIGUOUS"]
    err = np.abs(img.astype(np.int16) - astronaut().astype(np.int16)).mean()
    assert err <= max_err, f"{fmt}: mean abs error {err:.2f}"


def test_gif_gives_first_frame(media):
    img = load_image(media["gif"]).astype(np.int16)
    first = np.abs(img - astronaut().astype(np.int16)).mean()
    second = np.abs(img - astronaut()[::-1].astype(np.int16)).mean()
    assert first < 12 and second > 3 * first


def test_decode_image_bytes_equals_file(media):
    for fmt in ("jpeg", "png", "webp"):
        assert np.array_equal(decode_image_bytes(media[fmt].read_bytes()), load_image(media[fmt]))


def test_rgba_png_is_flattened_on_white(tmp_path):
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[:, :15] = (255, 0, 0, 255)                  # opaque red left half, transparent right half
    p = tmp_path / "a.png"
    Image.fromarray(rgba, "RGBA").save(p)
    img = load_image(p)
    assert img.shape == (20, 30, 3)
    assert (img[:, :15] == (255, 0, 0)).all() and (img[:, 15:] == 255).all()


def test_exif_orientation_applied(tmp_path):
    src = np.zeros((40, 60, 3), np.uint8)
    src[:, :20] = 255                                  # white stripe on the left of the stored pixels
    im = Image.fromarray(src)
    exif = im.getexif()
    exif[0x0112] = 6                                   # "rotate 90 CW to display"
    p = tmp_path / "o.jpg"
    im.save(p, quality=95, exif=exif)
    info = probe(p)
    assert (info.width, info.height) == (40, 60)
    img = load_image(p)
    assert img.shape == (60, 40, 3)
    assert img[:15].mean() > 200 and img[-15:].mean() < 50     # the stripe is now on top


# ------------------------------------------------------------------------------------------- videos

@pytest.mark.parametrize("fmt,codec", [("mp4", "h264"), ("mov", "h264"), ("mkv", "h264"), ("webm", "vp9"),
                                       ("webm_vp8", "vp8")])
def test_probe_video_metadata(media, fmt, codec):
    info = probe(media[fmt])
    expected_fmt = fmt.split("_")[0]
    seconds = 1.0 if fmt == "webm_vp8" else SECONDS
    assert (info.kind, info.format, info.codec) == ("video", expected_fmt, codec)
    assert (info.width, info.height) == SIZE
    assert info.fps == pytest.approx(FPS, rel=0.01)
    assert info.duration == pytest.approx(seconds, abs=0.1)
    assert info.frame_count == pytest.approx(seconds * FPS, abs=2)
    assert info.size_bytes == media[fmt].stat().st_size


def test_sniff_bytes(media):
    expected = {"jpeg": ("image", "jpeg"), "png": ("image", "png"), "webp": ("image", "webp"),
                "gif": ("image", "gif"), "bmp": ("image", "bmp"), "mp4": ("video", "mp4"), "mov": ("video", "mov"),
                "mkv": ("video", "mkv"), "webm": ("video", "webm")}
    for key, want in expected.items():
        assert sniff_bytes(media[key].read_bytes()[:4096]) == want
    assert sniff_bytes(b"") is None and sniff_bytes(b"<!doctype html><html>") is None


def test_sniffing_ignores_file_names(media, tmp_path):
    disguised = tmp_path / "holiday.jpg"
    disguised.write_bytes(media["webm"].read_bytes())
    info = probe(disguised)
    assert (info.kind, info.format) == ("video", "webm")
    with pytest.raises(UnsupportedMedia):
        load_image(disguised)
    with pytest.raises(UnsupportedMedia):
        decode_image_bytes(media["mp4"].read_bytes())


# ------------------------------------------------------------------------------------------- limits

def test_pixel_bomb_png_refused_from_header(tmp_path):
    p = tmp_path / "bomb.png"
    p.write_bytes(crafted_png(30000, 30000))
    assert p.stat().st_size < 200
    tracemalloc.start()
    try:
        for call in (lambda: probe(p), lambda: load_image(p), lambda: decode_image_bytes(p.read_bytes()),
                     lambda: sample_frames(p)):
            with pytest.raises(TooLarge) as ei:
                call()
            assert ei.value.http_status == 413 and ei.value.details["limit"] == "max_pixels"
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000          # a decoded 30000x30000 RGB frame would be 2.7 GB


def test_pixel_limit_checked_before_decoding(tmp_path):
    # 3000x3000 declared, pixel data deliberately garbage: a decoder would report corruption.
    p = tmp_path / "big_corrupt.png"
    p.write_bytes(crafted_png(3000, 3000, idat=b"\x78\x9c garbage"))
    with pytest.raises(TooLarge) as ei:
        load_image(p, Limits(max_pixels=1_000_000))
    assert ei.value.details == {"limit": "max_pixels", "value": 9_000_000, "max": 1_000_000}
    # With a limit that lets it through, the header probes fine and the decode fails as corrupt:
    info = probe(p, Limits(max_pixels=10_000_000))
    assert (info.width, info.height) == (3000, 3000)
    with pytest.raises(MediaDecodeError):
        load_image(p, Limits(max_pixels=10_000_000))


def test_jpeg_with_huge_declared_size_refused(media, tmp_path):
    data = bytearray(media["jpeg"].read_bytes())
    i = 2
    while data[i + 1] not in (0xC0, 0xC1, 0xC2):       # walk the segments to the SOF marker
        i += 2 + struct.unpack(">H", data[i + 2:i + 4])[0]
    data[i + 5:i + 9] = struct.pack(">HH", 60000, 60000)   # height, width
    p = tmp_path / "huge.jpg"
    p.write_bytes(bytes(data))
    with pytest.raises(TooLarge):
        probe(p)


def test_ten_hour_video_refused_from_header(media):
    p = media["ten_hours"]
    assert p.stat().st_size < 10_000
    with pytest.raises(TooLarge) as ei:
        probe(p)
    assert ei.value.details["limit"] == "max_duration_s" and ei.value.details["value"] >= 36_000
    with pytest.raises(TooLarge):
        sample_frames(p)                                 # refused at call time, before any decoding
    info = probe(p, Limits(max_duration_s=100_000))      # the header really says 10 hours
    assert info.duration == pytest.approx(36_000, abs=2)


def test_duration_limit_on_real_clip(media):
    with pytest.raises(TooLarge) as ei:
        probe(media["mkv"], Limits(max_duration_s=1.0))
    assert ei.value.details["value"] == pytest.approx(SECONDS, abs=0.1)
    assert probe(media["mkv"], Limits(max_duration_s=10.0)).duration == pytest.approx(SECONDS, abs=0.1)


def test_video_pixel_and_byte_limits(media):
    with pytest.raises(TooLarge) as ei:
        probe(media["webm"], Limits(max_pixels=320 * 180 - 1))
    assert ei.value.details["limit"] == "max_pixels"
    size = media["mp4"].stat().st_size
    with pytest.raises(TooLarge) as ei:
        probe(media["mp4"], Limits(max_bytes=size - 1))
    assert ei.value.details == {"limit": "max_bytes", "value": size, "max": size - 1}
    with pytest.raises(TooLarge):
        decode_image_bytes(b"\xff\xd8\xff" + b"\0" * 100, Limits(max_bytes=50))


# ------------------------------------------------------------------------------------------ corrupt

def test_empty_random_and_text_are_unsupported(tmp_path):
    cases = {"empty.mp4": b"", "random.bin": np.random.default_rng(0).bytes(20_000),
             "notes.png": b"hello, this is text\n" * 50}
    for name, data in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        for call in (probe, load_image, sample_frames):
            with pytest.raises(UnsupportedMedia) as ei:
                call(p)
            assert ei.value.http_status == 415 and ei.value.code == "unsupported_media"
        if data:
            with pytest.raises(UnsupportedMedia):
                decode_image_bytes(data)
    with pytest.raises(UnsupportedMedia):
        decode_image_bytes(b"")


def test_truncated_mp4_is_a_decode_error(media, tmp_path):
    data = media["mp4"].read_bytes()          # PyAV writes the index (moov) at the end
    p = tmp_path / "truncated.mp4"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(MediaDecodeError) as ei:
        probe(p)
    assert ei.value.http_status == 422 and ei.value.code == "corrupt_media"


def test_truncated_faststart_mp4_keeps_decodable_frames(media, tmp_path):
    data = media["mp4_faststart"].read_bytes()
    full = list(sample_frames(media["mp4_faststart"]))
    p = tmp_path / "cut.mp4"
    p.write_bytes(data[: int(len(data) * 0.9)])
    part = list(sample_frames(p))              # header is intact; the tail is missing
    assert 1 <= len(part) < len(full)
    for a, b in zip(part, full):
        assert a.t == b.t and np.array_equal(a.image, b.image)
    p.write_bytes(data[: int(len(data) * 0.1)])   # index intact, almost no frame data
    frames = sample_frames(p)
    with pytest.raises(MediaDecodeError):
        list(frames)


def test_damaged_headers_and_missing_streams(media, tmp_path):
    cases = {
        "ftyp_garbage.mp4": b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x01" * 5000,
        "ebml_garbage.webm": b"\x1a\x45\xdf\xa3" + b"\x9f\x42\x82\x84webm" + b"\x00\xff" * 2000,
        "png_garbage.png": b"\x89PNG\r\n\x1a\n" + b"\x00" * 300,
        "gif_garbage.gif": b"GIF89a" + b"\xff" * 3,
    }
    for name, data in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        with pytest.raises(MediaDecodeError):
            probe(p)
    with pytest.raises(MediaDecodeError) as ei:
        probe(media["audio_only"])
    assert "no video stream" in ei.value.message
    jpeg = media["jpeg"].read_bytes()
    p = tmp_path / "cut.jpg"
    p.write_bytes(jpeg[: len(jpeg) // 3])
    assert probe(p).width == 512                    # header is fine ...
    with pytest.raises(MediaDecodeError):
        load_image(p)                               # ... the pixels are not


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(NotFound):
        probe(tmp_path / "nope.mp4")
    with pytest.raises(UnsupportedMedia):
        probe(tmp_path)


# ------------------------------------------------------------------------------------------- sha256

def test_sha256_streaming_equals_hashlib(media, tmp_path):
    for key in ("mp4", "webm", "png"):
        data = media[key].read_bytes()
        expected = hashlib.sha256(data).hexdigest()
        assert sha256_file(media[key]) == expected
        assert sha256_file(media[key], chunk=4097) == expected
        assert sha256_bytes(data) == expected
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert sha256_file(empty) == hashlib.sha256(b"").hexdigest()

"""Time-based frame sampling on real encoded video."""

from __future__ import annotations

import logging

import av
import numpy as np
import pytest

from deepsentry.errors import BadRequest
from deepsentry.media import Frame, load_image, plan_times, probe, sample_frames
from deepsentry.settings import Limits

from media_testlib import FPS, SECONDS, SIZE

PERIOD = 1.0 / FPS


def _check_frames(frames, expect_times):
    assert len(frames) == len(expect_times)
    for f, want in zip(frames, expect_times):
        assert isinstance(f, Frame)
        assert f.image.shape == (SIZE[1], SIZE[0], 3) and f.image.dtype == np.uint8
        assert abs(f.t - want) <= PERIOD + 1e-6, (f.t, want)
        assert f.index == round(f.t * FPS)
    ts = [f.t for f in frames]
    assert ts == sorted(ts) and len(set(ts)) == len(ts)


@pytest.mark.parametrize("fmt", ["mp4", "mov", "mkv", "webm"])
def test_default_rate_two_per_second(media, fmt):
    frames = list(sample_frames(media[fmt]))         # Limits(): 2 fps, max 64
    _check_frames(frames, [k * 0.5 for k in range(2 * SECONDS)])
    assert frames[0].t == 0.0 and frames[0].index == 0


def test_max_frames_spreads_over_whole_clip(media):
    frames = list(sample_frames(media["mp4"], fps=10, max_frames=5))   # 30 wanted, 5 allowed
    _check_frames(frames, [k * SECONDS / 5 for k in range(5)])
    assert frames[-1].t >= SECONDS * 0.75
    gaps = np.diff([f.t for f in frames])
    assert gaps.min() >= 0.6 - 2 * PERIOD and gaps.max() <= 0.6 + 2 * PERIOD


def test_limits_give_the_defaults(media):
    frames = list(sample_frames(media["mkv"], Limits(sample_fps=1.0, max_frames=2)))
    _check_frames(frames, [0.0, 1.5])


def test_rate_above_video_rate_gives_every_frame_once(media):
    frames = list(sample_frames(media["webm"], fps=60, max_frames=1000))
    assert [f.index for f in frames] == list(range(SECONDS * FPS))


def test_sampled_pixels_equal_a_full_sequential_decode(media):
    # reference: decode every frame with plain PyAV, no skipping
    ref = {}
    with av.open(str(media["mp4"])) as c:
        for i, fr in enumerate(c.decode(c.streams.video[0])):
            ref[i] = (float(fr.time), fr.to_ndarray(format="rgb24"))
    frames = list(sample_frames(media["mp4"], fps=3))
    assert len(frames) == 3 * SECONDS
    for f in frames:
        t, img = ref[f.index]
        assert f.t == pytest.approx(t, abs=1e-6)
        assert np.array_equal(f.image, img)


def _full_decode(path) -> dict[int, tuple[float, np.ndarray]]:
    ref = {}
    with av.open(str(path)) as c:
        for i, fr in enumerate(c.decode(c.streams.video[0])):
            ref[i] = (float(fr.time), fr.to_ndarray(format="rgb24"))
    return ref


def test_sparse_sampling_skips_whole_gops_with_identical_pixels(media, caplog):
    ref = _full_decode(media["mp4_gop10"])
    assert len(ref) == 4 * FPS
    with caplog.at_level(logging.DEBUG, logger="deepsentry.media"):
        frames = list(sample_frames(media["mp4_gop10"], fps=0.5))       # wanted: t = 0 s and 2 s
    assert [f.index for f in frames] == [0, 50]
    for f in frames:
        assert f.t == pytest.approx(ref[f.index][0], abs=1e-6)
        assert np.array_equal(f.image, ref[f.index][1])
    skipped = [r.getMessage() for r in caplog.records if "GOPs skipped" in r.getMessage()]
    assert skipped and int(skipped[0].split(": ")[1].split()[0]) >= 3    # 0.4-2.0 s never decoded
    dense = list(sample_frames(media["mp4_gop10"], fps=7, max_frames=1000))
    assert len(dense) == 28
    for f in dense:
        assert np.array_equal(f.image, ref[f.index][1])


def test_start_offset(media):
    frames = list(sample_frames(media["mp4"], fps=2, start=1.0))
    _check_frames(frames, [1.0, 1.5, 2.0, 2.5])
    with pytest.raises(BadRequest):
        sample_frames(media["mp4"], start=SECONDS + 1)


def test_bad_arguments(media):
    for kw in ({"fps": 0}, {"fps": -1}, {"max_frames": 0}, {"start": -1.0}, {"fps": float("nan")}):
        with pytest.raises(BadRequest):
            sample_frames(media["mp4"], **kw)


def test_image_yields_one_frame(media):
    frames = list(sample_frames(media["png"], fps=10))
    assert len(frames) == 1 and frames[0].t == 0.0 and frames[0].index == 0
    assert np.array_equal(frames[0].image, load_image(media["png"]))


def test_plan_times():
    assert plan_times(3.0, 2.0, 64) == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    spread = plan_times(60.0, 2.0, 64)
    assert len(spread) == 64 and spread[0] == 0.0 and spread[-1] == pytest.approx(60 - 60 / 64)
    assert plan_times(None, 2.0, 8) is None
    assert plan_times(1.0, 2.0, 8, start=0.8) == [0.8]


def test_probe_is_cheap_on_header_only(media):
    info = probe(media["webm"])
    assert info.frame_count == SECONDS * FPS

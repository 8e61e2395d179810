"""Several detectors behind one scorer (``deepsentry.detector.ensemble``): ``deepsentry fuse`` fits the
combiner on a crop index, the manifest scores exactly as its formula says from the members' own scores,
reports each member as a branch, and refuses members it was not fitted on."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from deepsentry.detector.ensemble import EnsembleScorer
from deepsentry.detector.inference import Scorer, default_weights_path, load_scorer
from deepsentry.detector.model import face_crop
from deepsentry.detector.sbi import face_landmarks, self_blend
from deepsentry.errors import ModelUnavailable
from tests.mediautil import astronaut


def _logit(p):
    p = np.clip(np.asarray(p, np.float64), 1e-12, 1 - 1e-12)
    return np.log(p / (1 - p))


@pytest.fixture(scope="module")
def fused(tmp_path_factory, tiny_index):
    """The shipped ensemble's members copied to a folder and fused again on the tiny index by the CLI."""
    shipped = json.loads(default_weights_path().read_text())
    d = tmp_path_factory.mktemp("ensemble")
    args = []
    for m in shipped["members"]:
        shutil.copy(default_weights_path().parent / m["file"], d / m["file"])
        args.append(m["file"] + (":" + m["branch"] if m.get("branch") else ""))
    out = subprocess.run([sys.executable, "-m", "deepsentry", "fuse", *[str(d / a) for a in args],
                          "--data", str(tiny_index), "--out", str(d / "ens.json"), "--version", "t1"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    printed = json.loads(out.stdout)
    assert printed["n"] == 8 and 0.0 <= printed["auc"] <= 1.0
    return d / "ens.json"


def test_the_default_detector_is_an_ensemble_of_small_files(shipped_scorer):
    assert isinstance(shipped_scorer, EnsembleScorer)
    for m in shipped_scorer.spec.members:
        assert (default_weights_path().parent / m.file).stat().st_size < 50 * 1024 * 1024
    info = shipped_scorer.info()
    assert info.branches == shipped_scorer.cfg.branches and len(info.branches) >= 2
    assert info.input_size == max(m.cfg.input_size for m in shipped_scorer.members)


def test_fused_scores_follow_the_combiner_over_the_members_scores(fused, mtcnn_box):
    ens = load_scorer(fused)
    assert isinstance(ens, EnsembleScorer) and ens.info().version == "t1"
    spec = ens.spec
    assert len(spec.combiner) == len(spec.members) + 1
    lo, hi = spec.uncertain_band
    assert lo <= spec.threshold <= hi
    crop = face_crop(astronaut(), mtcnn_box, ens.cfg)
    lm = face_landmarks(crop)
    rng = np.random.default_rng(3)
    crops = [crop] + [self_blend(crop, lm, rng)[0] for _ in range(3)]
    members = [load_scorer(fused.parent / m.file) for m in spec.members]
    assert all(isinstance(m, Scorer) for m in members)
    member_logits = np.stack([_logit(m.score_crops(crops)) for m in members], axis=-1)
    w, b = np.asarray(spec.combiner[:-1]), spec.combiner[-1]
    expect = 1.0 / (1.0 + np.exp(-(member_logits @ w + b)))
    assert np.allclose(ens.score_crops(crops), expect, atol=1e-4)

    detailed = ens.score_crops_detailed(crops)
    named = [m for m in spec.members if m.branch]
    assert named, "the shipped ensemble names a member without branch heads"
    for d, own in zip(detailed, members[spec.members.index(named[0])].score_crops(crops)):
        assert set(d.branches) == set(ens.cfg.branches)
        assert d.branches[named[0].branch] == pytest.approx(own, abs=1e-4)

    # a track: each member's mean frame logit (track_score "mean"), then the combiner
    track = np.stack(crops[:1] * 3)
    (ts,) = ens.score_tracks([track])
    per_member = [np.mean(_logit(m.score_crops(list(track)))) for m in members]
    assert ts.fake_prob == pytest.approx(1.0 / (1.0 + np.exp(-(np.dot(per_member, w) + b))), abs=1e-4)
    assert len(ts.frame_probs) == 3
    heat = ens.explain(crop, target="fake")
    assert heat.shape == crop.shape[:2] and 0.0 <= heat.min() and heat.max() <= 1.0


def test_a_member_changed_or_outside_the_folder_is_refused(fused, tmp_path):
    spec = json.loads(fused.read_text())
    d = tmp_path / "copy"
    shutil.copytree(fused.parent, d)
    member = d / spec["members"][-1]["file"]
    member.write_bytes(member.read_bytes() + b"\0")
    with pytest.raises(ModelUnavailable, match="SHA-256"):
        load_scorer(d / "ens.json")
    spec["members"][0]["file"] = "../" + spec["members"][0]["file"]
    (d / "evil.json").write_text(json.dumps(spec))
    with pytest.raises(ModelUnavailable, match="beside the manifest"):
        load_scorer(d / "evil.json")
    (d / "bad.json").write_text(json.dumps({**spec, "combiner": [1.0]}))
    with pytest.raises(ModelUnavailable, match="combiner"):
        load_scorer(d / "bad.json")

"""Model: forward shapes, masking of variable-length tracks, registry, weights round trip."""

from __future__ import annotations

import pytest
import torch

from deepsentry.detector.model import (DetectorCfg, create_detector, list_detectors, load_weights,
                                       save_weights)
from deepsentry.errors import BadRequest, ModelUnavailable


def _model(**kw):
    torch.manual_seed(0)
    return create_detector("tiny_test", **kw).eval()


def test_registry_lists_variants_and_rejects_unknown():
    names = list_detectors()
    assert {"mobilenet_v3_small_lstm", "resnext50_lstm", "tiny_test"} <= set(names)
    with pytest.raises(BadRequest, match="unknown detector"):
        create_detector("no_such_net")


def test_forward_shapes():
    m = _model()
    s = m.cfg.input_size
    x = torch.randn(9, 3, s, s)
    out = m(x, [2, 3, 4])
    assert out.frame_logits.shape == (9,)
    assert out.track_logits.shape == (3,)
    assert out.features.shape == (9, m.cfg.embed_dim)
    single = m(x)              # default: each frame its own track
    assert single.track_logits.shape == (9,)


def test_masking_variable_lengths_equals_unpadded():
    m = _model()
    s = m.cfg.input_size
    g = torch.Generator().manual_seed(1)
    tracks = [torch.randn(n, 3, s, s, generator=g) for n in (5, 1, 3)]
    with torch.no_grad():
        batched = m(torch.cat(tracks), [5, 1, 3]).track_logits
        alone = torch.stack([m(t, [t.shape[0]]).track_logits[0] for t in tracks])
    assert torch.allclose(batched, alone, atol=1e-5)
    # and padding is not seen: a longer neighbour does not change a short track's score
    with torch.no_grad():
        other = m(torch.cat([tracks[1], tracks[0]]), [1, 5]).track_logits[0]
    assert torch.allclose(other, alone[1], atol=1e-5)


def test_empty_track_rejected():
    m = _model()
    with pytest.raises(BadRequest):
        m.track_logits(torch.zeros(2, m.cfg.embed_dim), [2, 0])


def test_weights_round_trip_keeps_cfg_and_outputs(tmp_path):
    m = _model()
    cfg = m.cfg.replace(temperature_frame=1.7, threshold=0.42, uncertain_band=(0.3, 0.6), margin=-0.2,
                        trained_on="unit test")
    path = tmp_path / "w.pt"
    save_weights(m, path, cfg)
    m2, blob = load_weights(path)
    assert m2.cfg == cfg
    assert blob["cfg"]["input_size"] == cfg.input_size
    x = torch.randn(4, 3, cfg.input_size, cfg.input_size)
    with torch.no_grad():
        a, b = m(x, [4]), m2(x, [4])
    assert torch.allclose(a.frame_logits, b.frame_logits, atol=1e-6)
    assert torch.allclose(a.track_logits, b.track_logits, atol=1e-6)


def test_cfg_rejects_unknown_keys():
    d = DetectorCfg().to_dict()
    d["bogus"] = 1
    with pytest.raises(BadRequest, match="bogus"):
        DetectorCfg.from_dict(d)


def test_load_missing_or_foreign_file(tmp_path):
    with pytest.raises(ModelUnavailable):
        load_weights(tmp_path / "nope.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(ModelUnavailable):
        load_weights(bad)

"""Verify end to end with the real watermark: sealed -> registered, re-encoded copy -> registered_copy
(watermark + fingerprint), unrelated -> unknown, watermark pasted on other content -> not a copy."""

from __future__ import annotations

import cv2
import pytest
from prov_helpers import PASS, photo_clip, reencode, unrelated_clip, write_image

from deepsentry.provenance import flow as flow_mod
from deepsentry.provenance import seal, verify
from tests.mediautil import brick_wall, scene

wm = pytest.importorskip("deepsentry.watermark")


def test_image_seal_copy_unrelated_and_spoof(tmp_path, prov_settings, prov_registry, monkeypatch):
    monkeypatch.setenv("DEEPSENTRY_PASSPHRASE", PASS)
    sealed = tmp_path / "sealed.png"
    r = seal(write_image(tmp_path / "photo.png"), sealed, prov_settings, client=prov_registry)
    assert r.registered and (tmp_path / "sealed.png.receipt.json").exists()
    v = verify(sealed, prov_settings, prov_registry)
    assert v.verdict == "registered" and v.record.watermark_id == r.watermark_id and v.c2pa.trusted
    # stills are refined against the decoder (deepsentry.watermark._refine): the mark must read back
    found = wm.detect(sealed)
    assert found is not None and found.id == r.watermark_id
    # a re-encoded copy (JPEG q85, metadata stripped) -> registered_copy through watermark + fingerprint
    img = cv2.imread(str(sealed))
    copy = tmp_path / "copy.jpg"
    cv2.imwrite(str(copy), img, [cv2.IMWRITE_JPEG_QUALITY, 85])
    v = verify(copy, prov_settings, prov_registry)
    assert v.verdict == "registered_copy", v.evidence
    assert v.watermark.id == r.watermark_id and v.fingerprint_similarity >= 0.85
    assert v.record.content_hash == "0x" + r.sha256 and v.c2pa is None
    # unrelated content -> unknown
    assert verify(write_image(tmp_path / "scene.png", scene(512, 512, seed=3)), prov_settings,
                  prov_registry).verdict == "unknown"
    from skimage import data

    other = write_image(tmp_path / "cat.png", data.chelsea())
    # the registered id stamped onto other content: the fingerprint does not match -> not a copy
    spoof = tmp_path / "spoof.png"
    wm.embed_image_file(other, spoof, r.watermark_id)
    v = verify(spoof, prov_settings, prov_registry)
    assert v.watermark is not None and v.watermark.id == r.watermark_id
    assert v.verdict == "unknown" and v.fingerprint_similarity < 0.85
    assert any("spoof" in e for e in v.evidence)


def test_sealed_still_whose_first_id_does_not_read_gets_another(tmp_path, prov_settings, prov_registry, monkeypatch):
    """seal draws the still's id, reads the marked file back and draws another free id when it does not
    read (a 640x480 brick wall with id 0xCE14ABEE keeps one bit wrong); the receipt, the C2PA soft
    binding and the ledger record all name the id the file carries."""
    monkeypatch.setenv("DEEPSENTRY_PASSPHRASE", PASS)
    drawn = iter([0xCE14ABEE, 0x2468ACE1])
    monkeypatch.setattr(flow_mod, "new_watermark_id", lambda: next(drawn))
    sealed = tmp_path / "brick-sealed.png"
    r = seal(write_image(tmp_path / "brick.png", brick_wall()), sealed, prov_settings,
             client=prov_registry)
    assert r.watermark_id == 0x2468ACE1 and r.c2pa["soft_binding"] == 0x2468ACE1
    found = wm.detect(sealed)
    assert found is not None and found.id == 0x2468ACE1
    v = verify(sealed, prov_settings, prov_registry)
    assert v.verdict == "registered" and v.record.watermark_id == 0x2468ACE1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.slow
def test_video_sealed_reencoded_and_unrelated(tmp_path, prov_settings, prov_registry, monkeypatch):
    monkeypatch.setenv("DEEPSENTRY_PASSPHRASE", PASS)
    sealed = tmp_path / "sealed.mp4"
    r = seal(photo_clip(tmp_path / "clip.mp4"), sealed, prov_settings, client=prov_registry)
    v = verify(sealed, prov_settings, prov_registry)
    assert v.verdict == "registered" and v.c2pa.trusted
    unrelated = unrelated_clip(tmp_path / "unrelated.mp4", size=(640, 360))
    v = verify(unrelated, prov_settings, prov_registry)
    assert v.verdict == "unknown" and v.record is None
    found = wm.detect(sealed)                    # video key frames are refined against the decoder
    assert found is not None and found.id == r.watermark_id
    copy = reencode(sealed, tmp_path / "crf28.mp4", crf=28)
    v = verify(copy, prov_settings, prov_registry)
    assert v.verdict == "registered_copy", v.evidence
    assert v.watermark.id == r.watermark_id and v.fingerprint_similarity >= 0.85

"""Consent records: signing, encryption of the subject key, and every refusal of the generator (no ledger
needed here; revocation on the real ledger is in test_generator_e2e.py)."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest

from deepsentry.errors import ConsentError
from tests.generator.media import PASSPHRASE, no_outputs


def _refused(code, settings, tmp_path, consent, source, target, mode="swap"):
    """Call the real generate(); it must refuse with ``code`` and leave nothing in the output folder."""
    from deepsentry.generator import generate

    out_dir = tmp_path / "out"
    out_dir.mkdir(parents=True)
    with pytest.raises(ConsentError) as ei:
        generate(mode, consent=consent, source=source, target=target, out=out_dir / "fake.mp4", settings=settings)
    assert ei.value.code == code, ei.value.message
    assert ei.value.http_status == 403
    assert no_outputs(out_dir) == []
    return ei.value


def test_record_is_signed_by_the_subject_and_key_is_encrypted(astronaut_consent, media):
    from cryptography.hazmat.primitives import serialization

    from deepsentry.generator.consent import load_consent

    doc = json.loads(astronaut_consent["path"].read_text())
    rec = doc["record"]
    assert set(rec["modes"]) == {"swap", "animate"}
    assert rec["subject"]["name"] == "Eileen Collins"
    import hashlib

    assert rec["photo_sha256"] == hashlib.sha256(media["astronaut"].read_bytes()).hexdigest()
    c = load_consent(astronaut_consent["path"])
    c.verify_signature()
    assert len(c.embedding) == 128 and 0.5 < float(np.linalg.norm(c.embedding)) < 3
    assert len(c.consent_hash) == 64
    # the subject's private key is on disk only encrypted
    pem = astronaut_consent["key"].read_bytes()
    assert b"ENCRYPTED PRIVATE KEY" in pem
    with pytest.raises(TypeError):
        serialization.load_pem_private_key(pem, password=None)
    key = serialization.load_pem_private_key(pem, password=PASSPHRASE.encode())
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert raw == c.public_key_bytes


def test_missing_and_malformed_consent_refused(settings, tmp_path, media, two_face_clip):
    e = _refused("consent_missing", settings, tmp_path / "a", None, media["astronaut"], two_face_clip[0])
    assert "consent" in e.message
    _refused("consent_missing", settings, tmp_path / "b", tmp_path / "nope.json", media["astronaut"], two_face_clip[0])
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    _refused("consent_invalid", settings, tmp_path / "c", bad, media["astronaut"], two_face_clip[0])


@pytest.mark.parametrize("field,value", [("modes", ["swap", "animate", "extra"]), ("expires", "2099-12-31"),
                                         ("creator", "someone else"), ("embedding_sha256", "00" * 32)])
def test_tampered_record_refused(field, value, astronaut_consent, settings, tmp_path, media, two_face_clip):
    doc = json.loads(astronaut_consent["path"].read_text())
    doc["record"][field] = value
    p = tmp_path / "tampered.json"
    p.write_text(json.dumps(doc))
    _refused("consent_signature", settings, tmp_path, p, media["astronaut"], two_face_clip[0])


def test_signature_by_another_key_refused(astronaut_consent, settings, tmp_path, media, two_face_clip):
    """A record re-signed by someone else's key but still naming the subject's public key."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from deepsentry.generator.consent import canonical_json

    doc = json.loads(astronaut_consent["path"].read_text())
    import base64

    doc["signature"] = base64.b64encode(Ed25519PrivateKey.generate().sign(canonical_json(doc["record"]))).decode()
    p = tmp_path / "forged.json"
    p.write_text(json.dumps(doc))
    _refused("consent_signature", settings, tmp_path, p, media["astronaut"], two_face_clip[0])


def test_expired_consent_refused(settings, tmp_path, media, two_face_clip):
    from deepsentry.generator.consent import (build_record, face_embedding_of, load_subject_key, read_image,
                                              sign_record, _raw_public, new_subject_key)

    key, _ = new_subject_key(tmp_path / "keys", "Eileen Collins", PASSPHRASE)
    img = read_image(media["astronaut"])
    rec = build_record(subject_name="Eileen Collins", public_raw=_raw_public(key), creator="c", modes=["swap"],
                       photo_bytes=media["astronaut"].read_bytes(), embedding=face_embedding_of(img),
                       expires=dt.date(2021, 6, 30), issued=dt.datetime(2021, 1, 1, tzinfo=dt.timezone.utc))
    p = sign_record(rec, key).write(tmp_path / "expired.json")
    e = _refused("consent_expired", settings, tmp_path, p, media["astronaut"], two_face_clip[0])
    assert "2021-06-30" in e.message
    assert load_subject_key(next((tmp_path / "keys").iterdir()), PASSPHRASE)


def test_wrong_mode_refused(settings, tmp_path, media, driver):
    from deepsentry.generator.consent import create_consent

    p = tmp_path / "swap_only.json"
    create_consent(subject_name="Eileen Collins", photo=media["astronaut"], modes=["swap"],
                   expires=dt.date.today() + dt.timedelta(days=30), out=p, settings=settings, passphrase=PASSPHRASE)
    e = _refused("consent_mode", settings, tmp_path, p, media["astronaut"], driver[0], mode="animate")
    assert "animate" in e.message


def test_face_mismatch_refused(astronaut_consent, settings, tmp_path, media, two_face_clip):
    """The consent is the astronaut's; the source photo shows another real person (LFW face)."""
    e = _refused("face_mismatch", settings, tmp_path, astronaut_consent["path"], media["other"], two_face_clip[0])
    assert e.details["distance"] > e.details["threshold"]


def test_same_person_other_photo_matches(astronaut_consent):
    """The consented face is recognised in a different rendition of the subject's photo (greyscale,
    mirrored, half size) -- the check is on the face, not the file."""
    import cv2

    from deepsentry.generator.consent import face_embedding_of, load_consent
    from tests.mediautil import astronaut

    c = load_consent(astronaut_consent["path"])
    img = cv2.cvtColor(cv2.cvtColor(astronaut(), cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)[:, ::-1]
    img = cv2.resize(np.ascontiguousarray(img), (256, 256), interpolation=cv2.INTER_AREA)
    d = c.check_face(face_embedding_of(img))
    assert d < c.threshold


def test_consent_for_other_person_created_and_checked(settings, tmp_path, media):
    """Consent records work for any face: the other person's consent matches their photo, not the astronaut."""
    from deepsentry.generator.consent import create_consent, face_embedding_of, read_image

    signed, _ = create_consent(subject_name="LFW person", photo=media["other"], modes=["animate"],
                               expires=dt.date.today() + dt.timedelta(days=1), out=tmp_path / "o.json",
                               settings=settings, passphrase=PASSPHRASE)
    assert signed.face_distance(face_embedding_of(read_image(media["other"]))) < 0.05
    with pytest.raises(ConsentError) as ei:
        signed.check_face(face_embedding_of(read_image(media["astronaut"])))
    assert ei.value.code == "face_mismatch"


def test_consent_record_reads_back_exactly_as_signed(astronaut_consent):
    """The typed record writes the very JSON it was read from (the signature covers those bytes)."""
    from deepsentry.generator.consent import ConsentRecord, canonical_json, load_consent

    doc = json.loads(astronaut_consent["path"].read_text())
    c = load_consent(astronaut_consent["path"])
    assert isinstance(c.record, ConsentRecord)
    assert canonical_json(c.record.to_json()) == canonical_json(doc["record"])
    assert c.record.subject.name == "Eileen Collins" and set(c.modes) == {"swap", "animate"}


@pytest.mark.parametrize("change,word", [
    (lambda r: r.update(extra="x"), "unknown fields extra"),
    (lambda r: r.pop("nonce"), "lacks nonce"),
    (lambda r: r.update(creator=7), "creator has the wrong type"),
    (lambda r: r.update(modes="swap"), "modes has the wrong type"),
    (lambda r: r["subject"].update(role="x"), "subject needs name and public_key"),
    (lambda r: r.update(face_threshold="0.9"), "face_threshold is not a number"),
])
def test_malformed_consent_record_named(change, word, astronaut_consent, tmp_path):
    from deepsentry.errors import ConsentError
    from deepsentry.generator.consent import load_consent

    doc = json.loads(astronaut_consent["path"].read_text())
    change(doc["record"])
    p = tmp_path / "odd.json"
    p.write_text(json.dumps(doc))
    with pytest.raises(ConsentError) as ei:
        load_consent(p)
    assert ei.value.code == "consent_invalid" and word in ei.value.message

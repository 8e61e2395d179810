"""End to end on a real embedded anvil with real creator keys: consent (CLI) -> swap (API) and animate (CLI)
-> every output watermarked, C2PA-signed and registered -> ``deepsentry.provenance.verify`` says
``registered``, the watermark id is read back, C2PA is trusted and the consent hash matches; then the
subject revokes the consent (CLI) and the generator refuses, writing nothing.

Clips are 8 frames: watermarking costs about a second per frame on this CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from deepsentry.errors import ConsentError
from tests.generator.media import PASSPHRASE, no_outputs

pytestmark = pytest.mark.slow


def _cli(gen_home, *args, expect=0):
    env = dict(os.environ, DEEPSENTRY_HOME=str(gen_home), DEEPSENTRY_PASSPHRASE=PASSPHRASE)
    proc = subprocess.run([sys.executable, "-m", "deepsentry", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == expect, f"rc {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def cli_consent(gen_home, ledger, media, tmp_path_factory):
    """Consent created through the CLI: a fresh subject key, claimed on the ledger with its revocation commit."""
    out = tmp_path_factory.mktemp("gen_e2e") / "eileen.consent.json"
    proc = _cli(gen_home, "consent", "create", "--subject-name", "Eileen Collins", "--photo", media["astronaut"],
                "--modes", "swap,animate", "--expires", "2099-01-01", "--out", out, "--creator", "e2e test", "--json")
    info = json.loads(proc.stdout)
    assert info["ledger"] == "claimed"
    assert Path(info["subject_key"]).is_file() and b"ENCRYPTED" in Path(info["subject_key"]).read_bytes()
    return out, info


@pytest.fixture(scope="module")
def other_consent(settings, ledger, media, tmp_path_factory):
    """Consent of the other real person (LFW face), made through the API and claimed on the ledger."""
    import datetime as dt

    from deepsentry.generator.cli import claim_on_ledger
    from deepsentry.generator.consent import create_consent

    signed, key = create_consent(subject_name="LFW person", photo=media["other"], modes=["swap"],
                                 expires=dt.date(2099, 1, 1), out=tmp_path_factory.mktemp("gen_oc") / "o.json",
                                 settings=settings, passphrase=PASSPHRASE)
    assert claim_on_ledger(signed, key, settings, client=ledger, passphrase=PASSPHRASE) == "claimed"
    return signed


@pytest.fixture(scope="module")
def short_clips(tmp_path_factory):
    from tests.generator.media import driver_clip, with_tone
    from tests.mediautil import face_clip

    d = tmp_path_factory.mktemp("gen_e2e_clips")
    silent, truth = face_clip(d / "two.mp4", seconds=0.32, fps=25, size=(720, 360), faces=2, drift=1)
    target = with_tone(silent, d / "two_tone.mp4")
    drv, _ = driver_clip(d / "driver8.mp4", n=8, fps=8)
    return {"target": target, "truth": truth, "driver": drv}


def _check_provenance(out: Path, receipt_json: dict, consent_hash: str, settings, ledger):
    from deepsentry.provenance import verify

    assert out.is_file()
    assert Path(receipt_json["receipt_path"]).is_file()
    rep = verify(out, settings, ledger)
    j = rep.to_json()
    assert j["verdict"] == "registered", j["evidence"]
    assert rep.c2pa is not None and rep.c2pa.valid and rep.c2pa.trusted
    assert rep.record.consent_hash == "0x" + consent_hash
    assert receipt_json["consent_hash"] == consent_hash
    assert rep.record.watermark_id == receipt_json["watermark_id"]
    return rep


def _check_watermark(out: Path, receipt_json: dict):
    """The id embedded in every frame reads back (the first key frames of each polarity are refined
    against the decoder, on the CPU too)."""
    from deepsentry import watermark

    wm = watermark.detect(out)
    assert wm is not None, f"watermark {receipt_json['watermark_id']} not read back from {out.name}"
    assert int(wm.id) == receipt_json["watermark_id"]


def test_swap_end_to_end(other_consent, short_clips, media, settings, ledger, tmp_path):
    """The other person's face onto the right-hand astronaut (track 1) of a clip with two astronauts."""
    from deepsentry.generator import generate
    from deepsentry.generator import video

    out = tmp_path / "swapped.mp4"
    seen = []
    receipt = generate("swap", consent=other_consent.path, source=media["other"], target=short_clips["target"],
                       out=out, settings=settings, track=1, client=ledger, passphrase=PASSPHRASE,
                       progress=lambda f, m: seen.append(f))
    assert seen[-1] == 1.0 and all(b >= a for a, b in zip(seen, seen[1:]))
    _check_provenance(out, receipt.to_json(), other_consent.consent_hash, settings, ledger)
    assert receipt.mode == "swap"
    # the target's audio is carried into the output
    with av.open(str(out)) as c:
        assert c.streams.audio, "audio passed through"
        pcm = np.concatenate([f.to_ndarray() for f in c.decode(audio=0)], axis=1)
        assert np.abs(pcm).max() > 0.1
    # the chosen track (right face) changed; the left face barely moved (watermark + re-encode only)
    src = list(video.frames(short_clips["target"]))
    got = list(video.frames(out))
    assert len(got) == len(src) == 8
    diffs_chosen, diffs_other = [], []
    for i in (0, 4, 7):
        d = np.abs(got[i].astype(np.int16) - src[i].astype(np.int16)).mean(axis=2)
        for k, acc in ((1, diffs_chosen), (0, diffs_other)):
            x, y, w, h = (int(v) for v in short_clips["truth"][i][k])
            acc.append(d[y + h // 3:y + 4 * h // 5, x + w // 4:x + 3 * w // 4].mean())
    assert min(diffs_chosen) > 6 * max(diffs_other), (diffs_chosen, diffs_other)
    _check_watermark(out, receipt.to_json())


def test_animate_end_to_end_via_cli(cli_consent, short_clips, media, settings, ledger, gen_home, tmp_path):
    consent, info = cli_consent
    out = tmp_path / "animated.mp4"
    proc = _cli(gen_home, "generate", "animate", "--consent", consent, "--source", media["astronaut"],
                "--driving", short_clips["driver"], "-o", out, "--json")
    receipt = json.loads(proc.stdout)
    assert receipt["mode"] == "animate"
    _check_provenance(out, receipt, info["consent_hash"], settings, ledger)
    _check_watermark(out, receipt)


def test_revoked_consent_refused(cli_consent, short_clips, media, settings, ledger, gen_home, tmp_path):
    from deepsentry.generator import generate

    consent, info = cli_consent
    proc = _cli(gen_home, "consent", "verify", consent, "--json")
    assert json.loads(proc.stdout)["ledger"] == "claimed"
    proc = _cli(gen_home, "consent", "revoke", consent, "--json")
    assert json.loads(proc.stdout)["revoked"] is True
    assert ledger.is_consent_revoked(info["consent_hash"])
    proc = _cli(gen_home, "consent", "verify", consent, "--json", expect=1)
    rep = json.loads(proc.stdout)
    assert rep["valid"] is False and rep["error"]["code"] == "consent_revoked"
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(ConsentError) as ei:
        generate("swap", consent=consent, source=media["astronaut"], target=short_clips["target"],
                 out=out_dir / "x.mp4", settings=settings, client=ledger, passphrase=PASSPHRASE)
    assert ei.value.code == "consent_revoked"
    assert no_outputs(out_dir) == []
    # the CLI refuses too, with a clear message and no file
    proc = _cli(gen_home, "generate", "animate", "--consent", consent, "--source", media["astronaut"],
                "--driving", short_clips["driver"], "-o", out_dir / "y.mp4", expect=1)
    assert "revoked" in proc.stderr
    assert no_outputs(out_dir) == []


def test_revocation_needs_subject_key_or_ownership(gen_home, ledger, media, settings, tmp_path):
    """Someone else's account without the subject's key cannot revoke a claimed consent; the subject's key
    (its revocation secret) can, from any account."""
    from web3.exceptions import ContractLogicError

    from deepsentry.generator.cli import claim_on_ledger
    from deepsentry.generator.consent import create_consent, load_subject_key, revocation_key_hash, revocation_secret
    from deepsentry.ledger import open_registry

    signed, key = create_consent(subject_name="Eileen Collins", photo=media["astronaut"], modes=["swap"],
                                 expires=__import__("datetime").date(2099, 1, 1), out=tmp_path / "c.json",
                                 settings=settings, passphrase=PASSPHRASE)
    # A client of its own, beside the session's: both send from the same creator account.
    with open_registry(settings, passphrase=PASSPHRASE) as client:
        assert claim_on_ledger(signed, key, settings, client=client, passphrase=PASSPHRASE) == "claimed"
        info = client.consent_info(signed.consent_hash)
    assert info["revocable_by_secret"] and not info["revoked"]
    w3 = ledger.w3
    stranger = w3.eth.accounts[0]          # an unlocked anvil account, not the claimer
    assert stranger.lower() != info["owner"].lower()
    h = bytes.fromhex(signed.consent_hash)
    with pytest.raises(ContractLogicError):
        ledger.contract.functions.revokeConsent(h, b"wrong secret").transact({"from": stranger})
    assert not ledger.is_consent_revoked(signed.consent_hash)
    secret = revocation_secret(load_subject_key(key, PASSPHRASE), revocation_key_hash(signed))
    tx = ledger.contract.functions.revokeConsent(h, secret).transact({"from": stranger})
    assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
    assert ledger.is_consent_revoked(signed.consent_hash)


def test_target_without_faces_leaves_nothing(other_consent, media, settings, ledger, tmp_path):
    """A valid consent, but the target video has no face: a clear NoFaceFound and no file at all."""
    from deepsentry.errors import NoFaceFound
    from deepsentry.generator import generate
    from tests.mediautil import no_face_clip

    target = no_face_clip(tmp_path / "scene.mp4", seconds=0.4, size=(320, 180))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(NoFaceFound):
        generate("swap", consent=other_consent.path, source=media["other"], target=target, out=out_dir / "z.mp4",
                 settings=settings, client=ledger, passphrase=PASSPHRASE)
    assert no_outputs(out_dir) == []

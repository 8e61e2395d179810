"""Registration flow and verify on a real anvil node: finalize, receipts, failures, revocation, outbox."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
from prov_helpers import FIXTURES, PASS, small_clip, write_image

from deepsentry.errors import KeyStoreError, LedgerError, ProvenanceError
from deepsentry.keys import KeyStore
from deepsentry.ledger import RegistryClient
from deepsentry.ledger.node import free_port
from deepsentry.provenance import allocate_watermark_id, finalize, read_c2pa, verify, verify_url
from deepsentry.provenance import flow as flow_mod


def _finalize(src, out, settings, client, **kw):
    args = dict(watermark_id=allocate_watermark_id(client), consent_hash=os.urandom(32), mode="consented",
                generator={"model": "unit-test"}, settings=settings, client=client, passphrase=PASS)
    args.update(kw)
    return finalize(src, out, **args)


@pytest.mark.parametrize("ext", [".jpg", ".mp4"])
def test_finalize_signs_registers_and_verify_says_registered(ext, tmp_path, prov_settings, prov_registry):
    src = small_clip(tmp_path / "enc.mp4") if ext == ".mp4" else write_image(tmp_path / "enc.jpg")
    out = tmp_path / f"final{ext}"
    consent = os.urandom(32)
    r = _finalize(src, out, prov_settings, prov_registry, consent_hash=consent)
    assert out.exists() and r.registered
    assert r.sha256 == hashlib.sha256(out.read_bytes()).hexdigest()
    on_disk = json.loads((tmp_path / f"final{ext}.receipt.json").read_text())
    assert on_disk == r.to_json() and on_disk["ledger"]["chain"] == "eip155:31337"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]        # no temp files left
    c2 = read_c2pa(out, prov_settings)
    assert c2.trusted and c2.watermark_id == r.watermark_id and c2.consent_hash == consent.hex()
    assert c2.ledger == {"chain": prov_registry.caip2, "contract": prov_registry.address}
    v = verify(out, prov_settings, prov_registry)
    assert v.verdict == "registered"
    assert v.record.watermark_id == r.watermark_id and v.record.consent_hash == "0x" + consent.hex()
    assert v.record.fingerprint == "0x" + r.fingerprint
    assert v.record.manifest_hash == "0x" + r.manifest_hash
    assert v.c2pa.trusted
    j = v.to_json()
    assert j["verdict"] == "registered" and j["record"]["content_hash"] == "0x" + r.sha256
    # the unsigned encode is unknown (the watermark check is not exercised here: no mark was embedded)
    assert verify(src, prov_settings, prov_registry, check_watermark=False).verdict == "unknown"


def test_failure_leaves_no_unlabelled_output(tmp_path, prov_settings, prov_registry):
    out = write_image(tmp_path / "gen.png")                     # the generator encoded straight to out
    with pytest.raises(KeyStoreError):
        _finalize(out, out, prov_settings, prov_registry, passphrase="wrong passphrase!")
    assert not out.exists() and not (tmp_path / "gen.png.receipt.json").exists()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ProvenanceError):
        _finalize(write_image(tmp_path / "a.png"), tmp_path / "out.gif", prov_settings, prov_registry)
    # a registration the contract refuses (watermark id already used) removes the output too
    src = write_image(tmp_path / "b.png")
    r = _finalize(src, tmp_path / "b-final.png", prov_settings, prov_registry)
    dup = tmp_path / "dup.png"
    with pytest.raises(LedgerError) as e:
        _finalize(tmp_path / "b-final.png", dup, prov_settings, prov_registry, watermark_id=r.watermark_id)
    assert e.value.code == "watermark_taken"
    assert not dup.exists() and not (tmp_path / "dup.png.receipt.json").exists()


def test_in_place_finalize(tmp_path, prov_settings, prov_registry):
    out = write_image(tmp_path / "gen.png")
    r = _finalize(out, out, prov_settings, prov_registry)
    assert out.exists() and verify(out, prov_settings, prov_registry).verdict == "registered" and r.registered


def test_node_down_output_is_labelled_and_registration_queued(tmp_path, prov_settings, prov_registry, monkeypatch):
    monkeypatch.setattr("deepsentry.ledger.client.BACKOFF_S", (0.05, 0.05, 0.05))
    down = RegistryClient.from_url(f"http://127.0.0.1:{free_port()}", chain_id=prov_registry.chain_id,
                                   address=prov_registry.address, data_dir=prov_settings.data_dir,
                                   keystore=KeyStore(prov_settings.config_dir), passphrase=PASS, embedded=True)
    out = tmp_path / "offline.png"
    r = _finalize(write_image(tmp_path / "src.png"), out, prov_settings, down, watermark_id=424242)
    assert out.exists() and r.ledger["status"] == "pending" and not r.registered
    assert read_c2pa(out, prov_settings).trusted
    v = verify(out, prov_settings, down)
    assert v.verdict == "c2pa_valid" and any("unreachable" in e for e in v.evidence)
    assert prov_registry.pending_registration(r.sha256) is not None
    assert prov_registry.flush_outbox()["delivered"] >= 1          # the node answers again
    v = verify(out, prov_settings, prov_registry)
    assert v.verdict == "registered" and v.record.watermark_id == 424242


def test_revoked_record_and_revoked_consent(tmp_path, prov_settings, prov_registry):
    r1 = _finalize(write_image(tmp_path / "a.png"), tmp_path / "a-out.png", prov_settings, prov_registry)
    prov_registry.revoke(r1.sha256)
    v = verify(tmp_path / "a-out.png", prov_settings, prov_registry)
    assert v.verdict == "revoked" and v.record.revoked
    consent = os.urandom(32)
    _finalize(write_image(tmp_path / "b.png"), tmp_path / "b-out.png", prov_settings, prov_registry,
              consent_hash=consent)
    assert verify(tmp_path / "b-out.png", prov_settings, prov_registry).verdict == "registered"
    prov_registry.revoke_consent(consent)
    v = verify(tmp_path / "b-out.png", prov_settings, prov_registry)
    assert v.verdict == "revoked" and any("consent" in e for e in v.evidence)


def test_allocate_watermark_id_skips_ids_on_the_ledger(prov_registry, monkeypatch):
    taken = 0x0BADF00D
    if not prov_registry.is_watermark_taken(taken):
        prov_registry.register(os.urandom(32), os.urandom(32), taken, b"", None)
    ids = iter([taken, taken, 0x600DF00D])
    monkeypatch.setattr(flow_mod, "new_watermark_id", lambda: next(ids))
    assert allocate_watermark_id(prov_registry) == 0x600DF00D


def test_verify_url_over_loopback(prov_settings, prov_registry):
    handler = partial(SimpleHTTPRequestHandler, directory=str(FIXTURES))
    handler.log_message = lambda *a, **k: None
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        port = server.server_address[1]
        s = prov_settings.replace(url_allowlist=(f"127.0.0.1:{port}",))
        v = verify_url(f"http://127.0.0.1:{port}/adobe-20220124-C.jpg", s, prov_registry)
        assert v.verdict == "c2pa_valid" and v.source.endswith("adobe-20220124-C.jpg")
    finally:
        server.shutdown()
        server.server_close()


def test_cli_verify_json(tmp_path, prov_settings, prov_registry):
    import subprocess
    import sys

    env = {**os.environ, "DEEPSENTRY_HOME": str(tmp_path), "DEEPSENTRY_LEDGER": "0"}
    r = subprocess.run([sys.executable, "-m", "deepsentry", "verify", str(FIXTURES / "adobe-20220124-E-sig-CA.jpg"),
                        "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["verdict"] == "c2pa_invalid" and j["record"] is None and j["c2pa"]["state"] == "invalid"
    assert any("ledger" in e or "invalid" in e for e in j["evidence"])


@pytest.mark.parametrize("keys", ["none", "wrong_passphrase"])
def test_seal_checks_the_signing_keys_before_watermarking(tmp_path, monkeypatch, keys):
    from prov_helpers import make_settings

    from deepsentry.keys import KeyStore
    from deepsentry.provenance import flow

    s = make_settings(tmp_path, ledger_enabled=False)
    if keys == "wrong_passphrase":
        KeyStore(s.config_dir).init(PASS)
    monkeypatch.setenv("DEEPSENTRY_PASSPHRASE", "not the passphrase")

    def no_watermarking():
        raise AssertionError("watermarking started before the keys were checked")

    monkeypatch.setattr(flow, "_watermark_module", no_watermarking)
    with pytest.raises(KeyStoreError) as exc:
        flow.seal(write_image(tmp_path / "photo.png"), tmp_path / "sealed.png", s)
    assert exc.value.code == ("keys_missing" if keys == "none" else "wrong_passphrase")
    assert not (tmp_path / "sealed.png").exists()

"""The registry contract on a real anvil node: register, lookups, refusals, revocation, consent."""

from __future__ import annotations

import os

import pytest

from deepsentry.errors import BadRequest, LedgerError
from deepsentry.keys import KeyStore
from deepsentry.ledger import open_registry

from ledger_helpers import PASS


def _h() -> bytes:
    return os.urandom(32)


def _wm() -> int:
    return int.from_bytes(os.urandom(6), "big") + 1


def test_register_then_lookup_by_hash_and_watermark(registry):
    content, manifest, consent, fp, wm = _h(), _h(), _h(), os.urandom(32), _wm()
    rec = registry.register(content, manifest, wm, fp, consent, "ipfs://example")
    assert rec.status == "confirmed" and rec.tx_hash and rec.block_number >= 1
    assert rec.registrant == KeyStore(registry.keystore.config_dir).address
    got = registry.lookup_by_hash(content)
    assert got.content_hash == "0x" + content.hex()
    assert got.manifest_hash == "0x" + manifest.hex()
    assert got.consent_hash == "0x" + consent.hex()
    assert got.fingerprint_bytes == fp and got.watermark_id == wm and got.uri == "ipfs://example"
    assert got.revoked is False and got.consent_revoked is False
    assert registry.lookup_by_watermark(wm) == got
    assert registry.lookup_by_hash("0x" + content.hex()) == got       # hex string accepted
    assert registry.is_watermark_taken(wm)
    assert registry.lookup_by_hash(_h()) is None
    assert registry.lookup_by_watermark(_wm()) is None
    assert got.to_json()["chain"] == "eip155:31337"


def test_duplicates_are_refused_and_nothing_is_queued(registry):
    content, wm = _h(), _wm()
    registry.register(content, _h(), wm, b"\x01" * 8, None)
    with pytest.raises(LedgerError) as e:
        registry.register(content, _h(), _wm(), b"\x02" * 8, None)
    assert e.value.code == "already_registered" and e.value.http_status == 409
    with pytest.raises(LedgerError) as e:
        registry.register(_h(), _h(), wm, b"\x02" * 8, None)
    assert e.value.code == "watermark_taken"
    assert registry.outbox_counts() == {"pending": 0, "failed": 0}
    with pytest.raises(BadRequest):
        registry.register(b"short", _h(), 1, b"", None)
    with pytest.raises(BadRequest):
        registry.register(_h(), _h(), 2**64, b"", None)


def test_revoke_only_by_registrant(registry, other_client):
    content = _h()
    registry.register(content, _h(), _wm(), b"\x03" * 8, None)
    other = other_client
    with pytest.raises(LedgerError) as e:
        other.revoke(content)
    assert e.value.code == "not_registrant"
    rec = registry.revoke(content)
    assert rec.revoked is True and registry.lookup_by_hash(content).revoked
    with pytest.raises(LedgerError) as e:
        registry.revoke(content)
    assert e.value.code == "already_revoked"
    with pytest.raises(LedgerError) as e:
        registry.revoke(_h())
    assert e.value.code == "not_registered"


def test_consent_revocation(registry, other_client):
    subject = other_client
    # claimed with a secret: a stranger without it cannot revoke, the subject holding it can
    consent, secret = _h(), os.urandom(32)
    registry.register_consent(consent, secret)
    content = _h()
    registry.register(content, _h(), _wm(), b"\x04" * 8, consent)
    assert registry.is_consent_revoked(consent) is False
    with pytest.raises(LedgerError) as e:
        subject.revoke_consent(consent, b"wrong secret")
    assert e.value.code == "not_consent_owner"
    subject.revoke_consent(consent, secret)
    assert registry.is_consent_revoked(consent) is True
    assert registry.lookup_by_hash(content).consent_revoked is True
    subject.revoke_consent(consent, secret)     # idempotent
    assert registry.consent_info(consent)["revoked"] is True
    # claimed without a secret: only the owner
    c2 = _h()
    registry.register_consent(c2)
    with pytest.raises(LedgerError):
        subject.revoke_consent(c2)
    registry.revoke_consent(c2)
    assert registry.is_consent_revoked(c2)
    # never claimed: anyone may withdraw it
    c3 = _h()
    subject.revoke_consent(c3)
    assert registry.is_consent_revoked(c3) and registry.consent_info(c3)["owner"] == subject.keystore.address
    with pytest.raises(LedgerError) as e:
        registry.register_consent(consent)
    assert e.value.code == "consent_taken"


def test_describe_names_the_registry(registry):
    d = registry.describe()
    assert d["name"] == "deepsentry provenance registry"
    assert "getByWatermark(uint64)" in d["lookups"]


def test_second_process_reuses_the_embedded_node(registry, keyed_settings):
    again = open_registry(keyed_settings, passphrase=PASS)
    try:
        assert again.node is None                 # not started twice: the first client owns it
        assert again.url == registry.url and again.address == registry.address
    finally:
        again.close()
    assert registry.node.running


def test_cli_ledger_status_and_lookup_share_the_running_node(registry, keyed_settings):
    import json
    import subprocess
    import sys

    content = _h()
    registry.register(content, _h(), _wm(), b"\x09" * 8, None)
    env = {**os.environ, "DEEPSENTRY_HOME": str(keyed_settings.config_dir.parent), "DEEPSENTRY_PASSPHRASE": PASS}
    env.pop("DEEPSENTRY_LEDGER_RPC", None)
    run = lambda *a: subprocess.run([sys.executable, "-m", "deepsentry", *a], env=env, capture_output=True,  # noqa: E731
                                    text=True, timeout=120)
    r = run("ledger", "status", "--json")
    assert r.returncode == 0, r.stderr
    st = json.loads(r.stdout)
    assert st["url"] == registry.url and st["contract"] == registry.address and st["reachable"]
    assert st["records"] >= 1 and st["outbox"] == {"pending": 0, "failed": 0}
    r = run("ledger", "lookup", content.hex(), "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["content_hash"] == "0x" + content.hex()
    assert registry.node.running                   # the CLI did not stop the node it did not start

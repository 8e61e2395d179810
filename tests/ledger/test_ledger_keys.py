"""Keys at rest: encrypted, wrong passphrase refused, imports checked."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from deepsentry.errors import KeyStoreError
from deepsentry.keys import KeyStore
from deepsentry.keys import forget_keys, make_c2pa_chain

PASS = "keys-test-passphrase"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    ks = KeyStore(tmp_path_factory.mktemp("keys") / "config")
    ks.init(PASS)
    return ks


def _all_bytes(d) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file())


def test_no_plaintext_private_key_on_disk(store):
    from cryptography.hazmat.primitives.asymmetric import ec

    blob = _all_bytes(store.config_dir)
    assert b"-----BEGIN PRIVATE KEY-----" not in blob
    assert b"-----BEGIN EC PRIVATE KEY-----" not in blob
    assert blob.count(b"-----BEGIN ENCRYPTED PRIVATE KEY-----") == 2          # root CA key + signing key
    acct = store.load_account(PASS)
    raw = acct.key.hex().removeprefix("0x")
    assert raw.encode() not in blob.lower() and acct.key not in blob
    ident = store.load_signing_identity(PASS)
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    key = load_pem_private_key(ident.key_pem, None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    scalar = key.private_numbers().private_value.to_bytes(32, "big")
    assert scalar not in blob and scalar.hex().encode() not in blob
    keystore = json.loads(store.account_path.read_text())
    assert keystore["version"] == 3 and keystore["crypto"]["kdf"] == "scrypt"
    assert oct(store.key_path.stat().st_mode & 0o777) == "0o600"


def test_wrong_passphrase_is_refused(store):
    forget_keys()
    with pytest.raises(KeyStoreError) as e:
        store.load_account("not-the-passphrase")
    assert e.value.code == "wrong_passphrase"
    with pytest.raises(KeyStoreError):
        store.load_signing_identity("not-the-passphrase")
    assert store.load_account(PASS).address == store.address      # the right one still opens them


def test_missing_passphrase_and_double_init(store, monkeypatch):
    forget_keys()
    monkeypatch.delenv("DEEPSENTRY_PASSPHRASE", raising=False)
    with pytest.raises(KeyStoreError) as e:
        store.load_account()            # pytest's stdin is not a tty: no prompt possible
    assert e.value.code == "passphrase_missing"
    with pytest.raises(KeyStoreError) as e:
        store.init(PASS)
    assert e.value.code == "keys_exist"
    with pytest.raises(KeyStoreError) as e:
        KeyStore(store.config_dir.parent / "nowhere").load_account(PASS)
    assert e.value.code == "keys_missing"


def test_signing_chain_is_long_lived_p256(store):
    from cryptography import x509

    leaf, root = x509.load_pem_x509_certificates(store.chain_path.read_bytes())
    assert leaf.issuer == root.subject
    assert (leaf.not_valid_after_utc - leaf.not_valid_before_utc).days > 365 * 20
    assert leaf.public_key().curve.name == "secp256r1"
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True


def test_import_user_chain(tmp_path):
    from cryptography.hazmat.primitives import serialization

    ks = KeyStore(tmp_path / "config")
    ks.init(PASS)
    _, root, key, cert = make_c2pa_chain("imported signer")
    pem = lambda c: c.public_bytes(serialization.Encoding.PEM)  # noqa: E731
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.BestAvailableEncryption(b"file-password"))
    info = ks.import_identity(pem(cert) + pem(root), key_pem, key_password=b"file-password", passphrase=PASS)
    assert info["imported"] is True and "imported signer" in info["subject"]
    assert b"BEGIN PRIVATE KEY" not in ks.key_path.read_bytes()
    assert ks.load_signing_identity(PASS).chain_pem.startswith(pem(cert))
    other = make_c2pa_chain("other")[2]
    bad = other.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
    with pytest.raises(KeyStoreError, match="does not match"):
        ks.import_identity(pem(cert) + pem(root), bad, passphrase=PASS)
    p = tmp_path / "root.pem"
    p.write_bytes(pem(root))
    ks.add_trust_anchor(p)
    assert pem(root).decode().strip() in ks.trust_anchors_pem()
    assert len(ks.trust_anchor_files()) == 2          # ours + the added one


def test_cli_keys_init_and_show(tmp_path):
    env = {**os.environ, "DEEPSENTRY_HOME": str(tmp_path), "DEEPSENTRY_PASSPHRASE": PASS}
    run = lambda *a: subprocess.run([sys.executable, "-m", "deepsentry", *a], env=env, capture_output=True,  # noqa: E731
                                    text=True, timeout=120)
    r = run("keys", "init", "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["address"].startswith("0x") and info["alg"] == "es256"
    r = run("keys", "init", "--json")
    assert r.returncode == 1 and json.loads(r.stdout)["error"]["code"] == "keys_exist"
    r = run("keys", "show", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["address"] == info["address"]
    assert "PRIVATE" not in r.stdout

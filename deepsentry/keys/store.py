"""The creator's keys, encrypted at rest under ``<config_dir>/keys/``.

* ``account.json``  -- Ethereum account, keystore v3 (scrypt), used to send registry transactions.
* ``root.pem``      -- our local C2PA root CA certificate (public; also a trust anchor).
* ``root.key``      -- its P-256 private key, PKCS#8 encrypted with the passphrase.
* ``chain.pem``     -- C2PA signing certificate followed by its issuers (leaf first).
* ``signing.key``   -- the signing private key, PKCS#8 encrypted with the passphrase.
* ``identity.json`` -- non-secret summary (address, signing alg, subject, fingerprints).

User-added trust anchors are PEM files in ``<config_dir>/trust/``. The passphrase comes from
``$DEEPSENTRY_PASSPHRASE`` or an interactive prompt; nothing secret is ever written in clear.
"""

from __future__ import annotations

import datetime as _dt
import getpass
import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deepsentry.ecc import import_py_ecc
from deepsentry.errors import BadRequest, KeyStoreError

PASSPHRASE_ENV = "DEEPSENTRY_PASSPHRASE"
ROOT_YEARS = 30
SIGNING_YEARS = 25       # no timestamp authority offline: a manifest turns Invalid when its cert expires

# Decrypted keys, keyed by the encrypted file's content and the passphrase (scrypt takes about a second).
_cache: dict[tuple, Any] = {}


@dataclass(frozen=True)
class SigningIdentity:
    """A C2PA signing identity, decrypted in memory only."""

    chain_pem: bytes
    key_pem: bytes
    alg: str                 # "es256", "es384", "ps256", "ed25519"
    subject: str


def _pw_tag(passphrase: str) -> bytes:
    """Cache key part: decrypted keys are reused only for the passphrase that opened them."""
    return hashlib.blake2b(passphrase.encode(), digest_size=16, person=b"ds-keycache").digest()


def forget_keys() -> None:
    """Drop every decrypted key this process holds."""
    _cache.clear()


def get_passphrase(*, confirm: bool = False, prompt: str = "deepsentry passphrase: ") -> str:
    pw = os.environ.get(PASSPHRASE_ENV)
    if pw:
        return pw
    if not sys.stdin or not sys.stdin.isatty():
        raise KeyStoreError(f"no passphrase: set {PASSPHRASE_ENV} or run interactively", code="passphrase_missing")
    pw = getpass.getpass(prompt)
    if confirm and getpass.getpass("repeat passphrase: ") != pw:
        raise KeyStoreError("passphrases differ", code="passphrase_mismatch")
    if not pw:
        raise KeyStoreError("empty passphrase", code="passphrase_missing")
    return pw


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _name(cn: str, org: str = "deepsentry (local)"):
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)])


def make_c2pa_chain(subject: str = "deepsentry creator", *, root_years: int = ROOT_YEARS,
                    signing_years: int = SIGNING_YEARS, not_before: _dt.datetime | None = None):
    """A new local root CA and a C2PA signing cert it issues (both P-256), as (root_key, root_cert, key, cert)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID

    now = not_before or (_dt.datetime.now(_dt.timezone.utc) - _dt.timedelta(days=1))
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name(f"{subject} root CA")
    root = (x509.CertificateBuilder().subject_name(root_name).issuer_name(root_name)
            .public_key(root_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + _dt.timedelta(days=365 * root_years))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
            .sign(root_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(root_name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + _dt.timedelta(days=365 * signing_years))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
            .sign(root_key, hashes.SHA256()))
    return root_key, root, key, cert


def _pem(cert) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM)


def _encrypt_key(key, passphrase: str) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.BestAvailableEncryption(passphrase.encode()))


def _alg_for(key) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(key, ec.EllipticCurvePrivateKey):
        algs = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}
        if key.curve.name not in algs:
            raise KeyStoreError(f"unsupported curve {key.curve.name} for C2PA", code="bad_key")
        return algs[key.curve.name]
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    if isinstance(key, rsa.RSAPrivateKey):
        return "ps256"
    raise KeyStoreError(f"unsupported key type {type(key).__name__} for C2PA", code="bad_key")


class KeyStore:
    """Files under ``<config_dir>/keys``. Decrypted keys are cached per process (scrypt is slow)."""

    def __init__(self, config_dir: Path | Any) -> None:
        config_dir = getattr(config_dir, "config_dir", config_dir)
        self.config_dir = Path(config_dir)
        self.dir = self.config_dir / "keys"
        self.trust_dir = self.config_dir / "trust"

    # paths
    account_path = property(lambda self: self.dir / "account.json")
    root_path = property(lambda self: self.dir / "root.pem")
    root_key_path = property(lambda self: self.dir / "root.key")
    chain_path = property(lambda self: self.dir / "chain.pem")
    key_path = property(lambda self: self.dir / "signing.key")
    identity_path = property(lambda self: self.dir / "identity.json")

    def exists(self) -> bool:
        return self.account_path.exists() and self.chain_path.exists() and self.key_path.exists()

    def _require(self) -> None:
        if not self.exists():
            raise KeyStoreError(f"no keys in {self.dir}: run `deepsentry keys init`", code="keys_missing")

    def init(self, passphrase: str | None = None, *, subject: str = "deepsentry creator", force: bool = False) -> dict:
        """Create the Ethereum account and a local root CA + C2PA signing cert, all encrypted at rest."""
        import_py_ecc()
        from eth_account import Account

        if self.exists() and not force:
            raise KeyStoreError(f"keys already exist in {self.dir} (use --force to replace them)", code="keys_exist")
        passphrase = passphrase or get_passphrase(confirm=True)
        if len(passphrase) < 8:
            raise BadRequest("passphrase must have at least 8 characters", code="weak_passphrase")
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        acct = Account.create()
        keystore = Account.encrypt(acct.key, passphrase, kdf="scrypt")
        root_key, root, key, cert = make_c2pa_chain(subject)
        _write_private(self.account_path, json.dumps(keystore).encode())
        _write_private(self.root_key_path, _encrypt_key(root_key, passphrase))
        _write_private(self.key_path, _encrypt_key(key, passphrase))
        self.root_path.write_bytes(_pem(root))
        self.chain_path.write_bytes(_pem(cert) + _pem(root))
        self._write_identity(alg="es256", imported=False)
        _cache.clear()
        return self.show()

    def import_identity(self, chain_pem: bytes, key_pem: bytes, *, key_password: bytes | None = None,
                        passphrase: str | None = None) -> dict:
        """Use a user's own C2PA cert chain (leaf first) and key; the key is re-encrypted with our passphrase."""
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        try:
            certs = x509.load_pem_x509_certificates(chain_pem)
            key = serialization.load_pem_private_key(key_pem, password=key_password)
        except (ValueError, TypeError) as exc:
            raise KeyStoreError(f"cannot read the certificate chain or key: {exc}", code="bad_key") from exc
        if certs[0].public_key().public_numbers() != key.public_key().public_numbers():
            raise KeyStoreError("the private key does not match the first certificate of the chain", code="bad_key")
        alg = _alg_for(key)
        passphrase = passphrase or get_passphrase()
        if not self.account_path.exists():
            raise KeyStoreError("run `deepsentry keys init` first (it creates the Ethereum account)", code="keys_missing")
        self.load_account(passphrase)  # proves the passphrase is the keystore's
        _write_private(self.key_path, _encrypt_key(key, passphrase))
        self.chain_path.write_bytes(b"".join(_pem(c) for c in certs))
        self._write_identity(alg=alg, imported=True)
        _cache.clear()
        return self.show()

    def _write_identity(self, *, alg: str, imported: bool) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import Encoding

        address = json.loads(self.account_path.read_text())["address"]
        leaf = x509.load_pem_x509_certificates(self.chain_path.read_bytes())[0]
        self.identity_path.write_text(json.dumps({
            "address": "0x" + address.removeprefix("0x"), "alg": alg, "imported": imported,
            "subject": leaf.subject.rfc4514_string(), "issuer": leaf.issuer.rfc4514_string(),
            "not_after": leaf.not_valid_after_utc.isoformat(),
            "cert_sha256": hashlib.sha256(leaf.public_bytes(Encoding.DER)).hexdigest(),
        }, indent=2))

    def show(self) -> dict:
        self._require()
        info = json.loads(self.identity_path.read_text())
        from eth_utils import to_checksum_address

        info["address"] = to_checksum_address(info["address"])
        info["keys_dir"] = str(self.dir)
        info["trust_anchors"] = [str(p) for p in self.trust_anchor_files()]
        return info

    @property
    def address(self) -> str | None:
        if not self.account_path.exists():
            return None
        from eth_utils import to_checksum_address

        return to_checksum_address("0x" + json.loads(self.account_path.read_text())["address"].removeprefix("0x"))

    def load_account(self, passphrase: str | None = None):
        """The decrypted eth_account ``LocalAccount``; KeyStoreError on a wrong passphrase."""
        import_py_ecc()
        from eth_account import Account

        self._require()
        passphrase = passphrase or get_passphrase()
        ck = ("acct", hashlib.sha256(self.account_path.read_bytes()).digest(), _pw_tag(passphrase))
        if ck in _cache:
            return _cache[ck]
        try:
            key = Account.decrypt(json.loads(self.account_path.read_text()), passphrase)
        except ValueError as exc:
            raise KeyStoreError("wrong passphrase for the Ethereum keystore", code="wrong_passphrase") from exc
        acct = Account.from_key(key)
        _cache[ck] = acct
        return acct

    def load_signing_identity(self, passphrase: str | None = None) -> SigningIdentity:
        from cryptography.hazmat.primitives import serialization

        self._require()
        passphrase = passphrase or get_passphrase()
        ck = ("c2pa", hashlib.sha256(self.key_path.read_bytes() + self.chain_path.read_bytes()).digest(),
              _pw_tag(passphrase))
        if ck in _cache:
            return _cache[ck]
        try:
            key = serialization.load_pem_private_key(self.key_path.read_bytes(), password=passphrase.encode())
        except (ValueError, TypeError) as exc:
            raise KeyStoreError("wrong passphrase for the C2PA signing key", code="wrong_passphrase") from exc
        info = json.loads(self.identity_path.read_text())
        plain = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
        ident = SigningIdentity(chain_pem=self.chain_path.read_bytes(), key_pem=plain, alg=info["alg"],
                                subject=info["subject"])
        _cache[ck] = ident
        return ident

    # trust anchors
    def trust_anchor_files(self) -> list[Path]:
        files = [self.root_path] if self.root_path.exists() else []
        if self.trust_dir.is_dir():
            files += sorted(p for p in self.trust_dir.iterdir() if p.suffix in (".pem", ".crt"))
        return files

    def trust_anchors_pem(self) -> str:
        """Our root plus every user-added anchor, concatenated PEM ("" when there are none)."""
        return "".join(p.read_text().strip() + "\n" for p in self.trust_anchor_files())

    def add_trust_anchor(self, pem_path: Path) -> Path:
        from cryptography import x509

        data = Path(pem_path).read_bytes()
        try:
            certs = x509.load_pem_x509_certificates(data)
        except ValueError as exc:
            raise BadRequest(f"{pem_path} is not a PEM certificate: {exc}", code="bad_certificate") from exc
        self.trust_dir.mkdir(parents=True, exist_ok=True)
        fp = hashlib.sha256(b"".join(_pem(c) for c in certs)).hexdigest()[:16]
        dest = self.trust_dir / f"{fp}.pem"
        dest.write_bytes(b"".join(_pem(c) for c in certs))
        return dest

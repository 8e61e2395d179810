"""Consent records: the depicted person's Ed25519 signature over what may be generated from their face.

A consent file is JSON::

    {"format": "deepsentry-consent", "algorithm": "Ed25519",
     "record": {version, subject: {name, public_key}, creator, modes, photo_sha256, embedding,
                embedding_sha256, face_threshold, revocation_commit, issued, expires, nonce},
     "signature": base64(Ed25519(subject key, canonical_json(record)))}

``canonical_json`` is sorted-key, compact, UTF-8 JSON. The consent hash (what the C2PA manifest and the
ledger carry) is SHA-256 of those canonical bytes. ``embedding`` is the subject's 128-d dlib face
descriptor, quantised to int16 at 1/4096 and base64-encoded; ``embedding_sha256`` hashes those bytes, so
the generator can check that a source photo shows the consented face: Euclidean descriptor distance at or
under :data:`FACE_MATCH_THRESHOLD` (see ``bench/generator_quality.py --calibrate`` for the numbers).

Revocation is on the ledger. ``revocation_commit`` = keccak256 of the subject's (deterministic) Ed25519
signature over ``"deepsentry-consent-revoke:" + consent_hash``; revealing that signature revokes the consent
from any account, so only the holder of the subject's key can revoke it.

The subject's private key is written encrypted (PKCS#8, passphrase from ``$DEEPSENTRY_PASSPHRASE``), never in
clear.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import json
import os
import re
import secrets
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deepsentry import jsonio
from deepsentry.errors import BadRequest, ConsentError, KeyStoreError, NoFaceFound
from deepsentry.records import Record, optional

FORMAT = "deepsentry-consent"
VERSION = 1
MODES = ("swap", "animate")
EMBED_SCALE = 4096
# Euclidean distance between dlib ResNet descriptors. dlib's published operating point is 0.6 (99.38% on
# LFW pairs); we are stricter because a false accept means generating someone without their consent.
# Measured here (bench/generator_quality.py --calibrate): same person (103 renditions of one photo:
# JPEG q30, grey, mirror, 1/3 scale, +-12 deg, light, blur) max 0.37; different people: astronaut vs 83 LFW
# faces min 0.64; 3403 LFW-subset pairs p5 0.59, 0.55% at or under 0.5 (an upper bound: the subset may
# repeat people). At 0.5: 0 false rejects, 0.55% false accepts on those pairs.
FACE_MATCH_THRESHOLD = 0.5
REVOKE_PREFIX = "deepsentry-consent-revoke:"


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def quantise(vec: np.ndarray) -> bytes:
    q = np.clip(np.round(np.asarray(vec, dtype=np.float64) * EMBED_SCALE), -32768, 32767).astype("<i2")
    return q.tobytes()


def dequantise(raw: bytes) -> np.ndarray:
    return np.frombuffer(raw, dtype="<i2").astype(np.float32) / EMBED_SCALE


def keccak(data: bytes) -> bytes:
    from eth_utils import keccak as _k

    return _k(data)


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def _unb64(s: str, what: str) -> bytes:
    try:
        return base64.b64decode(s, validate=True)
    except (ValueError, TypeError) as exc:
        raise ConsentError(f"consent record: {what} is not base64", code="consent_invalid") from exc


@dataclass(frozen=True)
class ConsentSubject(Record):
    """The depicted person: the name they consented under and their Ed25519 public key (base64, raw)."""
    name: str
    public_key: str


@dataclass(frozen=True)
class ConsentRecord(Record):
    """What the subject signs. ``to_json()`` is the signed JSON object (signed as :func:`canonical_json`),
    so a field added here changes every new record's bytes, and a record read back keeps the values
    exactly as written (the signature covers them)."""
    version: int
    subject: ConsentSubject
    creator: str
    modes: tuple[str, ...]
    photo_sha256: str
    embedding: str                       # base64 of 128 int16 (see quantise)
    embedding_sha256: str
    revocation_commit: str               # 0x + keccak of the revocation secret ("" while signing)
    issued: str                          # ISO 8601 UTC, "Z"
    expires: str                         # ISO date
    nonce: str
    embedding_model: str | None = optional()
    face_threshold: float | None = optional()

    @classmethod
    def from_json(cls, rec: Any, what: str) -> ConsentRecord:
        """Parse a record read from a file; a wrong shape raises ``consent_invalid`` naming the field.
        Values are only type-checked here: whether they are allowed is the signature's and the checks' job."""
        if not isinstance(rec, dict):
            raise ConsentError(f"{what}: record or signature missing", code="consent_invalid")
        fields = dataclasses.fields(cls)
        names = [f.name for f in fields]
        missing = [f.name for f in fields if f.default is dataclasses.MISSING and f.name not in rec]
        if missing:
            raise ConsentError(f"{what}: record lacks {', '.join(missing)}", code="consent_invalid")
        unknown = sorted(set(rec) - set(names))
        if unknown:
            raise ConsentError(f"{what}: record has unknown fields {', '.join(unknown)}", code="consent_invalid")
        if rec["version"] != VERSION:
            raise ConsentError(f"{what}: unsupported consent version {rec['version']!r}", code="consent_invalid")
        subject = rec["subject"]
        if not isinstance(subject, dict) or set(subject) != {"name", "public_key"} \
                or not all(isinstance(v, str) for v in subject.values()):
            raise ConsentError(f"{what}: subject needs name and public_key", code="consent_invalid")
        modes = rec["modes"]
        text = [n for n, t in typing.get_type_hints(cls).items()
                if t in (str, str | None) and not isinstance(rec.get(n, ""), str)]
        if not isinstance(modes, list) or not all(isinstance(m, str) for m in modes) or text:
            raise ConsentError(f"{what}: {', '.join(text) or 'modes'} has the wrong type", code="consent_invalid")
        thr = rec.get("face_threshold")
        if thr is not None and (isinstance(thr, bool) or not isinstance(thr, (int, float))):
            raise ConsentError(f"{what}: face_threshold is not a number", code="consent_invalid")
        try:
            dt.date.fromisoformat(rec["expires"])
            bytes.fromhex(rec["revocation_commit"].removeprefix("0x"))
        except ValueError as exc:
            raise ConsentError(f"{what}: bad expires or revocation_commit: {exc}", code="consent_invalid") from exc
        return cls(**{**rec, "subject": ConsentSubject(**subject), "modes": tuple(modes)})


@dataclass(frozen=True)
class SignedConsent:
    record: ConsentRecord
    signature: bytes
    path: Path | None = field(default=None, compare=False)

    # --- derived values ---------------------------------------------------------------------------
    @property
    def canonical(self) -> bytes:
        return canonical_json(self.record.to_json())

    @property
    def consent_hash(self) -> str:
        """SHA-256 of the canonical record, 64 hex digits."""
        return hashlib.sha256(self.canonical).hexdigest()

    @property
    def consent_hash_bytes(self) -> bytes:
        return bytes.fromhex(self.consent_hash)

    @property
    def modes(self) -> tuple[str, ...]:
        return self.record.modes

    @property
    def subject_name(self) -> str:
        return self.record.subject.name

    @property
    def public_key_bytes(self) -> bytes:
        return _unb64(self.record.subject.public_key, "subject.public_key")

    @property
    def expires(self) -> dt.date:
        return dt.date.fromisoformat(self.record.expires)

    @property
    def embedding(self) -> np.ndarray:
        raw = _unb64(self.record.embedding, "embedding")
        if len(raw) != 256:
            raise ConsentError("consent record: the embedding is not 128 int16 values", code="consent_invalid")
        if hashlib.sha256(raw).hexdigest() != self.record.embedding_sha256:
            raise ConsentError("consent record: embedding_sha256 does not match the embedding", code="consent_invalid")
        return dequantise(raw)

    @property
    def threshold(self) -> float:
        """The record's threshold, never looser than the generator's own."""
        rec = self.record.face_threshold
        return FACE_MATCH_THRESHOLD if rec is None else min(float(rec), FACE_MATCH_THRESHOLD)

    @property
    def revocation_commit(self) -> bytes:
        return bytes.fromhex(self.record.revocation_commit.removeprefix("0x"))

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "algorithm": "Ed25519", "record": self.record.to_json(),
                "signature": _b64(self.signature)}

    def write(self, path: Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n")
        os.replace(tmp, path)
        return path

    # --- checks -----------------------------------------------------------------------------------
    def verify_signature(self) -> None:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        try:
            pub = Ed25519PublicKey.from_public_bytes(self.public_key_bytes)
            pub.verify(self.signature, self.canonical)
        except (InvalidSignature, ValueError) as exc:
            raise ConsentError("the consent record's signature does not verify: it was altered or not signed by "
                               "the subject's key", code="consent_signature") from exc

    def check_expiry(self, today: dt.date | None = None) -> None:
        today = today or dt.datetime.now(dt.timezone.utc).date()
        if today > self.expires:
            raise ConsentError(f"the consent expired on {self.expires.isoformat()}", code="consent_expired",
                               details={"expires": self.expires.isoformat()})

    def check_mode(self, mode: str) -> None:
        if mode not in self.modes:
            raise ConsentError(f"the consent does not allow {mode!r} (it allows: {', '.join(self.modes) or 'nothing'})",
                               code="consent_mode", details={"mode": mode, "allowed": list(self.modes)})

    def face_distance(self, embedding: np.ndarray) -> float:
        return float(np.linalg.norm(self.embedding - np.asarray(embedding, dtype=np.float32)))

    def check_face(self, embedding: np.ndarray) -> float:
        d = self.face_distance(embedding)
        if d > self.threshold:
            raise ConsentError(f"the source face is not the consented face (descriptor distance {d:.3f} > "
                               f"{self.threshold:.2f})", code="face_mismatch",
                               details={"distance": round(d, 4), "threshold": self.threshold})
        return d


# --- reading -------------------------------------------------------------------------------------
def load_consent(path: Path | str | None) -> SignedConsent:
    """Parse a consent file. Missing file -> ``consent_missing``; malformed -> ``consent_invalid``.
    The signature is not checked here (see :meth:`SignedConsent.verify_signature`)."""
    if path is None or str(path) == "":
        raise ConsentError("no consent record given: generation needs the depicted person's signed consent",
                           code="consent_missing")
    path = Path(path)
    if not path.is_file():
        raise ConsentError(f"consent record {path} does not exist", code="consent_missing")
    try:
        doc = jsonio.loads(path.read_bytes(), what=f"consent record {path.name}")
    except OSError as exc:
        raise ConsentError(f"consent record {path.name} cannot be read: {exc}", code="consent_invalid") from exc
    except BadRequest as exc:
        raise ConsentError(f"consent record {path.name} is not valid JSON: {exc.message}",
                           code="consent_invalid") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("algorithm") != "Ed25519":
        raise ConsentError(f"{path.name} is not a deepsentry consent record", code="consent_invalid")
    rec, sig = doc.get("record"), doc.get("signature")
    if not isinstance(sig, str):
        raise ConsentError(f"{path.name}: record or signature missing", code="consent_invalid")
    record = ConsentRecord.from_json(rec, path.name)
    return SignedConsent(record, _unb64(sig, "signature"), path)


# --- subject keys --------------------------------------------------------------------------------
def _passphrase() -> str:
    from deepsentry.keys import get_passphrase

    pw = get_passphrase(prompt="passphrase for the subject's consent key: ")
    if len(pw) < 8:
        raise BadRequest("passphrase must have at least 8 characters", code="weak_passphrase")
    return pw


def fingerprint(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()[:16]


def new_subject_key(dest_dir: Path, name: str, passphrase: str | None = None):
    """Generate an Ed25519 key pair; write the private key PKCS#8-encrypted to ``dest_dir``. Returns
    (private_key, path)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    passphrase = passphrase or _passphrase()
    key = Ed25519PrivateKey.generate()
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "subject"
    dest_dir.mkdir(parents=True, exist_ok=True)
    path = dest_dir / f"{slug}-{fingerprint(raw)}.key.pem"
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.BestAvailableEncryption(passphrase.encode()))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    return key, path


def load_subject_key(path: Path, passphrase: str | None = None):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = Path(path)
    if not path.is_file():
        raise KeyStoreError(f"subject key {path} does not exist", code="keys_missing")
    data = path.read_bytes()
    try:
        if b"ENCRYPTED" in data:
            key = serialization.load_pem_private_key(data, password=(passphrase or _passphrase()).encode())
        else:
            key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyStoreError(f"cannot open subject key {path.name}: wrong passphrase or not a PEM key",
                            code="wrong_passphrase") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyStoreError(f"{path.name} is not an Ed25519 key", code="bad_key")
    return key


def subject_key_dir(settings) -> Path:
    return Path(settings.data_dir) / "consent-keys"


def find_subject_key(consent: SignedConsent, settings, near: Path | None = None) -> Path:
    """The key file for ``consent``'s subject: next to the consent file, else in the data dir."""
    fp = fingerprint(consent.public_key_bytes)
    dirs = [d for d in (near, subject_key_dir(settings)) if d is not None]
    for d in dirs:
        for p in sorted(Path(d).glob(f"*-{fp}.key.pem")):
            return p
    raise KeyStoreError(f"no key for subject {consent.subject_name!r} (fingerprint {fp}) in "
                        f"{', '.join(str(d) for d in dirs)}: pass --subject-key", code="keys_missing")


def _raw_public(key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def revocation_secret(key, consent_hash: str) -> bytes:
    """Ed25519 is deterministic, so this signature is the same every time: its keccak is the commit."""
    return key.sign((REVOKE_PREFIX + consent_hash).encode("ascii"))


# --- creating ------------------------------------------------------------------------------------
def face_embedding_of(photo: np.ndarray, what: str = "photo") -> np.ndarray:
    from deepsentry.generator import landmarks as lm

    face = lm.main_face(photo, what)
    return lm.embedding(photo, face.points)


def read_image(path: Path) -> np.ndarray:
    """A photo as RGB ``uint8``, through ``deepsentry.media`` (type from the bytes, limits first)."""
    from deepsentry import media

    path = Path(path)
    if not path.is_file():
        raise BadRequest(f"{path} does not exist", code="file_missing")
    return media.load_image(path)


def build_record(*, subject_name: str, public_raw: bytes, creator: str, modes, photo_bytes: bytes,
                 embedding: np.ndarray, expires: dt.date, issued: dt.datetime | None = None,
                 threshold: float = FACE_MATCH_THRESHOLD) -> ConsentRecord:
    modes = sorted(set(modes))
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        raise BadRequest(f"modes must be among {', '.join(MODES)} (got {', '.join(modes) or 'none'})", code="bad_modes")
    if not subject_name.strip():
        raise BadRequest("the subject's name is empty", code="bad_subject")
    issued = issued or dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    if expires < issued.date():
        raise BadRequest(f"expiry {expires.isoformat()} is in the past", code="bad_expiry")
    q = quantise(embedding)
    return ConsentRecord(
        version=VERSION,
        subject=ConsentSubject(name=subject_name.strip(), public_key=_b64(public_raw)),
        creator=creator,
        modes=tuple(modes),
        photo_sha256=hashlib.sha256(photo_bytes).hexdigest(),
        embedding=_b64(q),
        embedding_sha256=hashlib.sha256(q).hexdigest(),
        embedding_model="dlib_face_recognition_resnet_model_v1",
        face_threshold=threshold,
        revocation_commit="",             # set by sign_record once the rest is fixed
        issued=issued.isoformat().replace("+00:00", "Z"),
        expires=expires.isoformat(),
        nonce=secrets.token_hex(16),
    )


def _uncommitted_hash(record: ConsentRecord) -> str:
    """SHA-256 of the record with an empty ``revocation_commit``: what the revocation secret signs."""
    return hashlib.sha256(canonical_json(dataclasses.replace(record, revocation_commit="").to_json())).hexdigest()


def sign_record(record: ConsentRecord, key) -> SignedConsent:
    """Set ``revocation_commit`` and sign. The commit must not depend on the consent hash it protects,
    so it is the keccak of the subject's signature over the record *without* the commit."""
    commit = "0x" + keccak(revocation_secret(key, _uncommitted_hash(record))).hex()
    rec = dataclasses.replace(record, revocation_commit=commit)
    return SignedConsent(rec, key.sign(canonical_json(rec.to_json())))


def revocation_key_hash(consent: SignedConsent) -> str:
    """The hash the revocation secret signs: the record with an empty ``revocation_commit``."""
    return _uncommitted_hash(consent.record)


def _account_name() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):             # no login name and no passwd entry (some containers)
        return "unknown creator"


def create_consent(*, subject_name: str, photo: Path, modes, expires: dt.date, out: Path, settings,
                   subject_key: Path | None = None, creator: str | None = None,
                   passphrase: str | None = None) -> tuple[SignedConsent, Path]:
    """Write a signed consent file to ``out``; returns it and the subject key file used or created
    (a new key goes to ``<data_dir>/consent-keys/``)."""
    photo = Path(photo)
    img = read_image(photo)
    try:
        emb = face_embedding_of(img, f"consent photo {photo.name}")
    except NoFaceFound as exc:
        raise NoFaceFound(f"{exc.message}: the consent photo must show the subject's face") from exc
    if subject_key is not None:
        key = load_subject_key(subject_key, passphrase)
        key_path = Path(subject_key)
    else:
        key, key_path = new_subject_key(subject_key_dir(settings), subject_name, passphrase)
    creator = creator or _account_name()
    record = build_record(subject_name=subject_name, public_raw=_raw_public(key), creator=creator, modes=modes,
                          photo_bytes=photo.read_bytes(), embedding=emb, expires=expires)
    signed = sign_record(record, key)
    signed.write(Path(out))
    return SignedConsent(signed.record, signed.signature, Path(out)), key_path

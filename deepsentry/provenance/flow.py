"""Registration flow: sign C2PA -> hash the final bytes -> register on the ledger -> write a receipt.

``finalize`` is what the generator calls after encoding; ``seal`` runs the same flow for media a
creator made elsewhere (watermark first). Either leaves no unlabelled output behind on failure.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from deepsentry.errors import DeepsentryError, LedgerUnreachable, ProvenanceError, WatermarkError
from deepsentry import media
from deepsentry.media import sha256_file
from deepsentry.provenance.c2pa import (DIGITAL_CAPTURE, TRAINED_ALGORITHMIC, build_manifest, mime_for,
                                        sign_c2pa)
from deepsentry.provenance.fingerprint import fingerprint

SOURCE_TYPES = {
    "ai": TRAINED_ALGORITHMIC,
    "composite": "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia",
    "capture": DIGITAL_CAPTURE,
}


@dataclass(frozen=True)
class Receipt:
    """What ``finalize``/``seal`` produced; also written as ``<out>.receipt.json``."""

    path: str
    sha256: str
    manifest_hash: str
    watermark_id: int
    fingerprint: str
    consent_hash: str | None
    mode: str
    created_at: str
    c2pa: dict[str, Any]
    ledger: dict[str, Any] | None       # None when the ledger is disabled
    receipt_path: str

    @property
    def registered(self) -> bool:
        return bool(self.ledger) and self.ledger.get("status") == "confirmed"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _watermark_module():
    """The watermark package, imported on first use (it pulls in numpy/scipy kernels a receipt read does not need)."""
    import deepsentry.watermark as wm

    return wm


def new_watermark_id() -> int:
    return int(_watermark_module().new_watermark_id())


def allocate_watermark_id(client=None, attempts: int = 32) -> int:
    """A random watermark id not yet on the ledger (nor waiting in the outbox). With the node down the
    random id is used as is (collisions are then caught at registration, which refuses reused ids)."""
    for _ in range(attempts):
        wm_id = new_watermark_id()
        if client is None:
            return wm_id
        try:
            if not client.is_watermark_taken(wm_id):
                return wm_id
        except LedgerUnreachable:
            return wm_id
    raise ProvenanceError("could not find a free watermark id", code="watermark_ids_exhausted")


def _tmp_beside(out_path: Path, tag: str) -> Path:
    return out_path.with_name(f".{out_path.stem}.{tag}-{secrets.token_hex(4)}{out_path.suffix}")


def finalize(encoded_path: str | Path, out_path: str | Path, *, watermark_id: int, consent_hash: bytes | None,
             mode: str, generator: dict[str, Any], settings, client=None, passphrase: str | None = None,
             source_type: str = TRAINED_ALGORITHMIC, title: str | None = None, uri: str = "") -> Receipt:
    """C2PA-sign ``encoded_path`` into ``out_path``, hash the final bytes, register them, write the receipt.

    Registration with the node down is queued in the outbox (receipt ``ledger.status == "pending"``).
    On any failure ``out_path`` is removed and the error re-raised (ProvenanceError, LedgerError,
    KeyStoreError ...). ``encoded_path`` may equal ``out_path``.
    """
    from deepsentry.keys import KeyStore

    encoded_path, out_path = Path(encoded_path), Path(out_path)
    mime_for(out_path)
    if not encoded_path.is_file():
        raise ProvenanceError(f"{encoded_path} does not exist", code="input_missing")
    tmp = _tmp_beside(out_path, "signed")
    receipt_path = out_path.with_name(out_path.name + ".receipt.json")
    own_client = False
    try:
        identity = KeyStore(settings.config_dir).load_signing_identity(passphrase)
        if client is None and settings.ledger_enabled:
            from deepsentry.ledger import open_registry

            client, own_client = open_registry(settings, passphrase=passphrase), True
        ledger_ref = {"chain": client.caip2, "contract": client.address} if client is not None else None
        manifest = build_manifest(title=title or out_path.name, watermark_id=watermark_id, consent_hash=consent_hash,
                                  ledger=ledger_ref, mode=mode, generator=generator, source_type=source_type)
        manifest_bytes = sign_c2pa(encoded_path, tmp, manifest, identity)
        manifest_hash = hashlib.sha256(manifest_bytes).hexdigest()
        digest = sha256_file(tmp)
        fp = fingerprint(tmp)
        ledger = None
        if client is not None:
            rec = client.register(bytes.fromhex(digest), bytes.fromhex(manifest_hash), watermark_id, fp,
                                  consent_hash, uri)
            ledger = {k: v for k, v in rec.to_json().items()
                      if k in ("chain", "chain_id", "contract", "status", "tx_hash", "block_number", "registrant",
                               "timestamp")}
        os.replace(tmp, out_path)
        receipt = Receipt(path=str(out_path), sha256=digest, manifest_hash=manifest_hash, watermark_id=int(watermark_id),
                          fingerprint=fp.hex(), consent_hash=consent_hash.hex() if consent_hash else None, mode=mode,
                          created_at=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                          c2pa={"signer": identity.subject, "alg": identity.alg, "digital_source_type": source_type,
                                "soft_binding": watermark_id},
                          ledger=ledger, receipt_path=str(receipt_path))
        receipt_path.write_text(json.dumps(receipt.to_json(), indent=2))
        return receipt
    except BaseException:
        for p in (tmp, out_path, receipt_path):
            with contextlib.suppress(OSError):
                p.unlink()
        raise
    finally:
        if own_client and client is not None:
            client.close()


def require_signing_identity(settings, passphrase: str | None = None):
    """The creator's C2PA signing identity, loaded now: missing keys or a wrong passphrase are reported
    before minutes of watermarking or rendering instead of after them."""
    from deepsentry.keys import KeyStore

    return KeyStore(settings.config_dir).load_signing_identity(passphrase)


def seal(in_path: str | Path, out_path: str | Path, settings, *, client=None, passphrase: str | None = None,
         source_type: str = TRAINED_ALGORITHMIC) -> Receipt:
    """Watermark, C2PA-sign and register media made elsewhere; returns the receipt."""
    in_path, out_path = Path(in_path), Path(out_path)
    if not in_path.is_file():
        raise ProvenanceError(f"{in_path} does not exist", code="input_missing")
    mime_for(out_path)
    in_kind = media.open(in_path, settings.limits).kind
    if in_kind != media.kind_from_name(out_path):
        raise ProvenanceError("input and output must both be images or both be videos", code="bad_output_type")
    require_signing_identity(settings, passphrase)
    wm = _watermark_module()
    own_client = False
    if client is None and settings.ledger_enabled:
        from deepsentry.ledger import open_registry

        client, own_client = open_registry(settings, passphrase=passphrase), True
    marked = _tmp_beside(out_path, "wm")
    try:
        try:
            if in_kind == "video":
                wm_id = allocate_watermark_id(client)
                wm.embed_video(in_path, marked, wm_id)
            else:
                # the still is read back, and another free id drawn when it does not read (fine textures)
                wm_id = wm.embed_image_file(in_path, marked, draw_id=lambda: allocate_watermark_id(client))
        except DeepsentryError:
            raise
        except Exception as exc:  # noqa: BLE001 - surfaced as a typed error
            raise WatermarkError(f"watermarking {in_path.name} failed: {exc}") from exc
        return finalize(marked, out_path, watermark_id=wm_id, consent_hash=None, mode="seal",
                        generator={"tool": "deepsentry seal", "source": in_path.name}, settings=settings,
                        client=client, passphrase=passphrase, source_type=source_type)
    finally:
        with contextlib.suppress(OSError):
            marked.unlink()
        if own_client and client is not None:
            client.close()


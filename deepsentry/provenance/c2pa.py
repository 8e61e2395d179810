"""C2PA Content Credentials: sign our outputs and read/validate anyone's manifest (c2pa-python 0.38).

Our manifests carry ``c2pa.actions`` (``c2pa.created``, digitalSourceType ``trainedAlgorithmicMedia``),
``c2pa.soft-binding`` (the watermark id, 8 bytes big-endian, base64), and ``com.deepsentry.provenance``
(consent hash, ledger reference as CAIP-2 chain id + contract address, generation mode). Validation
uses our root plus the user's trust anchors (``<config_dir>/trust/*.pem``).
"""

from __future__ import annotations

import base64
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from deepsentry.errors import ProvenanceError

SOFT_BINDING_ALG = "com.deepsentry.watermark.v1"
PROVENANCE_LABEL = "com.deepsentry.provenance"
TRAINED_ALGORITHMIC = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
DIGITAL_CAPTURE = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"
# what c2pa-python signs here (MIME types from the media package's one table of file names)
SIGNABLE = (".jpg", ".jpeg", ".png", ".webp", ".mp4", ".m4v", ".mov")


def mime_for(path: str | Path) -> str:
    from deepsentry.media import SUFFIXES

    ext = Path(path).suffix.lower()
    if ext not in SIGNABLE:
        raise ProvenanceError(f"C2PA signing supports {', '.join(sorted(SIGNABLE))}, not {ext or 'no extension'}",
                              code="c2pa_unsupported_format")
    return SUFFIXES[ext][1]


def build_manifest(*, title: str, watermark_id: int | None, consent_hash: bytes | None,
                   ledger: dict[str, str] | None, mode: str, generator: dict[str, Any] | None = None,
                   source_type: str = TRAINED_ALGORITHMIC) -> dict[str, Any]:
    from deepsentry import __version__

    action: dict[str, Any] = {"action": "c2pa.created", "digitalSourceType": source_type,
                              "softwareAgent": {"name": "deepsentry", "version": __version__}}
    assertions: list[dict[str, Any]] = [{"label": "c2pa.actions", "data": {"actions": [action]}}]
    if watermark_id:
        assertions.append({"label": "c2pa.soft-binding", "data": {
            "alg": SOFT_BINDING_ALG,
            "blocks": [{"scope": {}, "value": base64.b64encode(int(watermark_id).to_bytes(8, "big")).decode()}]}})
    prov: dict[str, Any] = {"mode": mode, "watermark_id": int(watermark_id) if watermark_id else None,
                            "consent_hash": consent_hash.hex() if consent_hash else None, "ledger": ledger,
                            "generator": generator or {}}
    assertions.append({"label": PROVENANCE_LABEL, "data": prov})
    return {"claim_generator_info": [{"name": "deepsentry", "version": __version__}], "title": title,
            "assertions": assertions}


def _alg(name: str):
    import c2pa

    return {"es256": c2pa.C2paSigningAlg.ES256, "es384": c2pa.C2paSigningAlg.ES384,
            "es512": c2pa.C2paSigningAlg.ES512, "ps256": c2pa.C2paSigningAlg.PS256,
            "ed25519": c2pa.C2paSigningAlg.ED25519}[name]


def sign_c2pa(src: str | Path, dst: str | Path, manifest: dict[str, Any], identity) -> bytes:
    """Embed and sign ``manifest`` into a copy of ``src`` at ``dst``; returns the manifest store bytes."""
    import c2pa

    mime = mime_for(dst)
    ctx = c2pa.Context.from_dict({"builder": {"thumbnail": {"enabled": False}}})
    try:
        signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(_alg(identity.alg), identity.chain_pem,
                                                           identity.key_pem, None))
        with signer, c2pa.Builder(manifest, context=ctx) as builder, open(src, "rb") as fin, open(dst, "w+b") as fout:
            return bytes(builder.sign(signer, mime, fin, fout))
    except c2pa.C2paError as exc:
        raise ProvenanceError(f"C2PA signing failed: {exc}", code="c2pa_sign_failed") from exc


@dataclass(frozen=True)
class C2paReport:
    """What a file's active C2PA manifest says and how it validated."""

    state: str                                 # "trusted" | "valid" (untrusted signer) | "invalid"
    failures: list[dict[str, str]] = field(default_factory=list)   # [{"code", "explanation"}]
    signer: dict[str, Any] = field(default_factory=dict)
    claim_generator: str | None = None
    digital_source_type: str | None = None
    watermark_id: int | None = None            # from our soft-binding assertion
    consent_hash: str | None = None
    ledger: dict[str, str] | None = None
    ours: bool = False                         # has our provenance assertion
    label: str | None = None

    @property
    def valid(self) -> bool:
        return self.state in ("trusted", "valid")

    @property
    def trusted(self) -> bool:
        return self.state == "trusted"

    @property
    def failure_codes(self) -> list[str]:
        return [f["code"] for f in self.failures]

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["valid"], out["trusted"], out["failure_codes"] = self.valid, self.trusted, self.failure_codes
        return out


def reader_context(settings=None, *, trust_pem: str | None = None):
    import c2pa

    if trust_pem is None and settings is not None:
        from deepsentry.keys import KeyStore

        trust_pem = KeyStore(settings.config_dir).trust_anchors_pem()
    cfg: dict[str, Any] = {"verify": {"verify_trust": True}}
    if trust_pem:
        cfg["trust"] = {"trust_anchors": trust_pem}
    return c2pa.Context.from_dict(cfg)


def _soft_binding_id(data: dict) -> int | None:
    if data.get("alg") != SOFT_BINDING_ALG:
        return None
    for block in data.get("blocks", []):
        try:
            raw = base64.b64decode(block["value"])
            if len(raw) == 8:
                return int.from_bytes(raw, "big")
        except (KeyError, ValueError, TypeError):
            continue
    return None


def read_c2pa(path: str | Path, settings=None, *, trust_pem: str | None = None) -> C2paReport | None:
    """Validate ``path``'s manifest; None when the file has no C2PA manifest (or a format C2PA can't hold)."""
    import c2pa

    ctx = reader_context(settings, trust_pem=trust_pem)
    try:
        reader = c2pa.Reader.try_create(str(path), context=ctx)
    except c2pa.C2paError.NotSupported:
        return None
    except c2pa.C2paError as exc:
        # A manifest is present but cannot even be parsed: as bad as a broken signature.
        return C2paReport(state="invalid", failures=[{"code": "manifest.unreadable", "explanation": str(exc)}])
    if reader is None:
        return None
    with reader:
        state = (reader.get_validation_state() or "Invalid").lower()
        results = reader.get_validation_results() or {}
        manifest = reader.get_active_manifest() or {}
    failures = [{"code": f.get("code", ""), "explanation": f.get("explanation", "")}
                for f in (results.get("activeManifest") or {}).get("failure", [])]
    if state not in ("trusted", "valid", "invalid"):
        state = "invalid"
    info = manifest.get("signature_info") or {}
    gen = manifest.get("claim_generator_info") or [{}]
    report: dict[str, Any] = {"state": state, "failures": failures, "label": manifest.get("label"),
                              "signer": {k: info.get(k) for k in ("issuer", "common_name", "alg", "time") if info.get(k)},
                              "claim_generator": (gen[0] or {}).get("name") if isinstance(gen, list) and gen else manifest.get("claim_generator")}
    for a in manifest.get("assertions", []):
        label, data = a.get("label", ""), a.get("data") or {}
        if label.startswith("c2pa.actions"):
            for act in data.get("actions", []):
                if act.get("action") == "c2pa.created" and act.get("digitalSourceType"):
                    report["digital_source_type"] = act["digitalSourceType"]
        elif label == "c2pa.soft-binding":
            report["watermark_id"] = _soft_binding_id(data)
        elif label == PROVENANCE_LABEL:
            report["ours"] = True
            report["consent_hash"] = data.get("consent_hash")
            report["ledger"] = data.get("ledger")
            if report.get("watermark_id") is None and data.get("watermark_id"):
                report["watermark_id"] = int(data["watermark_id"])
    return C2paReport(**report)


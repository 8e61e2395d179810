"""Verify a file or URL: exact hash -> ledger record; else C2PA manifest; else watermark -> record ->
fingerprint re-check (a watermark copied onto other content must not pass as a registered copy).

Verdicts: ``registered``, ``registered_copy`` (re-encoded copy of a registered file), ``c2pa_valid``,
``c2pa_invalid`` (tampered or broken signature), ``revoked`` (record or its consent revoked), ``unknown``.
"""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deepsentry.errors import DeepsentryError, LedgerError
from deepsentry.provenance.c2pa import C2paReport, read_c2pa
from deepsentry.provenance.fingerprint import MATCH_THRESHOLD, fingerprint, similarity
from deepsentry.media import probe, sha256_file

VERDICTS = ("registered", "registered_copy", "c2pa_valid", "c2pa_invalid", "revoked", "unknown")


@dataclass
class ProvenanceReport:
    verdict: str
    sha256: str
    record: Any = None                      # LedgerRecord | None
    c2pa: C2paReport | None = None
    watermark: dict[str, Any] | None = None  # {"id", "confidence"}
    fingerprint_similarity: float | None = None
    evidence: list[str] = field(default_factory=list)
    ledger: dict[str, Any] | None = None    # {"chain", "contract", "reachable"}
    source: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "sha256": self.sha256,
                "record": self.record.to_json() if self.record is not None else None,
                "c2pa": self.c2pa.to_json() if self.c2pa is not None else None,
                "watermark": self.watermark, "fingerprint_similarity": self.fingerprint_similarity,
                "evidence": list(self.evidence), "ledger": self.ledger, "source": self.source}


def _record_verdict(rec, evidence: list[str], how: str) -> str:
    if rec.revoked:
        evidence.append(f"the registrant revoked this record (block {rec.block_number})")
        return "revoked"
    if rec.consent_revoked:
        evidence.append(f"the consent {rec.consent_hash} behind this content has been revoked")
        return "revoked"
    return how


def _detect_watermark(path: Path, evidence: list[str]):
    try:
        import deepsentry.watermark as wm
    except ImportError:
        evidence.append("watermark check skipped: watermark module not available")
        return None
    try:
        return wm.detect(path)
    except DeepsentryError as exc:
        evidence.append(f"watermark check failed: {exc.message}")
        return None


def verify(path: str | Path, settings, client=None, *, check_watermark: bool = True,
           source: str | None = ...) -> ProvenanceReport:
    """Provenance of a local file. Never raises for "no provenance": that is verdict ``unknown``.
    The ledger being unreachable is reported in ``evidence`` and the other checks still run.

    The file first goes through ``deepsentry.media.probe`` (type from magic bytes, and the byte, pixel
    and duration limits from its headers), so no reader below decodes what the daemon would refuse to
    analyse. ``source`` is what the report names as the input (default: the path; the daemon passes
    the client's file name, never its own temp path)."""
    path = Path(path)
    if not path.is_file():
        from deepsentry.errors import NotFound

        raise NotFound(f"{path} does not exist", code="file_not_found")
    probe(path, settings.limits)
    report = ProvenanceReport(verdict="unknown", sha256=sha256_file(path),
                              source=str(path) if source is ... else source)
    ev = report.evidence
    own_client = False
    if client is None and settings.ledger_enabled:
        from deepsentry.ledger import open_registry

        try:
            client, own_client = open_registry(settings), True
        except LedgerError as exc:
            ev.append(f"ledger unavailable: {exc.message}")
    try:
        ledger_ok = client is not None
        if client is not None:
            report.ledger = {"chain": client.caip2, "contract": client.address, "reachable": True}
        # 1. exact hash
        if ledger_ok:
            try:
                rec = client.lookup_by_hash(report.sha256)
            except LedgerError as exc:
                ledger_ok, rec = False, None
                report.ledger["reachable"] = False
                ev.append(f"ledger lookup failed: {exc.message}")
            if rec is not None:
                report.record = rec
                ev.append(f"sha256 registered on {rec.caip2} at {rec.contract} (block {rec.block_number}, "
                          f"registrant {rec.registrant})")
                report.verdict = _record_verdict(rec, ev, "registered")
                report.c2pa = read_c2pa(path, settings)
                if report.c2pa is not None:
                    ev.append(f"C2PA manifest {report.c2pa.state}")
                return report
            if ledger_ok:
                ev.append("sha256 not registered")
                pending = client.pending_registration(report.sha256)
                if pending is not None:
                    ev.append("a registration of this sha256 is waiting in the local outbox")
        # 2. C2PA manifest
        report.c2pa = c2 = read_c2pa(path, settings)
        if c2 is not None:
            if not c2.valid:
                report.verdict = "c2pa_invalid"
                ev.append("C2PA manifest present but invalid: " + (", ".join(c2.failure_codes) or "validation failed"))
            else:
                report.verdict = "c2pa_valid"
                who = ", ".join(f"{k}={v}" for k, v in c2.signer.items() if k in ("issuer", "common_name"))
                ev.append(f"C2PA manifest valid, signer {'trusted' if c2.trusted else 'not in the trust list'}"
                          + (f" ({who})" if who else ""))
                if c2.digital_source_type:
                    ev.append(f"digitalSourceType {c2.digital_source_type.rsplit('/', 1)[-1]}")
            return report
        ev.append("no C2PA manifest")
        # 3. watermark -> record -> fingerprint
        if check_watermark:
            res = _detect_watermark(path, ev)
            if res is None or not getattr(res, "id", None):
                if res is None:
                    ev.append("no watermark found")
                return report
            report.watermark = {"id": int(res.id), "confidence": float(getattr(res, "confidence", 0.0) or 0.0)}
            ev.append(f"watermark id {res.id} (confidence {report.watermark['confidence']:.2f})")
            if not ledger_ok:
                return report
            try:
                rec = client.lookup_by_watermark(int(res.id))
            except LedgerError as exc:
                ev.append(f"ledger lookup failed: {exc.message}")
                return report
            if rec is None:
                ev.append("the watermark id is not registered")
                return report
            sim = similarity(fingerprint(path), rec.fingerprint_bytes)
            report.fingerprint_similarity = round(sim, 4)
            report.record = rec
            if sim >= MATCH_THRESHOLD:
                ev.append(f"perceptual fingerprint matches the registered content (similarity {sim:.3f})")
                report.verdict = _record_verdict(rec, ev, "registered_copy")
            else:
                ev.append(f"watermark id is registered but the content differs (fingerprint similarity {sim:.3f} "
                          f"< {MATCH_THRESHOLD}): possible spoofed watermark")
        return report
    finally:
        if own_client and client is not None:
            client.close()


def verify_url(url: str, settings, client=None) -> ProvenanceReport:
    """Fetch ``url`` (deepsentry.media.fetch: size limits, private-address refusal) and verify it."""
    from deepsentry.media.fetch import fetch_url

    with tempfile.TemporaryDirectory(prefix="deepsentry-verify-") as tmp:
        fetched = fetch_url(url, Path(tmp), limits=settings.limits, allowlist=settings.url_allowlist)
        path = Path(getattr(fetched, "path", fetched))
        report = verify(path, settings, client)
        report.source = url
        with contextlib.suppress(OSError):
            path.unlink()
        return report

"""Verify a file or URL: exact hash -> ledger record; else C2PA manifest; else watermark -> record ->
fingerprint re-check (a watermark copied onto other content must not pass as a registered copy).

Verdicts: ``registered``, ``registered_copy`` (re-encoded copy of a registered file), ``c2pa_valid``,
``c2pa_invalid`` (tampered or broken signature), ``revoked`` (record or its consent revoked), ``unknown``.
"""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import dataclass, replace
from dataclasses import field as dc_field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deepsentry.errors import DeepsentryError, LedgerError
from deepsentry.provenance.c2pa import C2paReport, read_c2pa
from deepsentry.provenance.fingerprint import MATCH_THRESHOLD, fingerprint, similarity
from deepsentry.media import probe, sha256_file
from deepsentry.records import Record

if TYPE_CHECKING:
    from deepsentry.ledger.client import LedgerRecord

VERDICTS = ("registered", "registered_copy", "c2pa_valid", "c2pa_invalid", "revoked", "unknown")


@dataclass(frozen=True)
class WatermarkHit(Record):
    """The watermark read from the content: its id and the reader's confidence."""

    id: int
    confidence: float


@dataclass(frozen=True)
class LedgerState(Record):
    """Which registry was asked, and whether it answered."""

    chain: str                               # CAIP-2, e.g. eip155:31337
    contract: str
    reachable: bool


@dataclass(frozen=True)
class ProvenanceReport(Record):
    """``/v1/verify``'s result and the ``provenance`` block of an analysis."""

    verdict: str                             # one of VERDICTS
    sha256: str
    record: LedgerRecord | None = None
    c2pa: C2paReport | None = None
    watermark: WatermarkHit | None = None
    fingerprint_similarity: float | None = None
    evidence: tuple[str, ...] = ()
    ledger: LedgerState | None = None
    source: str | None = None


@dataclass
class _Findings:
    """What the three steps of :func:`verify` have found so far (frozen into the report at the end)."""

    sha256: str
    source: str | None
    client: Any
    verdict: str = "unknown"
    evidence: list[str] = dc_field(default_factory=list)
    record: LedgerRecord | None = None
    c2pa: C2paReport | None = None
    watermark: WatermarkHit | None = None
    similarity: float | None = None
    ledger: LedgerState | None = None

    @property
    def ledger_ok(self) -> bool:
        return self.ledger is not None and self.ledger.reachable

    def report(self) -> ProvenanceReport:
        return ProvenanceReport(verdict=self.verdict, sha256=self.sha256, record=self.record, c2pa=self.c2pa,
                                watermark=self.watermark, fingerprint_similarity=self.similarity,
                                evidence=tuple(self.evidence), ledger=self.ledger, source=self.source)


def _record_verdict(rec, evidence: list[str], how: str) -> str:
    if rec.revoked:
        evidence.append(f"the registrant revoked this record (block {rec.block_number})")
        return "revoked"
    if rec.consent_revoked:
        evidence.append(f"the consent {rec.consent_hash} behind this content has been revoked")
        return "revoked"
    return how


def _detect_watermark(path: Path, evidence: list[str]):
    import deepsentry.watermark as wm

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
    the client's file name, never its own temp path). The checks run in order and the first that
    decides ends the search: the exact hash on the ledger, a C2PA manifest, then a watermark whose
    ledger record's fingerprint must match the content."""
    path = Path(path)
    if not path.is_file():
        from deepsentry.errors import NotFound

        raise NotFound(f"{path} does not exist", code="file_not_found")
    probe(path, settings.limits)
    own_client = client is None and settings.ledger_enabled
    evidence: list[str] = []
    if own_client:
        from deepsentry.ledger import open_registry

        try:
            client = open_registry(settings)
        except LedgerError as exc:
            evidence.append(f"ledger unavailable: {exc.message}")
    found = _Findings(sha256=sha256_file(path), source=str(path) if source is ... else source, client=client,
                      evidence=evidence,
                      ledger=LedgerState(client.caip2, client.address, True) if client is not None else None)
    try:
        if not _by_hash(found, path, settings) and not _by_c2pa(found, path, settings) and check_watermark:
            _by_watermark(found, path)
        return found.report()
    finally:
        if own_client and client is not None:
            client.close()


def _by_hash(found: _Findings, path: Path, settings) -> bool:
    """Step 1: the file's exact sha256 on the ledger. True when a record decides the verdict."""
    if not found.ledger_ok:
        return False
    ev, client = found.evidence, found.client
    try:
        rec = client.lookup_by_hash(found.sha256)
    except LedgerError as exc:
        found.ledger = replace(found.ledger, reachable=False)
        ev.append(f"ledger lookup failed: {exc.message}")
        return False
    if rec is None:
        ev.append("sha256 not registered")
        if client.pending_registration(found.sha256) is not None:
            ev.append("a registration of this sha256 is waiting in the local outbox")
        return False
    found.record = rec
    ev.append(f"sha256 registered on {rec.caip2} at {rec.contract} (block {rec.block_number}, "
              f"registrant {rec.registrant})")
    found.verdict = _record_verdict(rec, ev, "registered")
    found.c2pa = read_c2pa(path, settings)
    if found.c2pa is not None:
        ev.append(f"C2PA manifest {found.c2pa.state}")
    return True


def _by_c2pa(found: _Findings, path: Path, settings) -> bool:
    """Step 2: an embedded C2PA manifest, valid or not. True when there is one."""
    ev = found.evidence
    found.c2pa = c2 = read_c2pa(path, settings)
    if c2 is None:
        ev.append("no C2PA manifest")
        return False
    if not c2.valid:
        found.verdict = "c2pa_invalid"
        ev.append("C2PA manifest present but invalid: " + (", ".join(c2.failure_codes) or "validation failed"))
        return True
    found.verdict = "c2pa_valid"
    who = ", ".join(f"{k}={v}" for k, v in c2.signer.items() if k in ("issuer", "common_name"))
    ev.append(f"C2PA manifest valid, signer {'trusted' if c2.trusted else 'not in the trust list'}"
              + (f" ({who})" if who else ""))
    if c2.digital_source_type:
        ev.append(f"digitalSourceType {c2.digital_source_type.rsplit('/', 1)[-1]}")
    return True


def _by_watermark(found: _Findings, path: Path) -> None:
    """Step 3: watermark id -> ledger record -> perceptual fingerprint of this content against the
    registered one (a watermark copied onto other content must not pass as a registered copy)."""
    ev = found.evidence
    res = _detect_watermark(path, ev)
    if res is None or not res.id:
        if res is None:
            ev.append("no watermark found")
        return
    found.watermark = WatermarkHit(id=int(res.id), confidence=float(res.confidence or 0.0))
    ev.append(f"watermark id {res.id} (confidence {found.watermark.confidence:.2f})")
    if not found.ledger_ok:
        return
    try:
        rec = found.client.lookup_by_watermark(int(res.id))
    except LedgerError as exc:
        ev.append(f"ledger lookup failed: {exc.message}")
        return
    if rec is None:
        ev.append("the watermark id is not registered")
        return
    sim = similarity(fingerprint(path), rec.fingerprint_bytes)
    found.similarity = round(sim, 4)
    found.record = rec
    if sim >= MATCH_THRESHOLD:
        ev.append(f"perceptual fingerprint matches the registered content (similarity {sim:.3f})")
        found.verdict = _record_verdict(rec, ev, "registered_copy")
    else:
        ev.append(f"watermark id is registered but the content differs (fingerprint similarity {sim:.3f} "
                  f"< {MATCH_THRESHOLD}): possible spoofed watermark")


def verify_url(url: str, settings, client=None) -> ProvenanceReport:
    """Fetch ``url`` (deepsentry.media.fetch: size limits, private-address refusal) and verify it."""
    from deepsentry.media.fetch import fetch_url

    with tempfile.TemporaryDirectory(prefix="deepsentry-verify-") as tmp:
        fetched = fetch_url(url, Path(tmp), limits=settings.limits, allowlist=settings.url_allowlist)
        path = fetched.path
        report = verify(path, settings, client, source=url)
        with contextlib.suppress(OSError):
            path.unlink()
        return report

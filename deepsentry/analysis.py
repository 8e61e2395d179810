"""One analysis of a file as the daemon's jobs and ``deepsentry check`` give it: the detector's result
with the provenance block beside it."""

from __future__ import annotations

import logging
from pathlib import Path
from collections.abc import Callable
from typing import Any

from deepsentry.errors import DeepsentryError

log = logging.getLogger("deepsentry.daemon")

def provenance_block(path: Path, settings, **verify_kw: Any) -> dict[str, Any]:
    """``deepsentry.provenance.verify(path, settings, **verify_kw)`` as JSON. Provenance is extra
    evidence: its failure never fails the analysis (the block then says "unknown" with the error)."""
    from deepsentry.provenance import verify

    try:
        return verify(path, settings, **verify_kw).to_json()
    except DeepsentryError as exc:
        return {"verdict": "unknown", "error": exc.to_json()["error"]}
    except Exception as exc:  # noqa: BLE001 - any failure of the extra check becomes its error block
        log.exception("provenance check failed")
        return {"verdict": "unknown", "error": {"code": "provenance_error", "message": f"{type(exc).__name__}: {exc}"}}


def analyze_with_provenance(analyzer, path: Path, provenance: Callable[[Path], dict] | None, *,
                            progress=None, explain: bool = False, source_url: str | None = None) -> dict[str, Any]:
    """``analyzer.analyze_file(path)`` with ``result["provenance"] = provenance(path)`` (None without one).

    The provenance check (hash, C2PA, watermark) runs on a second thread while the detector works: they
    share no state, and the watermark reader spends its time in NumPy's FFT and the detector in torch,
    both outside the GIL, so the answer comes after the longer of the two instead of after both."""
    if provenance is None:
        result = analyzer.analyze_file(path, progress=progress, explain=explain, source_url=source_url)
        result["provenance"] = None
        return result
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1, thread_name_prefix="deepsentry-provenance") as pool:
        pending = pool.submit(provenance, path)
        result = analyzer.analyze_file(path, progress=progress, explain=explain, source_url=source_url)
        result["provenance"] = pending.result()
    return result

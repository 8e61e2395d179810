"""The scan driver: resume, the byte cap, the executor, the progress bar and the summary."""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deepsentry.scan.items import Item
from deepsentry.scan.output import Writer, format_of, journal_path, read_records


@dataclass(frozen=True)
class ScanOptions:
    out: Path
    fmt: str | None = None                 # jsonl | csv | parquet (default: from the suffix, else jsonl)
    workers: int = 1
    ray_address: str | None = None         # None: local processes; "auto", "local", "ray://…", "host:port"
    resume: bool = False
    explain: bool = False
    provenance: bool = True
    ledger: bool = False                   # look records up on the configured ledger node
    max_bytes: int = 50 << 30              # total bytes of local files and downloads in one run
    report_dir: Path | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    progress: bool = True


@dataclass(frozen=True)
class ScanSummary:
    """What a run did: ``records`` holds every record in the results file (earlier runs' included)."""

    scanned: int
    skipped: int
    not_started: int
    seconds: float
    executor: str
    records: tuple[dict[str, Any], ...]

    def counts(self) -> dict[str, int]:
        return dict(Counter(r.get("verdict") or "error" for r in self.records))

    def errors(self) -> dict[str, int]:
        # records read back from a CSV carry the code in a column of its own
        return dict(Counter((r.get("error") or {}).get("code") or r.get("error_code")
                            for r in self.records if r.get("status") == "error"))

    def suspicious(self, n: int = 10) -> list[dict[str, Any]]:
        scored = [r for r in self.records if r.get("status") == "ok" and r.get("fake_prob") not in (None, "")]
        return sorted(scored, key=lambda r: -float(r["fake_prob"]))[:n]

    def to_json(self) -> dict[str, Any]:
        return {"scanned": self.scanned, "skipped": self.skipped, "not_started": self.not_started,
                "seconds": round(self.seconds, 2), "executor": self.executor, "total": len(self.records),
                "verdicts": self.counts(), "errors": self.errors(),
                "most_suspicious": [{"item": r["item"], "verdict": r.get("verdict"),
                                     "fake_prob": float(r["fake_prob"])} for r in self.suspicious()]}


def _executor(opts: ScanOptions):
    from deepsentry.scan.executors import LocalExecutor, RayExecutor

    kwargs = {"settings": opts.settings, "explain": opts.explain, "provenance": opts.provenance,
              "ledger": opts.ledger, "thumbnails": opts.report_dir is not None}
    if opts.ray_address:
        return RayExecutor(opts.ray_address, opts.workers, kwargs)
    return LocalExecutor(opts.workers, kwargs)


def _size(item: Item) -> int:
    try:
        return Path(item.ref).stat().st_size if item.kind == "file" else 0
    except OSError:
        return 0


def run_scan(items: list[Item], opts: ScanOptions) -> ScanSummary:
    """Scan ``items`` into ``opts.out``; with ``resume``, items whose key is already there are skipped.

    Local files count against ``max_bytes`` before they are handed out (items past the cap are not
    started, and a later ``--resume`` run picks them up); a download counts when its record comes back."""
    from deepsentry.scan.worker import item_key

    t0 = time.perf_counter()
    out = Path(opts.out)
    fmt = format_of(out, opts.fmt)
    previous = read_records(out, fmt) if opts.resume else []
    if not opts.resume and (out.exists() or journal_path(out, fmt).exists()):
        from deepsentry.errors import BadRequest

        raise BadRequest(f"{out} exists: pass --resume to add to it, or choose another --out",
                         code="results_exist")
    done = {r.get("key") for r in previous}
    todo, skipped, used = [], 0, 0
    for it in items:
        if done and item_key(it) in done:
            skipped += 1
            continue
        todo.append(it)
    runnable, not_started = [], 0
    for it in todo:
        size = _size(it)
        if used + size > opts.max_bytes:
            not_started += 1
            continue
        used += size
        runnable.append(it)

    executor = _executor(opts)
    writer = Writer(out, fmt)
    records = list(previous)
    bar = None
    if opts.progress and runnable:
        from tqdm import tqdm

        bar = tqdm(total=len(runnable), unit="item", desc="scanning", file=sys.stderr, dynamic_ncols=True)
    got = 0
    try:
        for rec in executor.map(runnable) if runnable else ():
            writer.write(rec)
            records.append(rec)
            got += 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix_str(rec.get("verdict") or (rec.get("error") or {}).get("code") or "", refresh=False)
            if rec["kind"] == "url" and rec.get("result"):
                used += int(rec["result"]["media"].get("size") or 0)
                if used > opts.max_bytes:       # downloads went past the cap: stop handing out items
                    break
    finally:
        if bar is not None:
            bar.close()
        writer.close(records)
    not_started += len(runnable) - got
    summary = ScanSummary(scanned=got, skipped=skipped, not_started=not_started,
                          seconds=time.perf_counter() - t0, executor=executor.describe(), records=tuple(records))
    if opts.report_dir is not None:
        from deepsentry.scan.report import write_html

        write_html(summary, Path(opts.report_dir))
    return summary

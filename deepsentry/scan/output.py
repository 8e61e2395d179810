"""Results files: JSON lines, CSV or Parquet, appended one record at a time and read back for resume."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

from deepsentry import jsonio
from deepsentry.errors import BadRequest

FORMATS = ("jsonl", "csv", "parquet")
CSV_COLUMNS = ("item", "kind", "status", "verdict", "fake_prob", "faces", "provenance", "error_code",
               "error_message", "media_kind", "duration", "width", "height", "sha256", "seconds", "key")


def format_of(path: Path, fmt: str | None) -> str:
    if fmt:
        if fmt not in FORMATS:
            raise BadRequest(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}", code="bad_format")
        return fmt
    ext = path.suffix.lower().lstrip(".")
    return {"json": "jsonl", "ndjson": "jsonl", "pq": "parquet"}.get(ext, ext if ext in FORMATS else "jsonl")


def flat(rec: dict[str, Any]) -> dict[str, Any]:
    """A record as one CSV/Parquet row (the full analysis stays in JSON lines)."""
    media = (rec.get("result") or {}).get("media") or {}
    err = rec.get("error") or {}
    return {"item": rec["item"], "kind": rec["kind"], "status": rec["status"], "verdict": rec.get("verdict"),
            "fake_prob": rec.get("fake_prob"), "faces": rec.get("faces"), "provenance": rec.get("provenance"),
            "error_code": err.get("code"), "error_message": err.get("message"), "media_kind": media.get("kind"),
            "duration": media.get("duration"), "width": media.get("width"), "height": media.get("height"),
            "sha256": media.get("sha256"), "seconds": rec.get("seconds"), "key": rec.get("key")}


def journal_path(out: Path, fmt: str) -> Path:
    """Where records are appended as they come: the file itself, or for Parquet (written whole at the
    end) a JSON-lines journal beside it."""
    return out.with_name(out.name + ".journal.jsonl") if fmt == "parquet" else out


def _truncate_partial_line(path: Path) -> None:
    """Cut a last line left half-written by a killed run, so appended records start on a fresh line."""
    with open(path, "rb+") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        if size == 0:
            return
        f.seek(max(0, size - 1))
        if f.read(1) == b"\n":
            return
        pos = size
        while pos > 0:
            step = min(65536, pos)
            f.seek(pos - step)
            chunk = f.read(step)
            nl = chunk.rfind(b"\n")
            if nl >= 0:
                f.truncate(pos - step + nl + 1)
                return
            pos -= step
        f.truncate(0)


def read_records(out: Path, fmt: str) -> list[dict[str, Any]]:
    """The records a previous run wrote (a half-written last line is cut off and ignored)."""
    path = journal_path(out, fmt)
    if not path.is_file():
        if fmt == "parquet" and out.is_file():
            import pyarrow.parquet as pq

            return [{**r, "error": {"code": r.get("error_code"), "message": r.get("error_message")}}
                    for r in pq.read_table(out).to_pylist()]
        return []
    if fmt in ("jsonl", "parquet"):
        _truncate_partial_line(path)
        out_recs = []
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    out_recs.append(jsonio.loads(line))
        return out_recs
    _truncate_partial_line(path)
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


class Writer:
    """Appends records to the results file, flushed after each one."""

    def __init__(self, out: Path, fmt: str) -> None:
        self.out, self.fmt = out, fmt
        self.path = journal_path(out, fmt)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.is_file() or self.path.stat().st_size == 0
        self._f = open(self.path, "a", newline="", encoding="utf-8")
        self._csv = None
        if fmt == "csv":
            self._csv = csv.DictWriter(self._f, fieldnames=CSV_COLUMNS)
            if new:
                self._csv.writeheader()

    def write(self, rec: dict[str, Any]) -> None:
        if self._csv is not None:
            self._csv.writerow(flat(rec))
        else:
            self._f.write(jsonio.dumps(rec) + "\n")
        self._f.flush()

    def close(self, records: list[dict[str, Any]] | None = None) -> None:
        self._f.close()
        if self.fmt == "parquet" and records is not None:
            import pyarrow as pa
            import pyarrow.parquet as pq

            rows = [{**flat(r), "result_json": json.dumps(r.get("result")) if r.get("result") else None}
                    for r in records]
            tmp = self.out.with_name(self.out.name + ".tmp")
            pq.write_table(pa.Table.from_pylist(rows), tmp)
            tmp.replace(self.out)

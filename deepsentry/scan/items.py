"""What to scan: files, folders (recursive), ``-`` (a list on stdin), and list files of paths and URLs."""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from deepsentry.errors import BadRequest

LIST_SUFFIXES = (".txt", ".csv", ".tsv", ".lst")
LIST_COLUMNS = ("url", "path", "item", "file", "media")


@dataclass(frozen=True)
class Item:
    """One thing to analyse: a local file (``ref`` is its path) or a URL (``ref`` is the URL)."""

    kind: str          # "file" | "url"
    ref: str

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "ref": self.ref}


def _is_url(s: str) -> bool:
    return "://" in s


def _from_text(text: str, base: Path | None) -> Iterator[Item]:
    """Items of a list: one per line, or the ``url``/``path`` (else first) column of a CSV with a header."""
    sample = text[:4096]
    first = sample.splitlines()[0] if sample.strip() else ""
    rows: Iterable[str]
    if "," in first or "\t" in first:
        reader = csv.reader(io.StringIO(text), delimiter="\t" if "\t" in first else ",")
        head = next(reader, [])
        names = [h.strip().lower() for h in head]
        col = next((names.index(c) for c in LIST_COLUMNS if c in names), None)
        if col is None:                     # no header: the first column, first row included
            rows = ([head[0]] if head else []) + [r[0] for r in reader if r]
        else:
            rows = [r[col] for r in reader if len(r) > col]
    else:
        rows = text.splitlines()
    for line in rows:
        ref = line.strip()
        if not ref or ref.startswith("#"):
            continue
        if _is_url(ref):
            yield Item("url", ref)
        else:
            p = Path(ref).expanduser()
            yield from _from_path(p if p.is_absolute() or base is None else base / p, listed=True)


def _from_path(p: Path, listed: bool = False) -> Iterator[Item]:
    from deepsentry.media import kind_from_name

    if p.is_dir():
        for f in sorted(x for x in p.rglob("*") if x.is_file()):
            if kind_from_name(f.name) is not None:       # a folder: its media files (by name)
                yield Item("file", str(f))
    elif not listed and p.suffix.lower() in LIST_SUFFIXES and p.is_file():
        yield from _from_text(p.read_text(encoding="utf-8", errors="replace"), p.parent)
    else:
        yield Item("file", str(p))            # named explicitly: scanned (or an error row) whatever it is


def expand_inputs(inputs: Iterable[str], stdin=None) -> list[Item]:
    """Every item the inputs name, in order, without repeats (the same path or URL once)."""
    out: list[Item] = []
    seen: set[tuple[str, str]] = set()
    for raw in inputs:
        if raw == "-":
            items = _from_text((stdin or sys.stdin).read(), Path.cwd())
        elif _is_url(raw):
            items = iter([Item("url", raw)])
        else:
            items = _from_path(Path(raw).expanduser())
        for it in items:
            key = (it.kind, it.ref if it.kind == "url" else str(Path(it.ref).resolve()))
            if key not in seen:
                seen.add(key)
                out.append(it)
    if not out:
        raise BadRequest("nothing to scan: no media files or URLs in the inputs", code="no_items")
    return out

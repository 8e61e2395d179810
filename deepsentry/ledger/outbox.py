"""Registrations waiting for the node: a small SQLite table in ``<data_dir>/ledger/outbox.sqlite``.

A row is written before the first attempt fails over to the outbox and removed only once the chain has
the record, so pending registrations survive a daemon restart and are never silently lost.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Iterator

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    content_hash TEXT NOT NULL,
    chain_id INTEGER NOT NULL,
    contract TEXT NOT NULL,
    payload TEXT NOT NULL,
    created REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'pending',
    last_error TEXT,
    PRIMARY KEY (content_hash, chain_id, contract)
)
"""


class Outbox:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        with self._db() as db:
            db.execute(SCHEMA)

    @contextlib.contextmanager
    def _db(self):
        """One short-lived autocommit connection per operation (safe across threads and processes)."""
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            yield db
        finally:
            db.close()

    def put(self, content_hash: str, chain_id: int, contract: str, payload: dict[str, Any], error: str) -> None:
        with self._lock, self._db() as db:
            db.execute("INSERT INTO outbox (content_hash, chain_id, contract, payload, created, attempts, last_error) "
                       "VALUES (?, ?, ?, ?, ?, 1, ?) ON CONFLICT DO UPDATE SET attempts = attempts + 1, "
                       "last_error = excluded.last_error, state = 'pending'",
                       (content_hash, chain_id, contract, json.dumps(payload), time.time(), error))

    def pending(self, chain_id: int, contract: str, state: str = "pending") -> Iterator[tuple[str, dict]]:
        with self._lock, self._db() as db:
            rows = db.execute("SELECT content_hash, payload FROM outbox WHERE chain_id = ? AND contract = ? "
                              "AND state = ? ORDER BY created", (chain_id, contract, state)).fetchall()
        for h, payload in rows:
            yield h, json.loads(payload)

    def get(self, content_hash: str, chain_id: int, contract: str) -> dict | None:
        with self._lock, self._db() as db:
            row = db.execute("SELECT payload, state, attempts, last_error FROM outbox WHERE content_hash = ? AND "
                             "chain_id = ? AND contract = ?", (content_hash, chain_id, contract)).fetchone()
        if row is None:
            return None
        return {"payload": json.loads(row[0]), "state": row[1], "attempts": row[2], "last_error": row[3]}

    def done(self, content_hash: str, chain_id: int, contract: str) -> None:
        with self._lock, self._db() as db:
            db.execute("DELETE FROM outbox WHERE content_hash = ? AND chain_id = ? AND contract = ?",
                       (content_hash, chain_id, contract))

    def mark(self, content_hash: str, chain_id: int, contract: str, *, state: str, error: str) -> None:
        with self._lock, self._db() as db:
            db.execute("UPDATE outbox SET state = ?, last_error = ?, attempts = attempts + 1 WHERE content_hash = ? "
                       "AND chain_id = ? AND contract = ?", (state, error, content_hash, chain_id, contract))

    def count(self, chain_id: int | None = None, contract: str | None = None) -> dict[str, int]:
        q, args = "SELECT state, COUNT(*) FROM outbox", []
        if chain_id is not None:
            q += " WHERE chain_id = ? AND contract = ?"
            args = [chain_id, contract]
        with self._lock, self._db() as db:
            rows = db.execute(q + " GROUP BY state", args).fetchall()
        out = {"pending": 0, "failed": 0}
        out.update({s: n for s, n in rows})
        return out

"""The registration journal: a small SQLite table in ``<data_dir>/ledger/outbox.sqlite``.

Every registration is written here *before* its transaction is sent, and its row is removed only once
the record will survive a crash of both the daemon and the node. Row states:

- ``sent``: journaled, transaction sent (or about to be) by process ``owner``; the chain may or may not
  have it; replayed only once that process is gone (it crashed) or after ``SENT_GRACE_S``;
- ``unsaved``: mined in block ``block``, but the embedded node's state file on disk does not hold that
  block yet (anvil writes it every few seconds); a crash now would lose it, so it is kept to replay;
- ``pending``: the node was unreachable; delivered when it is back;
- ``failed``: refused by the contract, kept for inspection.

SQLite commits in WAL mode with ``synchronous=FULL``, so a row is on disk when ``put`` returns.
"""

from __future__ import annotations

import contextlib
import json
import os
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
    block INTEGER,
    owner INTEGER,
    PRIMARY KEY (content_hash, chain_id, contract)
)
"""


SENT_GRACE_S = 300.0     # a "sent" row of a live process older than this is treated as abandoned


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Outbox:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        with self._db() as db:
            db.execute(SCHEMA)
            cols = {r[1] for r in db.execute("PRAGMA table_info(outbox)")}
            for col in ("block", "owner"):               # journals written before these columns existed
                if col not in cols:
                    db.execute(f"ALTER TABLE outbox ADD COLUMN {col} INTEGER")

    @contextlib.contextmanager
    def _db(self):
        """One short-lived autocommit connection per operation (safe across threads and processes)."""
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            yield db
        finally:
            db.close()

    def put(self, content_hash: str, chain_id: int, contract: str, payload: dict[str, Any], error: str,
            state: str = "pending") -> None:
        with self._lock, self._db() as db:
            db.execute("INSERT INTO outbox (content_hash, chain_id, contract, payload, created, attempts, last_error, "
                       "state) VALUES (?, ?, ?, ?, ?, 1, ?, ?) ON CONFLICT DO UPDATE SET attempts = attempts + 1, "
                       "last_error = excluded.last_error, state = excluded.state, payload = excluded.payload, "
                       "block = NULL",
                       (content_hash, chain_id, contract, json.dumps(payload), time.time(), error, state))

    def journal(self, content_hash: str, chain_id: int, contract: str, payload: dict[str, Any]) -> bool:
        """Record a registration about to be sent (state ``sent``, owned by this process) unless a row for
        it exists already (an earlier registration of the same bytes still waiting or unsaved: that row is
        kept as it is). True when this call wrote the row."""
        with self._lock, self._db() as db:
            cur = db.execute("INSERT INTO outbox (content_hash, chain_id, contract, payload, created, attempts, state, "
                             "owner) VALUES (?, ?, ?, ?, ?, 0, 'sent', ?) ON CONFLICT DO NOTHING",
                             (content_hash, chain_id, contract, json.dumps(payload), time.time(), os.getpid()))
            return cur.rowcount == 1

    def mined(self, content_hash: str, chain_id: int, contract: str, block: int) -> None:
        """The transaction is in ``block``; the row stays (state ``unsaved``) until that block is on disk."""
        with self._lock, self._db() as db:
            db.execute("UPDATE outbox SET state = 'unsaved', block = ?, last_error = NULL WHERE content_hash = ? "
                       "AND chain_id = ? AND contract = ?", (block, content_hash, chain_id, contract))

    def unsettled(self, chain_id: int, contract: str) -> list[tuple[str, dict, str, int | None]]:
        """Rows mined but not yet known to be on disk, and rows sent by a process that is gone (a sending
        process that is alive is still working on its row, unless the row is older than ``SENT_GRACE_S``):
        (hash, payload, state, block), oldest first."""
        with self._lock, self._db() as db:
            rows = db.execute("SELECT content_hash, payload, state, block, owner, created FROM outbox WHERE "
                              "chain_id = ? AND contract = ? AND state IN ('sent', 'unsaved') ORDER BY created",
                              (chain_id, contract)).fetchall()
        now = time.time()
        return [(h, json.loads(p), st, b) for h, p, st, b, owner, created in rows
                if st == "unsaved" or not _alive(owner) or now - created > SENT_GRACE_S]

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
        out.update({s: n for s, n in rows if s in out})      # sent/unsaved rows are delivered records
        return out

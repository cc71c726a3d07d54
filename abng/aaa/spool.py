"""Disk spool for Accounting Stops (DECISIONS.md D23): SQLite in WAL mode, synchronous=FULL.

A record is written (and fsynced) before its first transmission and deleted only after an
Accounting-Response; :meth:`AcctSpool.remove` deletes by primary key, so an acknowledgement
removes exactly one record, once.  The class is synchronous; :class:`abng.aaa.accounting.Accounting`
calls it through ``asyncio.to_thread``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from abng.aaa.dictionary import Value


@dataclass(frozen=True, slots=True)
class SpoolRecord:
    id: int
    created: float  # wall-clock time of the event (for Acct-Delay-Time)
    attrs: list[tuple[str, Value]]


def _dump(attrs: list[tuple[str, Value]]) -> str:
    return json.dumps([[n, {"hex": v.hex()} if isinstance(v, bytes) else v] for n, v in attrs])


def _load(text: str) -> list[tuple[str, Value]]:
    out: list[tuple[str, Value]] = []
    for name, v in json.loads(text):
        out.append((name, bytes.fromhex(v["hex"]) if isinstance(v, dict) else v))
    return out


class AcctSpool:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS spool"
            " (id INTEGER PRIMARY KEY AUTOINCREMENT, created REAL, attrs TEXT)"
        )

    def add(self, created: float, attrs: list[tuple[str, Value]]) -> int:
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO spool (created, attrs) VALUES (?, ?)", (created, _dump(attrs))
            )
            return int(cur.lastrowid or 0)

    def remove(self, record_id: int) -> bool:
        """Delete one acknowledged record; False if it was already gone."""
        with self._lock:
            return self._db.execute("DELETE FROM spool WHERE id = ?", (record_id,)).rowcount == 1

    def pending(self, limit: int = 1000) -> list[SpoolRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, created, attrs FROM spool ORDER BY id LIMIT ?", (limit,)
            ).fetchall()
        return [SpoolRecord(int(i), float(c), _load(a)) for i, c, a in rows]

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM spool").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()

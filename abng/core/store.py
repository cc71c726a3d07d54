"""SQLite (WAL) session store with a write-behind queue (DECISIONS.md D6, D7).

The manager marks sessions dirty; :meth:`SessionStore.flush` writes everything marked since the
last flush in one transaction, in a worker thread, so the event loop never waits on the disk.
A background loop flushes every ``interval`` seconds (200 ms by default: a session being set
up is marked several times within a few hundred milliseconds, and each flush re-encodes it).

Ids are never reused, also after a crash: the store keeps an id *reservation* ahead of the next
id (written synchronously, once per ``ID_BLOCK`` sessions); a restart continues from the highest
of the reservation, the saved next id and every id on file.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from abng.core import rows
from abng.core.model import Session

log = logging.getLogger("abng.core.store")
T = TypeVar("T")

ID_BLOCK = 1000


@dataclass(slots=True)
class _Taken:
    dirty: dict[int, Session]
    deleted: set[int]
    history: list[Session]


@dataclass(slots=True)
class Snapshot:
    sessions: list[Session]
    history: list[Session]
    next_id: int


#: rows per multi-row statement, largest first (powers of two: a handful of cached statements)
_CHUNKS = (64, 32, 16, 8, 4, 2, 1)


def _chunks(items: list[T]) -> Iterator[list[T]]:
    """``items`` cut into runs of 64, 32, ... 1 rows (at most 7 statement shapes per table)."""
    pos, n = 0, len(items)
    for size in _CHUNKS:
        while n - pos >= size:
            yield items[pos : pos + size]
            pos += size


@functools.lru_cache(maxsize=64)
def _multi_sql(head: str, width: int, count: int) -> str:
    one = "(" + ", ".join("?" * width) + ")"
    return head + ", ".join([one] * count)


def _insert_many(db: sqlite3.Connection, sql: str, items: list[tuple[Any, ...]]) -> None:
    """``executemany`` as multi-row INSERTs: Python's sqlite3 releases the GIL around every
    ``sqlite3_step``, i.e. once per row with executemany; a writer thread doing that hundreds of
    times per flush makes the event loop wait for the GIL after each of its own syscalls.  One
    statement per chunk of rows releases it once per chunk."""
    head = sql[: sql.index("VALUES") + len("VALUES ")]
    for chunk in _chunks(items):
        db.execute(_multi_sql(head, len(chunk[0]), len(chunk)), [v for row in chunk for v in row])


def _delete_many(db: sqlite3.Connection, ids: list[int]) -> None:
    for chunk in _chunks(ids):
        marks = ", ".join("?" * len(chunk))
        db.execute(f"DELETE FROM sessions WHERE id IN ({marks})", chunk)  # noqa: S608 - only "?"


class SessionStore:
    """The session database in ``<state-dir>/sessions.db``."""

    def __init__(self, path: Path, *, history_limit: int = 10_000, interval: float = 0.2) -> None:
        self.path = path
        self.history_limit = history_limit
        self.interval = interval
        #: session rows encoded per flush round (bounds the time the loop spends encoding)
        self.batch = 5000
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db_lock = threading.Lock()
        with self._db_lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(rows.schema())
            rows.ensure_columns(self._db)
        self._dirty: dict[int, Session] = {}
        self._deleted: set[int] = set()
        self._history: list[Session] = []
        self._next_id: int | None = None
        self._reserved = 0
        self._flush_lock = asyncio.Lock()
        self._wake: asyncio.Event | None = None
        self.flushes = 0
        self.rows_written = 0

    # ---- reading ------------------------------------------------------------------------------
    def load(self) -> Snapshot:
        with self._db_lock:
            meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
            live = self._db.execute(rows.SELECT_LIVE).fetchall()
            hist = self._db.execute(rows.SELECT_HISTORY, (self.history_limit,)).fetchall()
            max_hist = self._db.execute("SELECT MAX(id) FROM history").fetchone()[0] or 0
        sessions = [rows.decode(r) for r in live]
        history = [rows.decode(r) for r in reversed(hist)]
        max_id = max([s.id for s in sessions] + [max_hist])
        next_id = max(meta.get("next_id", 1), meta.get("reserved", 1), max_id + 1)
        self._reserved = meta.get("reserved", 1)
        self._next_id = next_id
        return Snapshot(sessions, history, next_id)

    # ---- id reservation -----------------------------------------------------------------------
    def allocated(self, session_id: int) -> None:
        """The manager handed out ``session_id``; make sure a crash cannot hand it out again."""
        self._next_id = session_id + 1
        if session_id >= self._reserved:
            self._reserved = session_id + ID_BLOCK
            with self._db_lock:
                self._db.execute("INSERT OR REPLACE INTO meta VALUES ('reserved', ?)", (self._reserved,))

    # ---- write-behind -------------------------------------------------------------------------
    def mark(self, session: Session) -> None:
        self._dirty[session.id] = session
        if self._deleted:
            self._deleted.discard(session.id)

    def end(self, session: Session) -> None:
        """``session`` left the active table: delete its row, append it to the history."""
        self._dirty.pop(session.id, None)
        self._deleted.add(session.id)
        self._history.append(session)

    @property
    def pending(self) -> int:
        return len(self._dirty) + len(self._deleted) + len(self._history)

    async def flush(self, batch: int | None = None) -> None:
        """Write what is pending in one transaction (at most ``batch`` session rows: encoding
        happens on the loop, so a huge backlog is spread over several rounds)."""
        async with self._flush_lock:
            if not self.pending:
                return
            # Encode on the loop (sessions are mutated there); the disk work goes to a thread.
            taken = self._take(batch)
            try:
                await asyncio.to_thread(self._write, *self._encode(taken), self._next_id)
            except BaseException:
                self._give_back(taken)
                raise

    def _take(self, batch: int | None) -> _Taken:
        if batch is None or len(self._dirty) <= batch:
            dirty, self._dirty = self._dirty, {}
        else:
            dirty = {sid: self._dirty.pop(sid) for sid in list(itertools.islice(self._dirty, batch))}
        taken = _Taken(dirty, self._deleted, self._history)
        self._deleted, self._history = set(), []
        return taken

    def _give_back(self, taken: _Taken) -> None:
        """A failed write: mark everything again unless something newer replaced it."""
        for sid, s in taken.dirty.items():
            if sid not in self._deleted:
                self._dirty.setdefault(sid, s)
        self._deleted |= taken.deleted
        self._history[:0] = taken.history

    @staticmethod
    def _encode(taken: _Taken) -> tuple[list[tuple[Any, ...]], list[tuple[int]], list[tuple[Any, ...]]]:
        return (
            [rows.encode(s) for s in taken.dirty.values()],
            [(sid,) for sid in taken.deleted],
            [rows.encode(s) for s in taken.history],
        )

    def flush_sync(self) -> None:
        self._write(*self._encode(self._take(None)), self._next_id)

    def _write(
        self,
        upserts: list[tuple[Any, ...]],
        deletes: list[tuple[int]],
        history: list[tuple[Any, ...]],
        next_id: int | None,
    ) -> None:
        with self._db_lock:
            db = self._db
            db.execute("BEGIN")
            try:
                if upserts:
                    _insert_many(db, rows.UPSERT_LIVE, upserts)
                if deletes:
                    _delete_many(db, [sid for (sid,) in deletes])
                if history:
                    _insert_many(db, rows.INSERT_HISTORY, history)
                    db.execute(
                        "DELETE FROM history WHERE seq <= (SELECT MAX(seq) FROM history) - ?",
                        (self.history_limit,),
                    )
                if next_id is not None:
                    db.execute("INSERT OR REPLACE INTO meta VALUES ('next_id', ?)", (next_id,))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        self.flushes += 1
        self.rows_written += len(upserts) + len(deletes) + len(history)

    async def run(self) -> None:
        """Flush loop; run it as a named task.  Errors are logged and retried next round."""
        while True:
            await asyncio.sleep(self.interval)
            if self.pending:
                try:
                    await self.flush(self.batch)
                except sqlite3.Error:
                    log.exception("session store flush failed")

    def close(self) -> None:
        """Final synchronous flush (clean shutdown: ids continue contiguously)."""
        if self._next_id is not None:
            self._reserved = self._next_id
        self.flush_sync()
        with self._db_lock:
            if self._next_id is not None:
                self._db.execute("INSERT OR REPLACE INTO meta VALUES ('reserved', ?)", (self._reserved,))
            self._db.close()

    # ---- offline seeding (tests, benchmarks, migrations) ----------------------------------------
    def seed(self, sessions: Iterable[Session], history: Iterable[Session] = ()) -> int:
        """Write sessions straight to the file (abngd must not be running).  Returns next id."""
        live = [rows.encode(s) for s in sessions]
        hist = [rows.encode(s) for s in history]
        ids = [r[0] for r in live] + [h[0] for h in hist]
        with self._db_lock:
            cur = self._db.execute("SELECT value FROM meta WHERE key='next_id'").fetchone()
        next_id: int = max([cur[0] if cur else 1, *(i + 1 for i in ids)])
        self._write(live, [], hist, next_id)
        return next_id

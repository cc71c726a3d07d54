"""Failed-login bookkeeping shared by every API worker process (D13).

A username (existing or not) with ``user_failures`` failures within ``window`` seconds is
locked for ``lock_seconds``; a client address with ``ip_failures`` failures within the window
is blocked the same way.  State lives in SQLite in the run directory, so it holds across
workers and API restarts.  Blocking: call it from the login thread, never from the loop.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from abng.api.settings import LoginLimits

_SCHEMA = """
CREATE TABLE IF NOT EXISTS failures (key TEXT NOT NULL, ts REAL NOT NULL);
CREATE INDEX IF NOT EXISTS failures_key ON failures (key, ts);
CREATE TABLE IF NOT EXISTS locks (key TEXT PRIMARY KEY, until REAL NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class Locked:
    kind: str  # "user" or "address"
    retry_after: int  # whole seconds, >= 1


class LoginGuard:
    def __init__(self, path: Path, limits: LoginLimits) -> None:
        self._limits = limits
        self._db = sqlite3.connect(str(path), timeout=5.0, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        path.chmod(0o600)
        #: key -> locked until: what this process has seen, for the no-I/O fast path
        self._seen: dict[str, float] = {}

    @staticmethod
    def _keys(username: str, address: str) -> tuple[str, str]:
        return f"u:{username}", f"ip:{address}"

    def cached(self, username: str, address: str, now: float) -> Locked | None:
        """Fast path for the event loop (memory only): a lock this process already knows of.
        Lets a storm against a locked name or address be answered without queueing for bcrypt."""
        ukey, akey = self._keys(username, address)
        best: Locked | None = None
        for key, kind in ((ukey, "user"), (akey, "address")):
            until = self._seen.get(key)
            if until is not None and until > now and (best is None or until - now > best.retry_after):
                best = Locked(kind, max(1, int(until - now + 0.999)))
        return best

    def check(self, username: str, address: str, now: float) -> Locked | None:
        """Is this username or address locked right now? (authoritative, shared by workers)"""
        ukey, akey = self._keys(username, address)
        rows = self._db.execute(
            "SELECT key, until FROM locks WHERE key IN (?, ?) AND until > ?", (ukey, akey, now)
        ).fetchall()
        if not rows:
            return None
        for key, until in rows:
            self._seen[key] = until
        if len(self._seen) > 10_000:
            self._seen = {k: u for k, u in self._seen.items() if u > now}
        key, until = max(rows, key=lambda r: r[1])
        return Locked("user" if key == ukey else "address", max(1, int(until - now + 0.999)))

    def failure(self, username: str, address: str, now: float) -> list[Locked]:
        """Record a failure; return the locks this failure just caused."""
        lim = self._limits
        ukey, akey = self._keys(username, address)
        caused: list[Locked] = []
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM failures WHERE ts <= ?", (now - lim.window,))
            self._db.execute("DELETE FROM locks WHERE until <= ?", (now,))
            self._db.executemany("INSERT INTO failures VALUES (?, ?)", [(ukey, now), (akey, now)])
            for key, limit, kind in ((ukey, lim.user_failures, "user"), (akey, lim.ip_failures, "address")):
                (count,) = self._db.execute("SELECT count(*) FROM failures WHERE key = ?", (key,)).fetchone()
                if count >= limit:
                    cur = self._db.execute(
                        "INSERT OR IGNORE INTO locks VALUES (?, ?)", (key, now + lim.lock_seconds)
                    )
                    if cur.rowcount:
                        caused.append(Locked(kind, lim.lock_seconds))
                        self._seen[key] = now + lim.lock_seconds
        return caused

    def success(self, username: str) -> None:
        """A good login clears that username's failure count (not the address's)."""
        self._db.execute("DELETE FROM failures WHERE key = ?", (f"u:{username}",))

    def close(self) -> None:
        self._db.close()

"""bcrypt checks off the event loop, with equal work for unknown users (D13, MACHINE §4).

All checks run on one dedicated thread: bcrypt at cost 12 takes ~220 ms, so running them one
at a time keeps a storm of logins from eating both cores; callers beyond ``max_pending`` are
turned away at once (429) instead of queueing without bound.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import bcrypt

T = TypeVar("T")
MAX_PASSWORD_BYTES = 72  # bcrypt's limit; bcrypt 5 raises beyond it
_COST_RE = re.compile(r"^\$2[abxy]?\$(\d\d)\$")


class Busy(Exception):
    """Too many logins are already waiting for bcrypt."""


def hash_password(password: str, cost: int = 12) -> str:
    raw = password.encode()
    if not raw:
        raise ValueError("empty password")
    if len(raw) > MAX_PASSWORD_BYTES:
        raise ValueError(f"password longer than {MAX_PASSWORD_BYTES} bytes (bcrypt's limit)")
    return bcrypt.hashpw(raw, bcrypt.gensalt(rounds=cost)).decode()


def hash_cost(password_hash: str) -> int | None:
    m = _COST_RE.match(password_hash)
    return int(m.group(1)) if m else None


def check_password(password: str, password_hash: str | None, dummy_hash: str) -> bool:
    """Blocking: one bcrypt check; unknown users (``None``) are checked against the dummy."""
    raw = password.encode()
    too_long = len(raw) > MAX_PASSWORD_BYTES
    target = password_hash if password_hash is not None else dummy_hash
    try:
        ok = bcrypt.checkpw(raw[:MAX_PASSWORD_BYTES], target.encode())
    except ValueError:  # not a bcrypt hash in the configuration
        bcrypt.checkpw(raw[:MAX_PASSWORD_BYTES], dummy_hash.encode())
        return False
    return ok and password_hash is not None and not too_long


BCRYPT_NICE = 10


def _lower_priority() -> None:
    """Linux schedules threads separately: make the bcrypt thread yield to the event loop, so a
    login storm takes only CPU that serving requests leaves over."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BCRYPT_NICE)
    except OSError:
        pass


class PasswordChecker:
    """Runs blocking login work on one low-priority thread, bounded."""

    def __init__(self, max_pending: int) -> None:
        self._pool = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="abng-api-bcrypt", initializer=_lower_priority
        )
        self._max_pending = max_pending
        self._pending = 0

    async def run(self, fn: Callable[[], T]) -> T:
        if self._pending >= self._max_pending:
            raise Busy
        self._pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn)
        finally:
            self._pending -= 1

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

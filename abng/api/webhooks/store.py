"""Webhook registrations, kept across API restarts (D16) in ``<config-dir>/webhooks.json``.

Written atomically (temporary file, fsync, rename) with mode 0600 because it holds signing
secrets, under an ``flock`` so several worker processes can share it; re-read when the file
changed.  Blocking: call from a thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Webhook:
    id: str
    url: str
    events: list[str]
    secret: str | None = None
    created_at: int = 0

    def public(self) -> dict[str, Any]:
        """The documented shape (reference §3.2 #24-25) plus ``signed``; never the secret."""
        return {
            "id": self.id,
            "url": self.url,
            "events": list(self.events),
            "signed": self.secret is not None,
        }


class WebhookLimit(Exception):
    pass


class WebhookStore:
    def __init__(self, path: Path, max_webhooks: int = 100) -> None:
        self.path = path
        self._lock_path = path.with_name(f".{path.name}.lock")
        self._max = max_webhooks
        self._mutex = threading.Lock()
        self._hooks: dict[str, Webhook] = {}
        self._stamp: tuple[int, int] | None = None

    @contextmanager
    def _flock(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _reload(self) -> None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._hooks, self._stamp = {}, None
            return
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp == self._stamp:
            return
        raw = json.loads(self.path.read_text() or "[]")
        hooks = {}
        for item in raw if isinstance(raw, list) else []:
            hook = Webhook(
                id=str(item["id"]),
                url=str(item["url"]),
                events=[str(e) for e in item.get("events", [])],
                secret=item.get("secret"),
                created_at=int(item.get("created_at", 0)),
            )
            hooks[hook.id] = hook
        self._hooks, self._stamp = hooks, stamp

    def _save(self) -> None:
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        data = json.dumps([asdict(h) for h in self._hooks.values()], indent=2).encode()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        self._stamp = None
        self._reload()

    def all(self) -> list[Webhook]:
        with self._mutex:
            self._reload()
            return list(self._hooks.values())

    def add(self, url: str, events: list[str], secret: str | None, now: int) -> Webhook:
        with self._mutex, self._flock():
            self._reload()
            if len(self._hooks) >= self._max:
                raise WebhookLimit(f"at most {self._max} webhooks")
            ident = secrets.token_hex(4)
            while ident in self._hooks:
                ident = secrets.token_hex(4)
            hook = Webhook(ident, url, events, secret, now)
            self._hooks[ident] = hook
            self._save()
            return hook

    def delete(self, ident: str) -> bool:
        with self._mutex, self._flock():
            self._reload()
            if self._hooks.pop(ident, None) is None:
                return False
            self._save()
            return True

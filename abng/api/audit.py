"""Audit log: one JSON object per line for every login attempt, lockout and mutating call.

Fields: ``ts`` (ISO-8601 UTC), ``request_id``, ``event`` (``login``, ``lockout``, ``call``),
``user``, ``role``, ``client``, ``method``, ``path``, ``params`` (never a password, hash,
token or secret: see :func:`redact`), ``status`` (HTTP status) and ``result``.  Lines are
written by a background thread with ``O_APPEND`` (one ``write`` per line), so several worker
processes can share the file and the event loop never waits for the disk.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import re
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger("abng.api.audit")

_SENSITIVE = ("password", "secret", "hash", "token", "key", "passphrase")
REDACTED = "********"
_HASH_RE = re.compile(r"^\$2[abxy]?\$")


def is_sensitive(name: str) -> bool:
    low = name.lower()
    return any(word in low for word in _SENSITIVE)


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return redact(value)
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    if isinstance(value, str) and _HASH_RE.match(value):
        return REDACTED
    return value


def redact(params: dict[str, Any]) -> dict[str, Any]:
    """Drop values whose name looks secret, recursing into dicts and lists; a config ``value``
    is dropped whole when its ``path`` names a secret; bcrypt-looking strings always go."""
    secret_path = is_sensitive(str(params.get("path", "")))
    out: dict[str, Any] = {}
    for k, v in params.items():
        if is_sensitive(k) or (secret_path and k == "value"):
            out[k] = REDACTED
        else:
            out[k] = _scrub(v)
    return out


def utc_now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="abng-api-audit", daemon=True)
        self._thread.start()

    def record(self, event: str, **fields: Any) -> None:
        entry: dict[str, Any] = {"ts": utc_now_iso(), "event": event}
        entry.update({k: v for k, v in fields.items() if v is not None})
        if isinstance(entry.get("params"), dict):
            entry["params"] = redact(entry["params"])
        line = json.dumps(entry, separators=(",", ":"), default=str) + "\n"
        self._queue.put(line.encode())

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                os.write(self._fd, item)
            except OSError as exc:
                log.error("audit log write failed: %s", exc)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)
        os.close(self._fd)

"""Audit trail of admin actions: every mutating JSON-RPC call is one JSON line in
``<state-dir>/audit.log`` (docs/architecture.md, "Audit").

A line: ``{"timestamp", "method", "user"?, "peer": {"uid", "pid", "gid"}, "params", "result",
"error_code"?}``.  ``params`` are redacted: a ``config.set`` on a secret path (or a token that
looks secret) records ``"********"``, and any key that looks secret (``password``, ``secret``,
``token``...) is masked wherever it sits.  Which methods are audited is decided at
registration (``RpcServer.register(..., mutating=...)``); without an explicit answer the name
decides, conservatively: everything is audited except the read-only families below.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import re
import socket
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("abng.core.audit")

MASK = "********"
#: Method families that only read.  Anything else (``request.*``, ``config.set``... and any
#: name nobody thought of) is audited unless its registration says ``mutating=False``.
READ_ONLY_PREFIXES = ("show.", "subscribers.", "system.", "metrics.", "monitor.")
READ_ONLY_METHODS = frozenset(
    {"auth.users", "config.show", "config.compare", "config.history", "config.schema"}
)
_SECRETISH = re.compile(r"secret|password|passwd|community|token|private|hash|key", re.IGNORECASE)
Cred = tuple[int, int, int]  # pid, uid, gid (SO_PEERCRED)


def is_mutating(name: str) -> bool:
    """The default for a registration that does not say: audited unless known read-only."""
    return name not in READ_ONLY_METHODS and not name.startswith(READ_ONLY_PREFIXES)


def peer_credentials(sock: socket.socket | None) -> Cred | None:
    """``(pid, uid, gid)`` of the process at the other end of a Unix socket."""
    if sock is None or sock.family != socket.AF_UNIX:
        return None
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except OSError:
        return None
    pid, uid, gid = struct.unpack("3i", raw)
    return pid, uid, gid


def _mask_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _mask(v) if _SECRETISH.search(str(k)) else _mask_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_keys(v) for v in value]
    return value


def _mask(value: Any) -> Any:
    return value if value is None or value == "" else MASK


def _config_value(path: Any, value: Any) -> Any:
    """The value of a ``config.set`` as it may be written down."""
    try:
        from abng.config.edit import split_path
        from abng.config.introspect import is_secret_path
        from abng.config.redact import redact_section

        tokens = split_path(path)
        if any(_SECRETISH.search(t) for t in tokens) or is_secret_path(tokens):
            return _mask(value)
        return _mask_keys(redact_section(value, tokens))
    except Exception:  # an unparsable path: mask rather than guess
        return _mask(value)


def redact_params(method: str, params: Any) -> Any:
    """``params`` with every secret value replaced by ``"********"``."""
    if not isinstance(params, dict):
        return _mask_keys(params)
    out = _mask_keys(params)
    if method == "config.set" and "value" in params:
        out["value"] = _config_value(params.get("path"), params["value"])
    return out


class AuditLog:
    """Appends audit lines; the file is opened per line (``O_APPEND``, mode 0600), so a
    rotated or removed log is simply started again."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.clock = clock
        self.written = 0
        self.failed = 0

    def entry(self, method: str, params: Any, cred: Cred | None, error_code: int | None) -> dict[str, Any]:
        now = dt.datetime.fromtimestamp(self.clock(), dt.UTC)
        rec: dict[str, Any] = {"timestamp": now.isoformat(timespec="milliseconds").replace("+00:00", "Z")}
        rec["method"] = method
        user = params.get("user") if isinstance(params, dict) else None
        if isinstance(user, str):
            rec["user"] = user
        rec["peer"] = {"uid": cred[1], "pid": cred[0], "gid": cred[2]} if cred else None
        rec["params"] = redact_params(method, params)
        rec["result"] = "ok" if error_code is None else "error"
        if error_code is not None:
            rec["error_code"] = error_code
        return rec

    async def record(self, method: str, params: Any, cred: Cred | None, error_code: int | None) -> None:
        try:
            line = json.dumps(self.entry(method, params, cred, error_code), default=str) + "\n"
        except RecursionError:  # absurdly nested params: the call is still written down
            line = json.dumps(self.entry(method, {"unrepresentable": True}, cred, error_code)) + "\n"
        try:
            await asyncio.to_thread(self._append, line.encode())
            self.written += 1
        except OSError as exc:
            self.failed += 1
            log.error("audit log %s not written: %s", self.path, exc.strerror, extra={"method": method})

    def _append(self, data: bytes) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)

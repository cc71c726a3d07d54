"""Client side of the abngd JSON-RPC socket (docs/rpc.md), for abng-api, the CLI and tests.

``RpcClient`` is asyncio: one connection, several calls in flight matched by ``id``, reconnect on
the next call after abngd went away.  ``subscribe()`` opens its own connection for the event
stream.  ``SyncRpcClient`` is a tiny blocking client for the CLI.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
from collections.abc import AsyncGenerator
from pathlib import Path
from types import TracebackType
from typing import Any

from abng.core.errors import RpcError

__all__ = ["RpcClient", "RpcError", "SyncRpcClient"]

#: Responses can be large (a full session list); requests stay under the server's 1 MiB.
READ_LIMIT = 1 << 30


def _encode(method: str, params: dict[str, Any] | None, ident: int) -> bytes:
    req = {"jsonrpc": "2.0", "method": method, "params": params or {}, "id": ident}
    return json.dumps(req, separators=(",", ":")).encode() + b"\n"


def _unreachable(path: str, exc: OSError) -> ConnectionError:
    """Every "abngd is not there" case is a ConnectionError (missing socket file included)."""
    if isinstance(exc, ConnectionError):
        return exc
    return ConnectionError(f"cannot connect to abngd at {path}: {exc.strerror or exc}")


def _result(msg: Any) -> Any:
    if not isinstance(msg, dict):
        raise RpcError(-32603, "malformed response from abngd")
    if "error" in msg:
        raise RpcError.from_json(msg["error"])
    return msg.get("result")


class RpcClient:
    """Asyncio JSON-RPC client; safe to share between concurrent coroutines."""

    def __init__(self, socket_path: str | Path, *, timeout: float | None = 30.0) -> None:
        self.socket_path = str(socket_path)
        self.timeout = timeout
        self._ids = itertools.count(1)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._read_task: asyncio.Task[None] | None = None
        self._connect_lock = asyncio.Lock()

    async def __aenter__(self) -> RpcClient:
        await self.connect()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        return self._writer is not None and not self._writer.is_closing()

    async def connect(self) -> None:
        async with self._connect_lock:
            if self.connected:
                return
            try:
                self._reader, self._writer = await asyncio.open_unix_connection(
                    self.socket_path, limit=READ_LIMIT
                )
            except OSError as exc:
                raise _unreachable(self.socket_path, exc) from exc
            self._read_task = asyncio.get_running_loop().create_task(
                self._read_loop(self._reader), name="rpcclient:reader"
            )

    async def close(self) -> None:
        writer, task = self._writer, self._read_task
        self._writer = self._reader = None
        self._read_task = None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._fail_pending(ConnectionError("connection to abngd closed"))

    def _fail_pending(self, exc: BaseException) -> None:
        pending, self._pending = self._pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(exc)

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(msg, dict):
                    continue
                fut = self._pending.pop(msg.get("id"), None)  # type: ignore[arg-type]
                if fut is not None and not fut.done():
                    fut.set_result(msg)
        except (OSError, ValueError):
            pass
        finally:
            if self._reader is reader:
                self._writer = self._reader = None
            self._fail_pending(ConnectionError("abngd closed the connection"))

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """Call ``method``; return its result or raise :class:`RpcError` / ``ConnectionError``."""
        await self.connect()
        assert self._writer is not None
        ident = next(self._ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[ident] = fut
        try:
            self._writer.write(_encode(method, params, ident))
            await self._writer.drain()
            msg = await asyncio.wait_for(fut, self.timeout)
        finally:
            self._pending.pop(ident, None)
        return _result(msg)

    async def subscribe(self, events: list[str] | None = None) -> AsyncGenerator[dict[str, Any], None]:
        """Yield event ``params`` (``{event, timestamp, data}``) on a dedicated connection."""
        try:
            reader, writer = await asyncio.open_unix_connection(self.socket_path, limit=READ_LIMIT)
        except OSError as exc:
            raise _unreachable(self.socket_path, exc) from exc
        try:
            params: dict[str, Any] = {"events": events} if events else {}
            writer.write(_encode("monitor.subscribe", params, 1))
            await writer.drain()
            while True:
                line = await reader.readline()
                if not line:
                    raise ConnectionError("abngd closed the event stream")
                msg = json.loads(line)
                if msg.get("id") == 1:
                    _result(msg)
                    continue
                if msg.get("method") == "event" and isinstance(msg.get("params"), dict):
                    yield msg["params"]
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


class SyncRpcClient:
    """Blocking client for the CLI: one connection, one call at a time."""

    def __init__(self, socket_path: str | Path, *, timeout: float | None = 30.0) -> None:
        self.socket_path = str(socket_path)
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._buf = bytearray()
        self._ids = itertools.count(1)

    def __enter__(self) -> SyncRpcClient:
        self.connect()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def connect(self) -> None:
        if self._sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                sock.connect(self.socket_path)
            except OSError as exc:
                sock.close()
                raise _unreachable(self.socket_path, exc) from exc
            self._sock, self._buf = sock, bytearray()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        self.connect()
        assert self._sock is not None
        ident = next(self._ids)
        try:
            self._sock.sendall(_encode(method, params, ident))
            while True:
                msg = json.loads(self._readline())
                if isinstance(msg, dict) and msg.get("id") == ident:
                    return _result(msg)
        except (OSError, ValueError):
            self.close()
            raise

    def _readline(self) -> bytes:
        assert self._sock is not None
        start = 0
        while (nl := self._buf.find(b"\n", start)) < 0:
            start = len(self._buf)
            chunk = self._sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("abngd closed the connection")
            self._buf += chunk
        line = bytes(self._buf[:nl])
        del self._buf[: nl + 1]
        return line

"""The JSON-RPC 2.0 server on ``<run-dir>/abngd.sock`` (DECISIONS.md D1, docs/rpc.md).

One JSON object per line.  Each connection has a reader (requests run as named tasks, at most
``max_inflight`` at once) and a writer fed by a bounded queue: a client that does not read only
stalls its own requests, and a monitor subscriber whose queue is full is disconnected.  Garbage,
oversized lines, unknown methods and vanished clients never touch other connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from abng.config.rates import RateError
from abng.core import errors as E
from abng.core.audit import AuditLog, is_mutating, peer_credentials
from abng.core.errors import RpcError
from abng.core.events import Event, EventBus
from abng.core.sessions import InvalidSessionState, SessionFailed, SessionNotFound
from abng.core.tasks import TaskSet

log = logging.getLogger("abng.core.rpc")

Handler = Callable[[dict[str, Any], "Connection"], Awaitable[Any]]
MAX_LINE = 1 << 20
EOF = b""  # writer-queue marker: half-close after what is queued


def encode(msg: dict[str, Any]) -> bytes:
    return json.dumps(msg, separators=(",", ":"), default=str).encode() + b"\n"


class Encoded:
    """A handler result already encoded as JSON bytes (big lists rendered off the loop)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


def result_line(ident: Any, result: Any) -> bytes:
    if isinstance(result, Encoded):
        tail = json.dumps(ident).encode()
        return b'{"jsonrpc":"2.0","result":' + result.data + b',"id":' + tail + b"}\n"
    return encode({"jsonrpc": "2.0", "result": result, "id": ident})


def error_reply(ident: Any, err: RpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "error": err.to_json(), "id": ident}


class Connection:
    """One client.  Handlers receive it to subscribe to events or to know who is calling."""

    def __init__(self, server: RpcServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(server.queue_limit)
        self.inflight = asyncio.Semaphore(server.max_inflight)
        self.closed = False
        self.done = asyncio.Event()
        self.subscription: int | None = None
        self.pending: set[asyncio.Task[None]] = set()
        self.peer = f"conn{server.accepted}"
        #: (pid, uid, gid) of the client process (SO_PEERCRED), for the audit log
        self.cred = peer_credentials(writer.get_extra_info("socket"))

    async def send(self, msg: dict[str, Any] | bytes) -> None:
        if not self.closed:
            await self.queue.put(msg if isinstance(msg, bytes) else encode(msg))

    def push_event(self, event: Event) -> None:
        """Bus listener: queue a notification or drop a subscriber that cannot keep up."""
        if self.closed:
            return
        try:
            self.queue.put_nowait(encode({"jsonrpc": "2.0", "method": "event", "params": event}))
        except asyncio.QueueFull:
            log.warning("monitor subscriber %s too slow: disconnected", self.peer)
            self.server.stats["slow_dropped"] += 1
            self.close()

    def subscribe(self, bus: EventBus, events: frozenset[str] | None) -> None:
        if self.subscription is not None:
            bus.unsubscribe(self.subscription)
        self.subscription = bus.subscribe(self.push_event, events)

    def close(self) -> None:
        """Drop the connection now (slow subscriber, shutdown): queued lines are discarded."""
        if self.closed:
            return
        self.closed = True
        self.done.set()
        if self.subscription is not None and self.server.bus is not None:
            self.server.bus.unsubscribe(self.subscription)
        self.writer.transport.abort()
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(None)

    async def finish(self) -> None:
        """Graceful end: queued replies are written, then the socket is closed."""
        if not self.closed:
            await self.queue.put(None)

    async def write_loop(self) -> None:
        try:
            while (line := await self.queue.get()) is not None:
                if line == EOF:
                    self.writer.write_eof()
                    continue
                self.writer.write(line)
                await self.writer.drain()
            if not self.closed:
                self.writer.close()  # flushes what the transport still buffers
        except (ConnectionError, OSError):
            pass
        finally:
            self.close()


class RpcServer:
    def __init__(
        self,
        path: Path,
        tasks: TaskSet,
        *,
        bus: EventBus | None = None,
        max_line: int = MAX_LINE,
        queue_limit: int = 1024,
        max_inflight: int = 32,
        audit: AuditLog | None = None,
    ) -> None:
        self.path = path
        self.tasks = tasks
        self.bus = bus
        self.max_line = max_line
        self.queue_limit = queue_limit
        self.max_inflight = max_inflight
        self.methods: dict[str, Handler] = {}
        #: methods whose calls go to the audit log (see ``register``)
        self.mutating: set[str] = set()
        self.audit = audit
        self.connections: set[Connection] = set()
        self.accepted = 0
        self.stats: dict[str, int] = {"requests": 0, "errors": 0, "slow_dropped": 0}
        self._server: asyncio.Server | None = None

    # ---- registry -----------------------------------------------------------------------------
    def register(self, name: str, handler: Handler, *, mutating: bool | None = None) -> None:
        """Add a method; a later registration replaces an earlier one (e.g. a stub).

        ``mutating`` methods are audited (abng.core.audit).  Left out, the name decides and
        only the known read-only families (``show.``, ``subscribers.``...) escape the audit.
        """
        self.methods[name] = handler
        if is_mutating(name) if mutating is None else mutating:
            self.mutating.add(name)
        else:
            self.mutating.discard(name)

    def register_unavailable(self, name: str, subsystem: str, message: str | None = None) -> None:
        async def handler(params: dict[str, Any], conn: Connection) -> Any:
            raise E.unavailable(subsystem, message)

        self.register(name, handler)

    # ---- socket -------------------------------------------------------------------------------
    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            if _socket_alive(self.path):
                raise RuntimeError(f"another abngd is listening on {self.path}")
            self.path.unlink()
        self._server = await asyncio.start_unix_server(
            self._accept, path=str(self.path), limit=self.max_line + 1
        )
        os.chmod(self.path, 0o660)

    async def close(self) -> None:
        if self._server is None:
            return  # never listened: the socket file (if any) is not ours
        self._server.close()
        self._server = None
        for conn in list(self.connections):
            conn.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        conn = Connection(self, reader, writer)
        self.connections.add(conn)
        self.tasks.spawn(f"rpc-writer-{conn.peer}", conn.write_loop())
        try:
            await self._read_loop(conn)
            if conn.pending:  # the client half-closed: its replies still go out
                await asyncio.wait(conn.pending)
            if conn.subscription is not None:  # an event stream lasts until the peer goes away
                await conn.done.wait()
        finally:
            self.connections.discard(conn)
            if not conn.closed:
                await conn.finish()

    async def _read_loop(self, conn: Connection) -> None:
        while not conn.closed:
            try:
                line = await conn.reader.readline()
            except ValueError:  # longer than max_line
                self.stats["errors"] += 1
                await conn.send(error_reply(None, RpcError(E.INVALID_REQUEST, "request line too long")))
                await conn.queue.put(EOF)
                await self._discard(conn)
                return
            except (ConnectionError, OSError):
                return
            if not line:
                return
            if not line.strip():
                continue
            await conn.inflight.acquire()
            task = self.tasks.spawn(f"rpc-{conn.peer}", self._serve(conn, line))
            conn.pending.add(task)
            task.add_done_callback(conn.pending.discard)

    async def _discard(self, conn: Connection) -> None:
        """After refusing a line: let the reply reach the client (reset on unread data would
        lose it), swallow what it still sends, for at most a few seconds."""
        try:
            async with asyncio.timeout(5):
                while await conn.reader.read(1 << 16):
                    pass
        except (TimeoutError, OSError, ValueError):
            pass

    async def _serve(self, conn: Connection, line: bytes) -> None:
        try:
            reply = await self.dispatch(line, conn)
            if reply is not None:
                await conn.send(reply)
        finally:
            conn.inflight.release()

    async def dispatch(self, line: bytes, conn: Connection) -> dict[str, Any] | bytes | None:
        """One request line -> one reply (None for a notification)."""
        self.stats["requests"] += 1
        try:
            req = json.loads(line)
        except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: absurd nesting
            self.stats["errors"] += 1
            return error_reply(None, RpcError(E.PARSE_ERROR))
        if not isinstance(req, dict):
            self.stats["errors"] += 1
            msg = "batches are not supported" if isinstance(req, list) else "request must be an object"
            return error_reply(None, RpcError(E.INVALID_REQUEST, msg))
        ident = req.get("id")
        notification = "id" not in req
        bad_id = isinstance(ident, bool) or not isinstance(ident, str | int | float | None)
        bad_id = bad_id or (isinstance(ident, float) and not math.isfinite(ident))  # no "Infinity" back
        if req.get("jsonrpc") != "2.0" or not isinstance(req.get("method"), str) or bad_id:
            self.stats["errors"] += 1
            return error_reply(ident if isinstance(ident, str | int) else None, RpcError(E.INVALID_REQUEST))
        params = req.get("params", {})
        if params is None:
            params = {}
        method = req["method"]
        handler = self.methods.get(method)
        audit = self.audit if handler is not None and method in self.mutating else None
        try:
            if not isinstance(params, dict):
                raise RpcError(E.INVALID_PARAMS, "params must be an object")
            if handler is None:
                raise RpcError(E.METHOD_NOT_FOUND, f"method '{method}' not found")
            if log.isEnabledFor(logging.DEBUG):
                log.debug("rpc call", extra={"method": method, "peer": conn.peer})
            result = await handler(params, conn)
        except Exception as exc:
            self.stats["errors"] += 1
            err = to_rpc_error(exc)
            if err.code == E.INTERNAL_ERROR:
                log.error("method %s failed: %r", method, exc, exc_info=exc)
            if audit is not None:
                await audit.record(method, params, conn.cred, err.code)
            return None if notification else error_reply(ident, err)
        if audit is not None:
            await audit.record(method, params, conn.cred, None)
        return None if notification else result_line(ident, result)


def to_rpc_error(exc: Exception) -> RpcError:
    """Map what handlers raise to JSON-RPC errors; anything unexpected is -32603 (a bug)."""
    if isinstance(exc, RpcError):
        return exc
    if isinstance(exc, SessionNotFound):
        return E.not_found("session", exc.session_id)
    if isinstance(exc, InvalidSessionState):
        return RpcError(E.INVALID_STATE, str(exc))
    if isinstance(exc, SessionFailed):
        return RpcError(E.INTERNAL_ERROR, str(exc))
    if isinstance(exc, RateError):
        return RpcError(E.INVALID_PARAMS, str(exc))
    return RpcError(E.INTERNAL_ERROR, f"internal error ({type(exc).__name__})")


def _socket_alive(path: Path) -> bool:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(str(path))
    except OSError:
        return False
    finally:
        s.close()
    return True

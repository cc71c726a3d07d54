"""``monitor subscribers``: abngd's event stream (``monitor.subscribe``) as lines, until Ctrl-C.

A dedicated blocking connection: the subscription turns it into a stream of notifications
(docs/rpc.md), so it cannot share the command connection.
"""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Callable, Iterator
from typing import Any

from abng.cli.errors import CliError
from abng.core.errors import RpcError


def _lines(sock: socket.socket) -> Iterator[bytes]:
    buf = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            raise CliError("abngd closed the event stream")
        buf += chunk
        *lines, buf = buf.split(b"\n")
        yield from lines


def events(socket_path: str, fmt: Callable[[dict[str, Any]], str], notice: bool = True) -> Iterator[str]:
    """Yield one formatted line per event; return quietly on Ctrl-C (KeyboardInterrupt)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        try:
            sock.connect(socket_path)
        except OSError as exc:
            raise CliError(
                f"cannot connect to abngd at {socket_path}: {exc.strerror or exc}", status=3
            ) from None
        req = {"jsonrpc": "2.0", "method": "monitor.subscribe", "params": {}, "id": 1}
        sock.sendall(json.dumps(req).encode() + b"\n")
        for raw in _lines(sock):
            try:
                msg = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(msg, dict):
                continue
            if msg.get("id") == 1:
                if "error" in msg:
                    err = RpcError.from_json(msg["error"])
                    raise CliError(err.message)
                if notice:
                    print("monitoring subscriber events (Ctrl-C to stop)", file=sys.stderr, flush=True)
                continue
            if msg.get("method") == "event" and isinstance(msg.get("params"), dict):
                yield fmt(msg["params"])
    except KeyboardInterrupt:
        return
    finally:
        sock.close()

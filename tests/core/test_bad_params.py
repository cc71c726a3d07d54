"""Bad input never takes abngd down: every core method answers -32602 (or a defined error) to
wrong types, huge and negative numbers, bools for ints; absurd JSON nesting is a parse error."""

from __future__ import annotations

import json
import random
import socket
from pathlib import Path
from typing import Any

from tests.helpers.daemon import running_abngd, sample_session

METHODS = (
    "show.subscribers", "subscribers.list", "subscribers.get", "subscribers.history",
    "request.subscriber.disconnect", "request.subscriber.disconnect_interface", "request.subscriber.rate",
    "monitor.subscribe", "config.show", "config.set", "config.delete", "config.commit", "config.rollback",
    "show.configuration",
)  # fmt: skip
KEYS = ("session_id", "limit", "offset", "type", "interface", "rate_down", "rate_up", "source", "events",
        "section", "path", "value", "check", "n", "comment", "user")  # fmt: skip
VALUES: tuple[Any, ...] = (True, -1, 2**70, -(2**70), 1.5, "x", "", [], {}, [1], {"a": 1}, "9" * 500)


def _exchange(path: Path, line: bytes) -> dict[str, Any]:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(20)
        s.connect(str(path))
        s.sendall(line + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(1 << 16)
            assert chunk, "abngd closed the connection without a reply"
            buf += chunk
    reply: dict[str, Any] = json.loads(buf)
    return reply


def test_wrong_params_are_never_internal_errors(tmp_path: Path) -> None:
    rng = random.Random(20261204)
    with running_abngd(tmp_path, sessions=[sample_session(1), sample_session(2)]) as d:
        for method in METHODS:
            for _ in range(25):
                params = {k: rng.choice(VALUES) for k in rng.sample(KEYS, rng.randint(1, 4))}
                if method == "request.subscriber.rate" and rng.random() < 0.5:
                    params["session_id"] = 1
                req = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
                reply = _exchange(d.socket_path, json.dumps(req).encode())
                if "error" in reply:
                    assert reply["error"]["code"] != -32603, (method, params, reply)
        for big in (2**70, 2**63):  # limit/offset beyond what islice takes
            for key in ("limit", "offset"):
                req = {"jsonrpc": "2.0", "id": 2, "method": "subscribers.list", "params": {key: big}}
                assert _exchange(d.socket_path, json.dumps(req).encode())["error"]["code"] == -32602
        req = {"jsonrpc": "2.0", "id": 3, "method": "request.subscriber.rate",
               "params": {"session_id": 1, "rate_down": "9" * 400}}  # fmt: skip
        assert _exchange(d.socket_path, json.dumps(req).encode())["error"]["code"] == -32602
        assert _exchange(d.socket_path, b"[" * 100_000)["error"]["code"] == -32700
        nested = b'{"jsonrpc":"2.0","id":4,"method":"config.set","params":{"value":' + b"[" * 5000
        assert _exchange(d.socket_path, nested + b"]" * 5000 + b"}}")["error"]["code"] == -32700
        reply = _exchange(d.socket_path, b'{"jsonrpc":"2.0","id":1e400,"method":"show.system"}')
        assert reply["error"]["code"] == -32600 and reply["id"] is None
        assert d.call("system.health")["status"] == "ok"
        assert "crashed" not in d.log()


def test_history_limit_zero_and_section_by_index(tmp_path: Path) -> None:
    with running_abngd(tmp_path, sessions=[sample_session(1), sample_session(2)]) as d, d.client() as c:
        c.call("request.subscriber.disconnect", {"session_id": 1})
        c.call("request.subscriber.disconnect", {"session_id": 2})
        assert c.call("subscribers.history", {"limit": 0}) == []  # was the whole history
        assert [h["id"] for h in c.call("subscribers.history", {"limit": 1})] == [2]
        assert [h["id"] for h in c.call("subscribers.history")] == [2, 1]
        c.call(
            "config.set", {"path": "radius servers", "value": [{"host": "192.0.2.7", "secret": "x-secret"}]}
        )
        server = c.call("config.show", {"source": "candidate", "section": "radius servers 0"})
        assert server == {"host": "192.0.2.7", "secret": "********"}
        assert (
            c.call("config.show", {"source": "candidate", "section": "radius.servers.0.secret"}) == "********"
        )

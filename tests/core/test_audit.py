"""Every mutating JSON-RPC call is audited in <state-dir>/audit.log, secrets redacted."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from abng.core.audit import MASK, is_mutating, redact_params
from abng.core.daemon import Daemon
from abng.core.rpcclient import RpcError
from tests.helpers.daemon import running_abngd, sample_session


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_default_is_audited_except_read_only_families() -> None:
    for name in ("request.subscriber.disconnect", "config.set", "config.commit", "frobnicate", "bgp.clear"):
        assert is_mutating(name), name
    for name in (
        "show.system",
        "subscribers.list",
        "config.show",
        "config.schema",
        "auth.users",
        "monitor.subscribe",
    ):
        assert not is_mutating(name), name


def test_redaction_of_secret_paths_and_keys() -> None:
    out = redact_params("config.set", {"path": "radius servers 0 secret", "value": "s3cr3t-shared"})
    assert out == {"path": "radius servers 0 secret", "value": MASK}
    out = redact_params(
        "config.set", {"path": ["aaa", "subscribers"], "value": [{"username": "u", "password": "pw1"}]}
    )
    assert out["value"] == [{"username": "u", "password": MASK}]
    out = redact_params("config.set", {"path": "system hostname", "value": "bng1"})
    assert out["value"] == "bng1"
    assert redact_params("request.radius.test", {"username": "u", "password": "pw"})["password"] == MASK


def test_mutating_calls_are_audited_with_peer_and_redaction(tmp_path: Path) -> None:
    with running_abngd(tmp_path, sessions=[sample_session(1), sample_session(2)]) as d:
        audit = d.state_dir / "audit.log"
        with d.client() as c:
            c.call("show.system")
            c.call("subscribers.list")
            c.call("config.show")
            assert _lines(audit) == []  # reads are not audited
            c.call("config.set", {"path": "radius servers", "value": [
                {"host": "127.0.0.1", "secret": "topsecret-value"}]})  # fmt: skip
            c.call("config.set", {"path": "radius servers 0 secret", "value": "other-secret-value"})
            c.call("config.discard")
            c.call("config.commit", {"user": "alice", "comment": "nothing"})
            c.call("request.subscriber.rate", {"session_id": 1, "rate_down": "10mbit"})
            c.call("request.subscriber.disconnect", {"session_id": 2, "user": "bob"})
            with pytest.raises(RpcError) as err:
                c.call("request.subscriber.disconnect", {"session_id": 99})
            assert err.value.code == -32001
            with pytest.raises(RpcError):
                c.call("config.rollback", {"n": "x"})
        text = audit.read_text()
        assert "topsecret-value" not in text and "other-secret-value" not in text
        lines = _lines(audit)
        assert [x["method"] for x in lines] == [
            "config.set", "config.set", "config.discard", "config.commit", "request.subscriber.rate",
            "request.subscriber.disconnect", "request.subscriber.disconnect", "config.rollback",
        ]  # fmt: skip
        assert lines[0]["params"]["value"] == [{"host": "127.0.0.1", "secret": MASK}]
        assert lines[1]["params"]["value"] == MASK
        assert lines[3]["user"] == "alice" and lines[3]["result"] == "ok"
        assert lines[5]["user"] == "bob" and lines[5]["params"] == {"session_id": 2, "user": "bob"}
        assert lines[6]["result"] == "error" and lines[6]["error_code"] == -32001
        assert lines[7]["error_code"] == -32602
        for x in lines:
            assert x["peer"]["uid"] == os.getuid() and x["peer"]["pid"] == os.getpid()
            assert x["timestamp"].endswith("Z")
        assert oct(audit.stat().st_mode & 0o777) == "0o600"


async def test_explicit_registration_overrides_the_name(daemon: Daemon) -> None:
    async def handler(params: dict[str, Any], conn: Any) -> Any:
        return {"ok": True}

    daemon.rpc.register("show.something_that_writes", handler, mutating=True)
    daemon.rpc.register("request.read_only_probe", handler, mutating=False)
    daemon.rpc.register("brand.new.method", handler)
    assert {"show.something_that_writes", "brand.new.method"} <= daemon.rpc.mutating
    assert "request.read_only_probe" not in daemon.rpc.mutating


async def test_absurdly_nested_params_are_still_audited(tmp_path: Path) -> None:
    from abng.core.audit import AuditLog

    deep: Any = []
    for _ in range(100_000):
        deep = [deep]
    audit = AuditLog(tmp_path / "audit.log")
    await audit.record("config.set", {"path": "system hostname", "value": deep}, (1, 2, 3), -32602)
    (line,) = _lines(tmp_path / "audit.log")
    assert line["params"] == {"unrepresentable": True} and line["peer"] == {"uid": 2, "pid": 1, "gid": 3}

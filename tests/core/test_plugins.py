"""A subsystem plugs into abngd through setup(daemon): hooks, disconnector, RPC, config applier."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from abng.core.daemon import Daemon, Paths
from abng.core.model import Session, SessionType, TerminateReason
from abng.core.rpc import Connection
from abng.core.rpcclient import RpcClient, RpcError
from tests.helpers.daemon import sample_session, seed_sessions


class FakeAccess:
    """Stands for an access layer (PPPoE): it is test code, not a mock of ours."""

    name = "access"

    def __init__(self) -> None:
        self.claimed: list[int] = []
        self.padt: list[tuple[int, str]] = []
        self.applied: list[tuple[Any, Any, list[str]]] = []
        self.up: list[int] = []

    async def session_up(self, session: Session) -> None:
        self.up.append(session.id)

    async def session_down(self, session: Session) -> None:
        return None

    async def rate_changed(self, session: Session, source: str) -> None:
        return None

    async def disconnect(self, session: Session, reason: TerminateReason) -> None:
        self.padt.append((session.id, str(reason)))

    async def apply_config(self, old: Any, new: Any, changes: list[str]) -> None:
        self.applied.append((old.system.hostname, new.system.hostname, changes))

    def info(self) -> dict[str, Any]:
        return {"backend": "userspace", "features": ["htb"]}


async def test_subsystem_setup_and_restart_claim(tmp_path: Path) -> None:
    seed_sessions(tmp_path / "var", [sample_session(1), sample_session(2, SessionType.DHCP)])
    access = FakeAccess()

    async def show_vlans(params: dict[str, Any], conn: Connection) -> Any:
        return [{"name": "trunk0.100.1"}]

    async def setup(d: Daemon) -> None:
        d.sessions.register_hook(access)
        d.sessions.register_disconnector(SessionType.PPPOE, access)
        d.register_config_applier(access)
        d.set_dataplane(access)
        d.rpc.register("show.vlans", show_vlans)  # replaces the -32003 stub
        access.claimed = [s.id for s in d.sessions.claim(SessionType.PPPOE)]

    d = Daemon(Paths(tmp_path / "etc", tmp_path / "run", tmp_path / "var"), subsystems=[setup])
    await d.start()
    try:
        assert access.claimed == [1]
        async with RpcClient(d.paths.socket) as c:
            assert await c.call("show.vlans") == [{"name": "trunk0.100.1"}]
            assert (await c.call("show.system"))["dataplane"]["backend"] == "userspace"
            await c.call("config.set", {"path": "system hostname", "value": "bng-plug"})
            reader, writer = await asyncio.open_unix_connection(str(d.paths.socket))
            writer.write(
                b'{"jsonrpc":"2.0","method":"monitor.subscribe","params":{"events":["config_commit"]},"id":1}\n'
            )
            assert json.loads(await reader.readline())["result"]["subscribed"] is True
            res = await c.call("config.commit")
            event = json.loads(await asyncio.wait_for(reader.readline(), 10))["params"]
            assert event["event"] == "config_commit"
            assert event["data"] == {"generation": 1, "changes": ["system.hostname"]}
            writer.close()
            assert access.applied == [("abng-lab", "bng-plug", ["system.hostname"])]
            await c.call("request.subscriber.disconnect", {"session_id": 1})
            assert access.padt == [(1, "admin_reset")]
            with pytest.raises(RpcError):
                await c.call("request.subscriber.rate", {"session_id": 1, "rate_down": "1mbit"})
            assert res["generation"] == 1
    finally:
        await d.stop()

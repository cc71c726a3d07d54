"""CoA / Disconnect server against radclient (freeradius-utils) as the real client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from abng.aaa.coa import SessionQuery
from abng.aaa.coa_server import CoaRefused, CoaServer
from abng.aaa.config import RadiusConfig, RadiusServerConfig
from abng.core.model import Session, SessionState, SessionType
from tests.helpers.freeradius import radclient, radclient_dictdir


def _session(i: int, user: str, ip: str, state: SessionState = SessionState.ACTIVE) -> Session:
    return Session(
        id=i,
        type=SessionType.PPPOE,
        username=user,
        mac_address=f"02:00:00:00:00:{i:02x}",
        access_interface=f"eth1.100.{i}",
        started_at=1764864000,
        state=state,
        ip_address=ip,
    )


@dataclass
class Table:
    sessions: list[Session]
    rate_calls: list[tuple[int, int | None, int | None, str | None]] = field(default_factory=list)
    disconnects: list[int] = field(default_factory=list)
    refuse: bool = False

    def lookup(self, q: SessionQuery) -> list[Session]:
        return [
            s
            for s in self.sessions
            if (q.acct_session_id is None or s.acct_session_id == q.acct_session_id)
            and (q.user_name is None or s.username == q.user_name)
            and (q.framed_ip is None or s.ip_address == q.framed_ip)
            and (q.nas_port_id is None or s.access_interface == q.nas_port_id)
        ]

    async def change_rate(self, s: Session, down: int | None, up: int | None, profile: str | None) -> None:
        if self.refuse:
            raise CoaRefused
        self.rate_calls.append((s.id, down, up, profile))

    async def disconnect(self, s: Session) -> None:
        self.disconnects.append(s.id)


@dataclass
class Env:
    table: Table
    server: CoaServer
    port: int
    dictdir: Path

    async def send(self, command: str, attrs: str, secret: str = "testing123") -> tuple[int, str]:
        return await radclient(self.dictdir, self.port, command, attrs, secret=secret)


def _config(coa_clients: tuple[str, ...] = ()) -> RadiusConfig:
    return RadiusConfig(
        servers=(RadiusServerConfig("127.0.0.1", "testing123"),),
        coa_enabled=True,
        coa_port=0,
        coa_bind="127.0.0.1",
        coa_clients=coa_clients,
    )


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    table = Table(
        [
            _session(1, "alice", "100.64.0.1"),
            _session(2, "bob", "100.64.0.2"),
            _session(3, "bob", "100.64.0.3"),
            _session(4, "carol", "100.64.0.4", SessionState.STARTING),
        ]
    )
    server = CoaServer(_config(), table.lookup, table.change_rate, table.disconnect)
    _, port = await server.start()
    try:
        yield Env(table, server, port, radclient_dictdir(tmp_path))
    finally:
        await server.close()


async def test_coa_rate_change_ack(env: Env) -> None:
    rc, out = await env.send(
        "coa",
        'Acct-Session-Id = "abng-1764864000-1", Athena-Rate-Down = "25mbit", Athena-Rate-Up = "10000000"',
    )
    assert rc == 0 and "CoA-ACK" in out, out
    assert env.table.rate_calls == [(1, 25_000_000, 10_000_000, None)]


async def test_coa_with_message_authenticator_and_profile(env: Env) -> None:
    rc, out = await env.send(
        "coa",
        'Framed-IP-Address = 100.64.0.1, Athena-Overhead-Profile = "ethernet", Message-Authenticator = 0x00',
    )
    assert rc == 0 and "CoA-ACK" in out, out
    assert env.table.rate_calls == [(1, None, None, "ethernet")]


async def test_disconnect_ack_by_user_name(env: Env) -> None:
    rc, out = await env.send("disconnect", 'User-Name = "alice", NAS-Identifier = "abng"')
    assert rc == 0 and "Disconnect-ACK" in out, out
    assert env.table.disconnects == [1]


async def test_disconnect_by_nas_port_id(env: Env) -> None:
    _rc, out = await env.send("disconnect", 'NAS-Port-Id = "eth1.100.2"')
    assert "Disconnect-ACK" in out, out
    assert env.table.disconnects == [2]


@pytest.mark.parametrize(
    ("command", "attrs", "cause"),
    [
        ("disconnect", 'Acct-Session-Id = "abng-1-99"', "Session-Context-Not-Found"),
        ("coa", 'Acct-Session-Id = "abng-1-99", Athena-Rate-Down = "1mbit"', "Session-Context-Not-Found"),
        ("disconnect", 'User-Name = "alice", Framed-IP-Address = 100.64.0.2', "Session-Context-Not-Found"),
        ("disconnect", 'NAS-Identifier = "x"', "Missing-Attribute"),
        ("disconnect", 'NAS-Identifier = "other-bng", User-Name = "alice"', "NAS-Identification-Mismatch"),
        ("coa", 'User-Name = "alice", Filter-Id = "gold"', "Unsupported-Attribute"),
        ("coa", 'User-Name = "alice", Athena-Rate-Down = "fast"', "Invalid-Request"),
        ("coa", 'User-Name = "alice"', "Invalid-Request"),
        ("disconnect", 'User-Name = "bob"', "Multiple-Session-Selection-Unsupported"),
        ("disconnect", 'User-Name = "carol"', "Resources-Unavailable"),
        ("coa", 'User-Name = "alice", Service-Type = Authorize-Only', "Unsupported-Service"),
    ],
)
async def test_naks(env: Env, command: str, attrs: str, cause: str) -> None:
    _rc, out = await env.send(command, attrs)
    nak = "CoA-NAK" if command == "coa" else "Disconnect-NAK"
    assert nak in out and f"Error-Cause = {cause}" in out, out
    assert env.table.rate_calls == [] and env.table.disconnects == []


async def test_callback_refusal_naks_506(env: Env) -> None:
    env.table.refuse = True
    _rc, out = await env.send("coa", 'User-Name = "alice", Athena-Rate-Down = "5mbit"')
    assert "CoA-NAK" in out and "Resources-Unavailable" in out, out


async def test_wrong_secret_is_dropped(env: Env) -> None:
    rc, out = await env.send("disconnect", 'User-Name = "alice"', secret="wrong")
    assert rc != 0 and "Disconnect-ACK" not in out
    assert env.server.stats["drop_bad_authenticator"] == 1
    assert env.table.disconnects == []


async def test_unknown_source_is_dropped(tmp_path: Path) -> None:
    table = Table([_session(1, "alice", "100.64.0.1")])
    server = CoaServer(_config(coa_clients=("127.0.0.2",)), table.lookup, table.change_rate, table.disconnect)
    _, port = await server.start()
    try:
        rc, out = await radclient(radclient_dictdir(tmp_path), port, "disconnect", 'User-Name = "alice"')
        assert rc != 0 and "Disconnect-ACK" not in out
        assert server.stats["drop_unknown_client"] == 1 and table.disconnects == []
    finally:
        await server.close()

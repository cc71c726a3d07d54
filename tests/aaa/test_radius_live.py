"""Our client, authenticator and accounting against a real FreeRADIUS."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from abng.aaa.accounting import Accounting, session_radius_attributes
from abng.aaa.aio_client import RadiusClient, RadiusTimeout
from abng.aaa.config import RadiusConfig, RadiusServerConfig
from abng.aaa.crypto import chap_response
from abng.aaa.radius_auth import RadiusAuthenticator
from abng.aaa.spool import AcctSpool
from abng.aaa.types import AuthRequest
from abng.core.model import Session, SessionState, SessionType, TerminateReason
from tests.helpers.freeradius import free_udp_port, freeradius_server

USERS = """\
alice Cleartext-Password := "secret1"
    Framed-IP-Address = 100.64.0.5,
    Session-Timeout = 3600,
    Idle-Timeout = 600,
    Acct-Interim-Interval = 120,
    Athena-Rate-Down = "25mbit",
    Athena-Rate-Up = "5000000",
    Athena-Overhead-Profile = "pppoe_ethernet",
    Athena-Session-Timeout = 7200,
    Athena-CGNAT-Bypass = 1,
    Athena-VRF = "guest",
    Class = 0x616263

dave Cleartext-Password := "pw"
    Attr-26.9999.1 = 0x0102,
    Attr-26.12345.99 = 0x03,
    Athena-Rate-Down = "not-a-rate"

02:00:00:00:00:09 Cleartext-Password := "02:00:00:00:00:09"
    Framed-IP-Address = 100.64.0.9
"""


def _config(*ports: tuple[int, int], timeout: float = 0.3, retries: int = 1) -> RadiusConfig:
    servers = tuple(RadiusServerConfig("127.0.0.1", "testing123", a, b) for a, b in ports)
    return RadiusConfig(servers=servers, nas_identifier="bng-test", timeout=timeout, retries=retries)


def _req(**kw: object) -> AuthRequest:
    base: dict[str, object] = {
        "username": "alice",
        "mac": "02:00:00:00:00:01",
        "nas_port_id": "eth1.100.7",
        "service": "pppoe",
    }
    base.update(kw)
    return AuthRequest(**base)  # type: ignore[arg-type]


def _session(i: int, **kw: object) -> Session:
    s = Session(
        id=i,
        type=SessionType.PPPOE,
        username="alice",
        mac_address="02:00:00:00:00:01",
        access_interface="eth1.100.7",
        started_at=1764864000,
        state=SessionState.ACTIVE,
        ip_address="100.64.0.5",
    )
    for k, v in kw.items():
        setattr(s, k, v)
    return s


async def test_pap_chap_mac_accept_and_reject(tmp_path: Path) -> None:
    with freeradius_server(tmp_path, USERS) as srv:
        client = RadiusClient(_config((srv.auth_port, srv.acct_port), timeout=2.0))
        auth = RadiusAuthenticator(client)
        try:
            res = await auth.authenticate(_req(password="secret1"))
            assert res.accepted and res.framed_ip == "100.64.0.5"
            assert (res.rate_down_bps, res.rate_up_bps) == (25_000_000, 5_000_000)
            assert res.session_timeout == 7200  # Athena-Session-Timeout overrides Session-Timeout
            assert res.idle_timeout == 600 and res.interim_interval == 120
            assert res.cgnat_bypass and res.vrf == "guest" and res.overhead_profile == "pppoe_ethernet"
            assert res.class_attr == (b"abc",)
            challenge = bytes(range(16))
            chap = _req(
                chap_id=7, chap_challenge=challenge, chap_response=chap_response(7, b"secret1", challenge)
            )
            assert (await auth.authenticate(chap)).accepted
            bad_chap = _req(
                chap_id=7, chap_challenge=challenge, chap_response=chap_response(7, b"x", challenge)
            )
            assert not (await auth.authenticate(bad_chap)).accepted
            assert not (await auth.authenticate(_req(password="wrong"))).accepted
            dhcp = await auth.authenticate(_req(username="", mac="02:00:00:00:00:09", service="dhcp"))
            assert dhcp.accepted and dhcp.framed_ip == "100.64.0.9"
            odd = await auth.authenticate(_req(username="dave", password="pw"))
            assert odd.accepted and odd.rate_down_bps is None  # a bad rate is ignored, not fatal
            assert odd.attrs["Vendor-9999-Attr-1"] == [b"\x01\x02"]
            assert odd.attrs["Vendor-12345-Attr-99"] == [b"\x03"]
            assert client.machine.in_flight == 0 and client.socket_count == 1
        finally:
            await client.close()


async def test_failover_from_dead_port(tmp_path: Path) -> None:
    with freeradius_server(tmp_path, USERS) as srv:
        client = RadiusClient(_config((free_udp_port(), free_udp_port()), (srv.auth_port, srv.acct_port)))
        try:
            assert (await RadiusAuthenticator(client).authenticate(_req(password="secret1"))).accepted
            assert client.machine.stats["failovers"] == 1
            assert not client.machine.server_alive(0, asyncio.get_running_loop().time())
            # the dead server is skipped now: no second failover
            assert (await RadiusAuthenticator(client).authenticate(_req(password="secret1"))).accepted
            assert client.machine.stats["failovers"] == 1
        finally:
            await client.close()


async def test_reply_without_message_authenticator_is_dropped(tmp_path: Path) -> None:
    with freeradius_server(tmp_path, USERS, message_authenticator=False) as srv:
        client = RadiusClient(_config((srv.auth_port, srv.acct_port)))
        try:
            with pytest.raises(RadiusTimeout):
                await RadiusAuthenticator(client).authenticate(_req(password="secret1"))
            assert client.machine.stats["drop_bad_authenticator"] >= 1
        finally:
            await client.close()


async def test_bad_secret_replies_dropped(tmp_path: Path) -> None:
    with freeradius_server(tmp_path, USERS, extra_clients=[("127.0.0.2", "othersecret")]) as srv:
        cfg = RadiusConfig(
            servers=(RadiusServerConfig("127.0.0.1", "not-the-secret", srv.auth_port, srv.acct_port),),
            timeout=0.3,
            retries=0,
        )
        client = RadiusClient(cfg)
        try:
            with pytest.raises(RadiusTimeout):
                await client.accounting_request([("User-Name", "x"), ("Acct-Status-Type", "Start")])
        finally:
            await client.close()


async def test_accounting_start_interim_stop_gigawords(tmp_path: Path) -> None:
    with freeradius_server(tmp_path, USERS) as srv:
        client = RadiusClient(_config((srv.auth_port, srv.acct_port), timeout=2.0))
        spool = AcctSpool(tmp_path / "state" / "spool.db")
        acct = Accounting(client, spool)
        s = _session(1, bytes_in=5 * 2**32 + 7, bytes_out=2**32, packets_in=10, packets_out=20)
        s.radius_attributes = session_radius_attributes(
            await RadiusAuthenticator(client).authenticate(_req(password="secret1"))
        )
        try:
            assert await acct.start(s)
            assert await acct.interim(s)
            assert await acct.stop(s, TerminateReason.ADMIN_RESET)
            assert spool.count() == 0
        finally:
            await acct.close()
            await client.close()
            spool.close()
        recs = srv.detail_records()
        assert [r["Acct-Status-Type"] for r in recs] == ["Start", "Interim-Update", "Stop"]
        stop = recs[2]
        assert stop["Acct-Session-Id"] == "abng-1764864000-1"
        assert (stop["Acct-Input-Gigawords"], stop["Acct-Input-Octets"]) == ("5", "7")
        assert (stop["Acct-Output-Gigawords"], stop["Acct-Output-Octets"]) == ("1", "0")
        assert stop["Acct-Terminate-Cause"] == "Admin-Reset"
        assert stop["Class"] == "0x616263" and stop["NAS-Port-Id"] == "eth1.100.7"
        assert stop["Framed-IP-Address"] == "100.64.0.5"


async def test_stops_spooled_when_all_down_then_delivered_once(tmp_path: Path) -> None:
    ports = [(free_udp_port(), free_udp_port()) for _ in range(2)]
    client = RadiusClient(_config(*ports, timeout=0.2, retries=1))
    spool = AcctSpool(tmp_path / "state" / "spool.db")
    acct = Accounting(client, spool)
    n = 20
    try:
        results = await asyncio.gather(
            *(acct.stop(_session(i), TerminateReason.USER_REQUEST) for i in range(1, n + 1))
        )
        assert not any(results) and spool.count() == n
        # restart: a new spool object on the same file still holds them
        spool.close()
        spool = AcctSpool(tmp_path / "state" / "spool.db")
        acct.spool = spool
        assert spool.count() == n
        with freeradius_server(tmp_path, USERS, auth_port=ports[1][0], acct_port=ports[1][1]) as srv:
            # concurrent flushes must not duplicate anything
            delivered = await asyncio.gather(acct.flush_spool(), acct.flush_spool())
            assert sum(delivered) == n
            assert spool.count() == 0
            assert await acct.flush_spool() == 0
            recs = srv.detail_records()
        ids = sorted(r["Acct-Session-Id"] for r in recs)
        assert ids == sorted(f"abng-1764864000-{i}" for i in range(1, n + 1))
        assert all(r["Acct-Status-Type"] == "Stop" and int(r["Acct-Delay-Time"]) >= 0 for r in recs)
    finally:
        await acct.close()
        await client.close()
        spool.close()


async def test_many_concurrent_requests_use_more_sockets_and_leak_nothing(tmp_path: Path) -> None:
    with freeradius_server(tmp_path, USERS) as srv:
        cfg = RadiusConfig(
            servers=(RadiusServerConfig("127.0.0.1", "testing123", srv.auth_port, srv.acct_port),),
            timeout=2.0,
            retries=5,  # FreeRADIUS -X is slow: the kernel drops part of a 600-datagram burst
            max_sockets=2,
        )
        client = RadiusClient(cfg)
        try:
            attrs = [("User-Name", "nobody"), ("Acct-Status-Type", "Start")]
            replies = await asyncio.gather(*(client.accounting_request(attrs) for _ in range(600)))
            assert len(replies) == 600 and client.machine.stats["queued"] == 600 - 512
            assert client.socket_count == 2 and client.machine.in_flight == 0
            # a cancelled caller releases its id
            task = asyncio.ensure_future(client.accounting_request(attrs))
            await asyncio.sleep(0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert client.machine.in_flight == 0
        finally:
            await client.close()


async def test_interims_are_scheduled_and_spool_resender_runs(tmp_path: Path) -> None:
    acct_port = free_udp_port()
    auth_port = free_udp_port()
    cfg = RadiusConfig(
        servers=(RadiusServerConfig("127.0.0.1", "testing123", auth_port, acct_port),),
        timeout=0.2,
        retries=0,
        spool_retry_interval=0.2,
    )
    client = RadiusClient(cfg)
    spool = AcctSpool(tmp_path / "spool.db")
    refreshed: list[int] = []

    async def refresh(s: Session) -> None:
        s.bytes_in += 1000
        refreshed.append(s.id)

    acct = Accounting(client, spool, refresh_counters=refresh)
    try:
        assert not await acct.stop(_session(7), TerminateReason.LOST_CARRIER)
        with freeradius_server(tmp_path, USERS, auth_port=auth_port, acct_port=acct_port) as srv:
            acct.start_background()
            s = _session(8, interim_interval=1)
            assert await acct.start(s)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10
            while loop.time() < deadline:
                kinds = [r["Acct-Status-Type"] for r in srv.detail_records()]
                if kinds.count("Interim-Update") >= 2 and "Stop" in kinds:
                    break
                await asyncio.sleep(0.1)
            await acct.stop(s, TerminateReason.USER_REQUEST)
            recs = srv.detail_records()
        pairs = [(r["Acct-Session-Id"], r["Acct-Status-Type"]) for r in recs]
        assert pairs.count(("abng-1764864000-7", "Stop")) == 1
        assert pairs.count(("abng-1764864000-8", "Interim-Update")) >= 2
        assert pairs[-1] == ("abng-1764864000-8", "Stop")
        assert 7 in refreshed and refreshed.count(8) >= 3
        assert spool.count() == 0
    finally:
        await acct.close()
        await client.close()
        spool.close()


async def test_stop_on_closed_client_stays_spooled_and_resume_schedules(tmp_path: Path) -> None:
    client = RadiusClient(_config((free_udp_port(), free_udp_port())))
    await client.close()
    spool = AcctSpool(tmp_path / "spool.db")
    acct = Accounting(client, spool)
    try:
        assert not await acct.stop(_session(3), TerminateReason.NAS_REBOOT)
        assert spool.count() == 1
        (rec,) = spool.pending()
        assert ("Acct-Terminate-Cause", 11) in rec.attrs
        s = _session(4, interim_interval=60)
        acct.resume(s)
        assert 4 in acct._timers
        await acct.stop(s)
        assert 4 not in acct._timers and spool.count() == 2
    finally:
        await acct.close()
        spool.close()


@pytest.mark.parametrize("server_signs", [True, False])
async def test_strict_accounting_message_authenticator(tmp_path: Path, server_signs: bool) -> None:
    with freeradius_server(tmp_path, USERS, acct_message_authenticator=server_signs) as srv:
        cfg = RadiusConfig(
            servers=(RadiusServerConfig("127.0.0.1", "testing123", srv.auth_port, srv.acct_port),),
            timeout=0.5,
            retries=0,
            acct_require_message_authenticator=True,
        )
        client = RadiusClient(cfg)
        attrs = [("User-Name", "alice"), ("Acct-Status-Type", "Start"), ("Acct-Session-Id", "x")]
        try:
            if server_signs:  # FreeRADIUS signs it with a zeroed authenticator field: accepted
                reply = await client.accounting_request(attrs)
                assert reply.packet.has("Message-Authenticator")
            else:
                with pytest.raises(RadiusTimeout):
                    await client.accounting_request(attrs)
                assert client.machine.stats["drop_bad_authenticator"] == 1
        finally:
            await client.close()

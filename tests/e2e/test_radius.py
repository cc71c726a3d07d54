"""RADIUS end to end: abngd against a real FreeRADIUS (in abngd's namespace), first server dead
(failover), DHCP (udhcpc, MAC authentication, Framed-IP, Option 82 / NAS-Port-Id) and PPPoE PAP
and CHAP; accounting Start, Interim and Stop with counters read from FreeRADIUS' detail file;
with every server down the Stop is spooled and delivered once a server is back, exactly once."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.pppoe_client import PppoeClient
from tests.e2e.test_dhcp_local import UDHCPC_SCRIPT, lines, script
from tests.e2e.topology import UPSTREAM_HOST, Topo, topology
from tests.helpers.freeradius import FreeRadius, free_udp_port, freeradius_server
from tests.helpers.netns import NsProcess, in_netns, link_mac, requires_root

pytestmark = requires_root

USERS = """alice Cleartext-Password := "secret1"
    Framed-IP-Address = 100.64.0.50,
    Acct-Interim-Interval = 2,
    Athena-Rate-Down = "30mbit"

carol Cleartext-Password := "secret3"
    Framed-IP-Address = 100.64.0.51

"{mac}" Cleartext-Password := "{mac}"
    Framed-IP-Address = 100.64.1.77,
    Acct-Interim-Interval = 2
"""


@contextlib.contextmanager
def radius_in(ns: str, tmp: Path, users: str, name: str, **kw: int) -> Iterator[FreeRadius]:
    cm = freeradius_server(tmp, users, name=name, **kw)  # type: ignore[arg-type]
    with in_netns(ns):
        srv = cm.__enter__()
    try:
        yield srv
    finally:
        cm.__exit__(None, None, None)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Topo, FreeRadius]]:
    tmp = tmp_path_factory.mktemp("radius")
    with topology(tmp) as t:
        users = USERS.format(mac=link_mac(t.cli, t.cli_if))
        with radius_in(t.bng, tmp, users, "fr1") as srv:
            dead = free_udp_port()
            radius = {
                "servers": [
                    {"host": "127.0.0.1", "port": dead, "acct_port": dead, "secret": srv.secret},
                    {
                        "host": "127.0.0.1",
                        "port": srv.auth_port,
                        "acct_port": srv.acct_port,
                        "secret": srv.secret,
                    },
                ],
                "timeout": 2,
                "retries": 0,
                "nas_identifier": "bng-e2e",
            }
            aaa = {"order": ["radius"], "subscribers": [], "pools": t.config()["aaa"]["pools"]}
            t.extra.update(radius=radius, aaa=aaa, users=users)
            t.start_abngd(t.config(radius=radius, aaa=aaa))
            yield t, srv


def records(srv: FreeRadius, status: str, session: str) -> list[dict[str, str]]:
    return [
        r
        for r in srv.detail_records()
        if r.get("Acct-Status-Type") == status and r.get("Acct-Session-Id") == session
    ]


def test_dhcp_mac_auth_option82_and_accounting(env: tuple[Topo, FreeRadius], tmp_path: Path) -> None:
    topo, srv = env
    log = tmp_path / "udhcpc.log"
    sc = script(tmp_path / "u.sh", UDHCPC_SCRIPT, log)
    argv = ["busybox", "udhcpc", "-i", topo.cli_if, "-f", "-s", str(sc), "-t", "10", "-T", "2", "-A", "1"]
    with NsProcess(topo.cli, argv, log_dir=tmp_path) as proc:
        topo.wait(lambda: any(x.startswith("bound") for x in lines(log)), 20, "bound via RADIUS")
        assert "ip=100.64.1.77" in next(x for x in lines(log) if x.startswith("bound"))
        s = topo.wait(lambda: topo.subscribers(type="dhcp"), 20, "session")[0]
        acct = s["acct_session_id"]
        # Option 82 Circuit-ID = access interface, sent as NAS-Port-Id and ADSL-Agent-Circuit-Id
        out = srv.log_file.read_text(errors="replace")
        assert f'NAS-Port-Id = "{topo.trunk}"' in out
        assert "ADSL-Agent-Circuit-Id" in out
        start = topo.wait(lambda: records(srv, "Start", acct), 20, "Accounting Start")[0]
        assert start["NAS-Port-Id"] == topo.trunk and start["Framed-IP-Address"] == "100.64.1.77"
        assert topo.ping(topo.cli, UPSTREAM_HOST).returncode == 0
        interim = topo.wait(
            lambda: [
                r for r in records(srv, "Interim-Update", acct) if int(r.get("Acct-Input-Octets", 0)) > 0
            ],
            15,
            "Interim with counters",
        )[0]
        assert int(interim["Acct-Output-Octets"]) > 0
        os.kill(proc.pid, signal.SIGUSR2)  # release
        stop = topo.wait(lambda: records(srv, "Stop", acct), 20, "Accounting Stop")
    assert len(stop) == 1
    assert stop[0]["Acct-Terminate-Cause"] == "User-Request"
    assert int(stop[0]["Acct-Input-Octets"]) >= int(interim["Acct-Input-Octets"])


def test_pppoe_pap_and_chap_through_radius(env: tuple[Topo, FreeRadius]) -> None:
    topo, srv = env
    with PppoeClient(topo.cli, topo.cli_if, "alice", "secret1", auth=("pap",)).start() as a:
        up = a.wait_up(15)
        assert up.ip == "100.64.0.50"
        s = topo.wait(
            lambda: [
                x
                for x in topo.subscribers(type="pppoe")
                if x["username"] == "alice" and x["state"] == "active"
            ],
            10,
            "alice",
        )[0]
        assert s["speed_down"].lower().startswith("30")
        assert a.ping(UPSTREAM_HOST)
        acct = s["acct_session_id"]
        topo.wait(lambda: records(srv, "Start", acct), 20, "Start")
        a.padt()
        stop = topo.wait(lambda: records(srv, "Stop", acct), 20, "Stop")[0]
        assert stop["Acct-Terminate-Cause"] == "User-Request" and int(stop["Acct-Input-Octets"]) > 0
        assert stop["Framed-Protocol"] == "PPP"
    with PppoeClient(topo.cli, topo.cli_if, "carol", "secret3", auth=("chap",)).start() as c:
        assert c.wait_up(15).ip == "100.64.0.51"
        c.padt()
    with PppoeClient(topo.cli, topo.cli_if, "carol", "nope", auth=("chap",)).start() as bad:
        bad.wait(lambda: bad.down_reason is not None or bad.terminated, 15, "CHAP failure")
        assert bad.up is None


def test_request_radius_test_rpc(env: tuple[Topo, FreeRadius]) -> None:
    topo, _ = env
    ok = topo.call("request.radius.test", {"username": "alice", "password": "secret1"})
    assert ok["result"] == "accept"
    assert ok["attributes"]["Framed-IP-Address"] == ["100.64.0.50"]
    bad = topo.call("request.radius.test", {"username": "alice", "password": "wrong"})
    assert bad["result"] == "reject"


def test_stop_spooled_while_radius_down(env: tuple[Topo, FreeRadius], tmp_path: Path) -> None:
    topo, srv = env
    with PppoeClient(topo.cli, topo.cli_if, "carol", "secret3").start() as c:
        c.wait_up(15)
        s = topo.wait(
            lambda: [
                x
                for x in topo.subscribers(type="pppoe")
                if x["username"] == "carol" and x["state"] == "active"
            ],
            10,
            "carol",
        )[0]
        topo.wait(lambda: records(srv, "Start", s["acct_session_id"]), 20, "Start")
        srv.stop()  # both servers down now
        topo.call("request.subscriber.disconnect", {"session_id": s["id"]})
        c.wait(lambda: c.terminated, 10, "PADT")
    time.sleep(3)  # the Stop has timed out on both servers: it stays in the spool
    with radius_in(
        topo.bng, tmp_path, topo.extra["users"], "fr2", auth_port=srv.auth_port, acct_port=srv.acct_port
    ) as srv2:
        stops = topo.wait(lambda: records(srv2, "Stop", s["acct_session_id"]), 45, "spooled Stop delivered")
        time.sleep(1)
        assert len(records(srv2, "Stop", s["acct_session_id"])) == 1
    assert stops[0]["Acct-Terminate-Cause"] == "Admin-Reset"
    assert int(stops[0].get("Acct-Delay-Time", "0")) >= 1

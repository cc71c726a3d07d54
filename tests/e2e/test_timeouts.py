"""Session-Timeout and Idle-Timeout from a real FreeRADIUS, enforced by a live abngd (review gaps 1
and 2): PPPoE ends with LCP Terminate + PADT and reason session_timeout / idle_timeout (Stop with
the matching Acct-Terminate-Cause); a DHCP lease is never granted past the Session-Timeout and the
session ends with session_timeout."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.pppoe_client import PppoeClient
from tests.e2e.test_dhcp_local import UDHCPC_SCRIPT, lines, script
from tests.e2e.test_radius import radius_in, records
from tests.e2e.topology import UPSTREAM_HOST, Topo, topology
from tests.helpers.freeradius import FreeRadius
from tests.helpers.netns import NsProcess, link_mac, requires_root

pytestmark = requires_root

USERS = """shorty Cleartext-Password := "pw1"
    Framed-IP-Address = 100.64.0.60,
    Session-Timeout = 3

lazy Cleartext-Password := "pw2"
    Framed-IP-Address = 100.64.0.61,
    Idle-Timeout = 3

"{mac}" Cleartext-Password := "{mac}"
    Framed-IP-Address = 100.64.1.78,
    Session-Timeout = 8
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Topo, FreeRadius]]:
    tmp = tmp_path_factory.mktemp("timeouts")
    with topology(tmp) as t:
        users = USERS.format(mac=link_mac(t.cli, t.cli_if))
        with radius_in(t.bng, tmp, users, "frt") as srv:
            radius = {
                "servers": [
                    {
                        "host": "127.0.0.1",
                        "port": srv.auth_port,
                        "acct_port": srv.acct_port,
                        "secret": srv.secret,
                    }
                ],
                "timeout": 2,
                "retries": 1,
                "nas_identifier": "bng-e2e",
            }
            aaa = {"order": ["radius"], "subscribers": [], "pools": t.config()["aaa"]["pools"]}
            t.start_abngd(t.config(radius=radius, aaa=aaa))
            yield t, srv


def ended(topo: Topo, sid: int) -> dict[str, Any] | None:
    return next((h for h in topo.call("subscribers.history", {"limit": 50}) if h["id"] == sid), None)


def active(topo: Topo, username: str) -> list[dict[str, Any]]:
    return [x for x in topo.subscribers() if x["username"] == username]


def test_pppoe_session_timeout_terminates_with_padt(env: tuple[Topo, FreeRadius]) -> None:
    topo, srv = env
    with PppoeClient(topo.cli, topo.cli_if, "shorty", "pw1", auth=("pap",)).start() as c:
        c.wait_up(15)
        s = topo.wait(lambda: active(topo, "shorty"), 10, "shorty active")[0]
        c.wait(lambda: c.terminated, 15, "PADT at the Session-Timeout")
        h = topo.wait(lambda: ended(topo, s["id"]), 10, "ended")
    assert h["reason"] == "session_timeout"
    assert h["ended_at"] - h["started_at"] >= 3
    stop = topo.wait(lambda: records(srv, "Stop", s["acct_session_id"]), 20, "Stop")[0]
    assert stop["Acct-Terminate-Cause"] == "Session-Timeout"


def test_pppoe_idle_timeout_counts_subscriber_traffic(env: tuple[Topo, FreeRadius]) -> None:
    topo, srv = env
    with PppoeClient(topo.cli, topo.cli_if, "lazy", "pw2", auth=("pap",)).start() as c:
        c.wait_up(15)
        s = topo.wait(lambda: active(topo, "lazy"), 10, "lazy active")[0]
        busy_until = time.monotonic() + 7  # more than twice the idle timeout, with traffic
        while time.monotonic() < busy_until:
            assert c.ping(UPSTREAM_HOST)
            time.sleep(0.5)
        assert active(topo, "lazy") and not c.terminated  # traffic kept it up
        c.wait(lambda: c.terminated, 15, "PADT after the Idle-Timeout")
        h = topo.wait(lambda: ended(topo, s["id"]), 10, "ended")
    assert h["reason"] == "idle_timeout"
    stop = topo.wait(lambda: records(srv, "Stop", s["acct_session_id"]), 20, "Stop")[0]
    assert stop["Acct-Terminate-Cause"] == "Idle-Timeout"


def test_dhcp_lease_capped_at_session_timeout(env: tuple[Topo, FreeRadius], tmp_path: Path) -> None:
    topo, _ = env
    log = tmp_path / "udhcpc.log"
    sc = script(tmp_path / "u.sh", UDHCPC_SCRIPT, log)
    argv = ["busybox", "udhcpc", "-i", topo.cli_if, "-f", "-s", str(sc), "-t", "10", "-T", "2", "-A", "1"]
    with NsProcess(topo.cli, argv, log_dir=tmp_path):
        bound = topo.wait(lambda: [x for x in lines(log) if x.startswith("bound")], 20, "bound")[0]
        assert "ip=100.64.1.78" in bound
        lease = int(bound.rsplit("lease=", 1)[1].split()[0])
        assert 1 <= lease <= 8  # dhcp.lease_time is 120: capped at the Session-Timeout
        s = topo.wait(lambda: topo.subscribers(type="dhcp"), 10, "session")[0]
        h = topo.wait(lambda: ended(topo, s["id"]), 20, "end at the Session-Timeout")
    assert h["reason"] == "session_timeout"
    assert h["ended_at"] - h["started_at"] <= 8 + 2

"""IPoE end to end with local AAA: busybox udhcpc and ISC dhclient against a live abngd (untagged,
demux disabled): obtain, renew, release; the leased client pings an upstream host through the BNG;
admin disconnect; restart keeps the lease."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.topology import UPSTREAM_HOST, Topo, topology
from tests.helpers.netns import NsProcess, link_mac, ns_run, requires_root

pytestmark = requires_root

# the log line is written after the interface is configured: tests wait for it, then ping
UDHCPC_SCRIPT = """#!/bin/sh
case "$1" in
  bound|renew)
    ip addr replace "$ip/32" dev "$interface"
    ip route replace "$router" dev "$interface"
    ip route replace default via "$router" dev "$interface" onlink
    ;;
  deconfig) ip addr flush dev "$interface" ;;
esac
echo "$1 ip=$ip router=$router subnet=$subnet lease=$lease" >> {log}
exit 0
"""

DHCLIENT_SCRIPT = """#!/bin/sh
case "$reason" in
  BOUND|RENEW|REBIND|REBOOT)
    ip addr replace "$new_ip_address/32" dev "$interface"
    ip route replace "$new_routers" dev "$interface"
    ip route replace default via "$new_routers" dev "$interface" onlink
    ;;
  EXPIRE|STOP) ip addr flush dev "$interface" ;;
esac
echo "$reason ip=$new_ip_address routers=$new_routers lease=$new_dhcp_lease_time" >> {log}
exit 0
"""


def script(path: Path, body: str, log: Path) -> Path:
    path.write_text(body.format(log=log))
    path.chmod(0o755)
    return path


def ended_session(topo: Topo, sid: int) -> dict[str, Any]:
    """The session's history entry.  A session stops being "active" as soon as it starts
    terminating, while its session_down hooks still run: wait until it reaches the history."""
    found: dict[str, Any] = topo.wait(
        lambda: next((h for h in topo.call("subscribers.history", {"limit": 20}) if h["id"] == sid), None),
        10,
        f"session {sid} in the history",
    )
    return found


@pytest.fixture(scope="module")
def topo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topo]:
    tmp = tmp_path_factory.mktemp("dhcp-local")
    with topology(tmp) as t:
        t.start_abngd(t.config())
        yield t


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_udhcpc_obtain_renew_ping_release(topo: Topo, tmp_path: Path) -> None:
    log = tmp_path / "udhcpc.log"
    sc = script(tmp_path / "udhcpc.sh", UDHCPC_SCRIPT, log)
    mac = link_mac(topo.cli, topo.cli_if)
    argv = [
        "busybox",
        "udhcpc",
        "-i",
        topo.cli_if,
        "-f",
        "-s",
        str(sc),
        "-t",
        "5",
        "-T",
        "1",
        "-A",
        "1",
        "-x",
        "hostname:cpe1",
    ]
    with NsProcess(topo.cli, argv, log_dir=tmp_path) as proc:
        topo.wait(lambda: any(x.startswith("bound") for x in lines(log)), 15, "udhcpc bound")
        bound = next(x for x in lines(log) if x.startswith("bound"))
        assert "router=100.64.1.1" in bound and "subnet=255.255.255.255" in bound
        ip = bound.split("ip=")[1].split()[0]
        assert ip.startswith("100.64.1.")
        subs = topo.wait(lambda: topo.subscribers(type="dhcp"), 20, "dhcp session")
        s = next(x for x in subs if x["mac_address"] == mac)
        assert s["ip_address"] == ip and s["username"] == mac and s["state"] == "active"
        assert s["interface"] == topo.trunk
        # traffic through the BNG to the upstream host
        res = topo.ping(topo.cli, UPSTREAM_HOST)
        assert res.returncode == 0, res.stdout + res.stderr
        assert "DUP" not in res.stdout
        # renew (SIGUSR1): unicast REQUEST to the server, same address, same session
        os.kill(proc.pid, signal.SIGUSR1)
        topo.wait(lambda: any(x.startswith("renew") for x in lines(log)), 20, "udhcpc renew")
        renew = next(x for x in lines(log) if x.startswith("renew"))
        assert f"ip={ip}" in renew
        again = [x for x in topo.subscribers(type="dhcp") if x["mac_address"] == mac]
        assert [x["id"] for x in again] == [s["id"]]
        # release (SIGUSR2): the session ends with user_request
        os.kill(proc.pid, signal.SIGUSR2)
        topo.wait(
            lambda: not [x for x in topo.subscribers(type="dhcp") if x["mac_address"] == mac], 10, "release"
        )
    ended = ended_session(topo, s["id"])
    assert ended["reason"] == "user_request"
    assert ended["bytes_in"] > 0 and ended["bytes_out"] > 0  # the pings were counted


def test_dhclient_obtain_renew_release(topo: Topo, tmp_path: Path) -> None:
    log = tmp_path / "dhclient.log"
    sc = script(tmp_path / "dhclient.sh", DHCLIENT_SCRIPT, log)
    mac = link_mac(topo.cli, topo.cli_if)
    common = ["-sf", str(sc), "-lf", str(tmp_path / "leases"), "-pf", str(tmp_path / "dhclient.pid")]
    with NsProcess(
        topo.cli, ["dhclient", "-4", "-1", "-v", "-d", *common, topo.cli_if], log_dir=tmp_path
    ) as p:
        topo.wait(lambda: any(x.startswith(("BOUND", "REBOOT")) for x in lines(log)), 20, "dhclient bound")
        first = [x for x in topo.subscribers(type="dhcp") if x["mac_address"] == mac]
        assert len(first) == 1
        ip = first[0]["ip_address"]
        assert p.alive()
    # a second run with the same lease file asks for the same address again (INIT-REBOOT): renewed
    with NsProcess(topo.cli, ["dhclient", "-4", "-1", "-v", "-d", *common, topo.cli_if], log_dir=tmp_path):
        topo.wait(
            lambda: sum(x.startswith(("BOUND", "REBOOT")) for x in lines(log)) >= 2, 20, "dhclient again"
        )
        again = [x for x in topo.subscribers(type="dhcp") if x["mac_address"] == mac]
        assert [x["id"] for x in again] == [first[0]["id"]]
        assert again[0]["ip_address"] == ip
    res = ns_run(topo.cli, "dhclient", "-4", "-r", "-v", *common, topo.cli_if, check=False, timeout=20)
    assert res.returncode == 0, res.stderr
    topo.wait(
        lambda: not [x for x in topo.subscribers(type="dhcp") if x["mac_address"] == mac], 10, "release"
    )
    assert ended_session(topo, first[0]["id"])["reason"] == "user_request"


def test_admin_disconnect_and_restart(topo: Topo, tmp_path: Path) -> None:
    log = tmp_path / "udhcpc.log"
    sc = script(tmp_path / "udhcpc.sh", UDHCPC_SCRIPT, log)
    argv = ["busybox", "udhcpc", "-i", topo.cli_if, "-f", "-s", str(sc), "-t", "5", "-T", "1", "-A", "1"]
    with NsProcess(topo.cli, argv, log_dir=tmp_path):
        subs = topo.wait(lambda: topo.subscribers(type="dhcp"), 15, "dhcp session")
        sid = subs[0]["id"]
        # restart abngd: the lease and the data path come back, the client keeps pinging
        assert topo.abngd is not None
        cfg = topo.config()
        topo.stop_abngd()
        topo.start_abngd(cfg)
        after = topo.wait(lambda: topo.subscribers(type="dhcp"), 20, "restored session")
        assert [x["id"] for x in after] == [sid]
        topo.wait(lambda: topo.ping(topo.cli, UPSTREAM_HOST, 1).returncode == 0, 20, "ping after restart")
        # admin disconnect: the session ends with admin_reset and traffic stops
        topo.call("request.subscriber.disconnect", {"session_id": sid})
        assert not topo.subscribers(type="dhcp") or topo.subscribers(type="dhcp")[0]["id"] != sid
        hist = topo.call("subscribers.history", {"limit": 5})
        assert next(h for h in hist if h["id"] == sid)["reason"] == "admin_reset"
        assert topo.ping(topo.cli, UPSTREAM_HOST, 1).returncode != 0
    time.sleep(0.2)

"""Shaping measured through the BNG's userspace path, before and after a RADIUS CoA.

A real subscriber (busybox udhcpc in the client namespace) gets a DHCP session from a live abngd
(access layer, local AAA); its traffic crosses the BNG through the TUN device (download shaped by
HTB on ``abng0``, upload by HTB on ``ifb-abng0``).  iperf3 runs between the client and the
upstream namespace; each direction must land within 10 % of the configured rate at the start
(qos defaults) and after a CoA-Request sent with radclient changes the rates.

TCP goodput is below the shaped rate by the headers and the ``ipoe_ethernet`` overhead the HTB
classes count (1448 payload bytes per 1500 + 22 bytes: 95.1 %), well inside the 10 % margin.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.topology import UPSTREAM_HOST, Topo, topology
from tests.helpers.freeradius import free_udp_port
from tests.helpers.netns import NsProcess, link_mac, ns_run
from tests.policy.conftest import requires_root
from tests.policy.live import dictdir, radclient

pytestmark = [
    requires_root,
    pytest.mark.skipif(
        shutil.which("iperf3") is None or shutil.which("radclient") is None, reason="iperf3/radclient missing"
    ),
]

SCRIPT = """#!/bin/sh
echo "$1 ip=$ip router=$router" >> {log}
case "$1" in
  bound|renew)
    ip addr replace "$ip/32" dev "$interface"
    ip route replace "$router" dev "$interface"
    ip route replace default via "$router" dev "$interface" onlink
    ;;
  deconfig) ip addr flush dev "$interface" ;;
esac
exit 0
"""


@pytest.fixture(scope="module")
def topo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Topo, int]]:
    tmp = tmp_path_factory.mktemp("shaping")
    port = free_udp_port()
    with topology(tmp) as t:
        cfg = t.config(
            qos={
                "enabled": True,
                "default_down": "12mbit",
                "default_up": "8mbit",
                "default_overhead_profile": "ipoe_ethernet",
            },
            radius={
                "servers": [{"host": "127.0.0.1", "secret": "testing123"}],
                "coa_enabled": True,
                "coa_port": port,
                "coa_listen": "127.0.0.1",
            },
        )
        t.start_abngd(cfg)
        yield t, port


def iperf(ns: str, reverse: bool) -> float:
    args = ["iperf3", "-c", UPSTREAM_HOST, "-t", "4", "-O", "1", "-J"] + (["-R"] if reverse else [])
    out = json.loads(ns_run(ns, *args, timeout=40).stdout)
    return float(out["end"]["sum_received"]["bits_per_second"])


def test_iperf3_through_userspace_path_before_and_after_coa(topo: tuple[Topo, int], tmp_path: Path) -> None:
    t, port = topo
    log = tmp_path / "udhcpc.log"
    sc = tmp_path / "udhcpc.sh"
    sc.write_text(SCRIPT.format(log=log))
    sc.chmod(0o755)
    mac = link_mac(t.cli, t.cli_if)
    argv = ["busybox", "udhcpc", "-i", t.cli_if, "-f", "-s", str(sc), "-t", "5", "-T", "1", "-A", "1"]
    with (
        NsProcess(t.cli, argv, log_dir=tmp_path),
        NsProcess(t.up, ["iperf3", "-s", "-B", UPSTREAM_HOST, "--forceflush"], log_dir=tmp_path) as server,
    ):
        assert server.wait_for(lambda out: "listening" in out.lower(), timeout=5)
        subs = t.wait(lambda: [s for s in t.subscribers(type="dhcp") if s["mac_address"] == mac], 20, "lease")
        s = subs[0]
        t.wait(lambda: t.ping(t.cli, UPSTREAM_HOST, 1).returncode == 0, 10, "ping through the BNG")
        (q,) = [q for q in t.call("show.qos") if q["session_id"] == s["id"]]
        assert (q["rate_down"], q["rate_up"], q["overhead"], q["installed"]) == (
            12_000_000,
            8_000_000,
            22,
            True,
        )
        measured = {"down_12": (iperf(t.cli, reverse=True), 12e6), "up_8": (iperf(t.cli, reverse=False), 8e6)}

        attrs = f'Acct-Session-Id = "{s["acct_session_id"]}"\n'
        attrs += 'Athena-Rate-Down = "5mbit"\nAthena-Rate-Up = "3mbit"\n'
        rc, out = radclient(t.bng, dictdir(tmp_path), port, "coa", attrs)
        assert rc == 0 and "CoA-ACK" in out, out
        (q,) = [q for q in t.call("show.qos") if q["session_id"] == s["id"]]
        assert (q["rate_down"], q["rate_up"]) == (5_000_000, 3_000_000)
        time.sleep(0.2)
        measured["down_5"] = (iperf(t.cli, reverse=True), 5e6)
        measured["up_3"] = (iperf(t.cli, reverse=False), 3e6)
    print({k: round(v[0] / 1e6, 3) for k, v in measured.items()})
    for name, (got, want) in measured.items():
        assert abs(got - want) / want < 0.10, f"{name}: {got / 1e6:.2f} Mbit/s vs {want / 1e6:.0f} Mbit/s"

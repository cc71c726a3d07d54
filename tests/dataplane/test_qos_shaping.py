"""Shaping measured with iperf3: subscriber ns -> shaping ns (HTB + IFB) -> upstream ns.

Download is shaped on the shaper's veth toward the subscriber, upload through the IFB; each
direction is measured at 20 Mbit/s, then again after ``change_rate`` to 5 Mbit/s, and must land
within 10 % of the configured rate (TCP goodput over 1514-byte frames is ~95.6 % of it).
"""

from __future__ import annotations

import json
import shutil
import time

import pytest

from abng.dataplane.qos import QosManager
from tests.dataplane.dp_util import requires_root
from tests.helpers.netns import NsProcess, netns, ns_run, veth_pair

pytestmark = [
    requires_root,
    pytest.mark.skipif(shutil.which("iperf3") is None, reason="iperf3 not installed"),
]


def _iperf(ns: str, server: str, reverse: bool) -> float:
    args = ["iperf3", "-c", server, "-t", "3", "-J"] + (["-R"] if reverse else [])
    out = json.loads(ns_run(ns, *args, timeout=30).stdout)
    return float(out["end"]["sum_received"]["bits_per_second"])


def test_iperf_rates_before_and_after_change() -> None:
    with netns("dsub") as sub, netns("dshp") as shp, netns("dup") as up:
        s_sub, s_shp = veth_pair(sub, shp, prefix="ds")
        u_shp, u_up = veth_pair(shp, up, prefix="du")
        ns_run(sub, "ip", "addr", "add", "10.0.1.2/24", "dev", s_sub)
        ns_run(sub, "ip", "route", "add", "default", "via", "10.0.1.1")
        ns_run(shp, "ip", "addr", "add", "10.0.1.1/24", "dev", s_shp)
        ns_run(shp, "ip", "addr", "add", "10.0.2.1/24", "dev", u_shp)
        ns_run(shp, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        ns_run(up, "ip", "addr", "add", "10.0.2.2/24", "dev", u_up)
        ns_run(up, "ip", "route", "add", "default", "via", "10.0.2.1")
        qos = QosManager("htb", netns=shp)
        try:
            assert qos.apply_subscriber(1, s_shp, "10.0.1.2", "20mbit", "20mbit").ok
            with NsProcess(up, ["iperf3", "-s", "-B", "10.0.2.2", "--forceflush"]) as server:
                assert server.wait_for(lambda out: "listening" in out.lower(), timeout=5)
                measured = {}
                for label, rate in (("20", 20e6), ("5", 5e6)):
                    if label == "5":
                        assert qos.change_rate(1, "5mbit", "5mbit").ok
                    time.sleep(0.2)
                    measured[f"down{label}"] = (_iperf(sub, "10.0.2.2", reverse=True), rate)
                    measured[f"up{label}"] = (_iperf(sub, "10.0.2.2", reverse=False), rate)
            print({k: round(v[0] / 1e6, 2) for k, v in measured.items()})
            for name, (got, want) in measured.items():
                assert abs(got - want) / want < 0.10, f"{name}: {got / 1e6:.2f} Mbit/s vs {want / 1e6:.0f}"
        finally:
            qos.close()

"""10,000 sessions come and go; afterwards none of their classes, filters, routes, rules or nft
elements remain (counted with tc, ip and nft, not with our own read-back)."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator

import pytest

from abng.dataplane.cgnat import CgnatConfig, CgnatManager
from abng.dataplane.qos import QosManager, ShapeSpec, ifb_name
from abng.dataplane.routes import RTPROT_ABNG, RouteManager
from tests.dataplane.dp_util import requires_root, shard_filters, subscriber_classes
from tests.helpers.netns import netns, ns_run, veth_pair

N = 10_000
BATCH = 2_500
BASE = int(ipaddress.IPv4Address("100.64.0.1"))


@pytest.fixture
def world() -> Iterator[tuple[str, str, str]]:
    with netns("lks") as ns, netns("lkp") as peer:
        dev, _ = veth_pair(ns, peer, prefix="lk")
        handoff, _ = veth_pair(ns, peer, prefix="lh")
        ns_run(ns, "ip", "addr", "add", "10.99.0.2/24", "dev", handoff)
        yield ns, dev, handoff


def _counts(ns: str, dev: str) -> dict[str, int]:
    routes = json.loads(ns_run(ns, "ip", "-j", "route", "show", "proto", str(RTPROT_ABNG)).stdout or "[]")
    rules = [r for r in json.loads(ns_run(ns, "ip", "-j", "rule").stdout) if "fwmark" in r]
    proc = ns_run(ns, "nft", "-j", "list", "set", "inet", "abng_cgnat", "bypass", check=False)
    items = json.loads(proc.stdout)["nftables"] if proc.returncode == 0 else []
    elems = sum(len(i["set"].get("elem", [])) for i in items if "set" in i)
    return {
        "classes": len(subscriber_classes(ns, dev)) + len(subscriber_classes(ns, ifb_name(dev))),
        "filters": len(shard_filters(ns, dev)) + len(shard_filters(ns, ifb_name(dev))),
        "routes": len(routes),
        "rules": len(rules),
        "bypass": elems,
    }


@requires_root
def test_ten_thousand_sessions_leave_nothing(world: tuple[str, str, str]) -> None:
    ns, dev, handoff = world
    qos, routes = QosManager("htb", netns=ns), RouteManager(netns=ns)
    cgnat = CgnatManager(has_vrf=False, netns=ns)
    try:
        cgnat.ensure(CgnatConfig(True, handoff_interface=handoff, handoff_gateway="10.99.0.1"))
        ips = [str(ipaddress.IPv4Address(BASE + i)) for i in range(N)]
        for start in range(0, N, BATCH):
            chunk = range(start, start + BATCH)
            specs = [
                ShapeSpec(i, dev, ipaddress.IPv4Address(ips[i]), 10_000_000, 2_000_000, 34, 64) for i in chunk
            ]
            assert {r.errno for r in qos.apply_many(specs)} == {0}
            assert set(routes.add_many([(ips[i], dev) for i in chunk])) == {0}
            cgnat.update_bypass(add=[ips[i] for i in chunk if i % 10 == 0])
        assert _counts(ns, dev) == {
            "classes": 2 * N,
            "filters": 2 * N,
            "routes": N,
            "rules": 1,
            "bypass": N // 10,
        }
        inst = qos.installed()  # our own read-back agrees with tc
        assert len(inst) == 2 * N and {s.ip for s in inst} == set(ips)
        assert len(routes.list_subscriber_routes()) == N
        assert {r.errno for r in qos.change_many([(i, 5_000_000, 1_000_000) for i in range(0, N, 10)])} == {0}
        for start in range(0, N, BATCH):
            chunk = range(start, start + BATCH)
            assert {r.errno for r in qos.remove_many(list(chunk))} == {0}
            assert set(routes.remove_many([ips[i] for i in chunk])) == {0}
            cgnat.update_bypass(remove=[ips[i] for i in chunk])
        assert _counts(ns, dev) == {"classes": 0, "filters": 0, "routes": 0, "rules": 1, "bypass": 0}
        assert qos.installed() == [] and routes.list_subscriber_routes() == []
        # the ids went back to the pools: a new round reuses them without error
        assert qos.apply_subscriber("again", dev, ips[0], "1mbit", "1mbit").ok
        assert qos.remove_subscriber("again").ok
        cgnat.disable()
        assert _counts(ns, dev)["rules"] == 0
    finally:
        cgnat.disable()
        for closable in (qos, routes, cgnat):
            closable.close()

"""TunDevice in a throwaway namespace: open, configure via pyroute2, routes, packets both ways."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from scapy.layers.inet import ICMP, IP
from scapy.packet import Raw

from abng.dataplane.tun import ETHTOOL_SGRO, TunDevice, get_offload, isolate_trunk, set_offload
from tests.helpers.netns import in_netns, netns, ns_run, read_ns_file, requires_root, veth_pair

pytestmark = [pytest.mark.netns, requires_root]


@pytest.fixture
def tun() -> Iterator[tuple[str, TunDevice]]:
    with netns("tun") as ns:
        with in_netns(ns):
            dev = TunDevice("abngt0", netns=ns)
            dev.open()
        try:
            dev.configure(["100.64.0.1/32"], mtu=1480)
            yield ns, dev
        finally:
            dev.close()


def test_configure_and_routes(tun: tuple[str, TunDevice]) -> None:
    ns, dev = tun
    (link,) = json.loads(ns_run(ns, "ip", "-j", "addr", "show", "dev", dev.name).stdout)
    assert link["mtu"] == 1480 and "UP" in link["flags"]
    assert [(a["local"], a["prefixlen"]) for a in link["addr_info"] if a["family"] == "inet"] == [
        ("100.64.0.1", 32)
    ]
    dev.configure(["100.64.0.1/32"])  # idempotent
    dev.add_host_route("100.64.0.10", mtu=1492)
    dev.add_host_route("100.64.0.10", mtu=1492)
    routes = json.loads(ns_run(ns, "ip", "-j", "-d", "route", "show", "100.64.0.10/32").stdout)
    assert routes[0]["dev"] == dev.name and routes[0]["metrics"][0]["mtu"] == 1492
    dev.del_host_route("100.64.0.10")
    dev.del_host_route("100.64.0.10")  # already gone: fine
    assert json.loads(ns_run(ns, "ip", "-j", "route", "show", "100.64.0.10/32").stdout) == []


def test_batched_routes_match_single_ones(tun: tuple[str, TunDevice]) -> None:
    ns, dev = tun
    dev.add_host_route("100.64.0.20", mtu=1492)
    errs = dev.add_host_routes([("100.64.0.21", 1492), ("100.64.0.22", None), ("100.64.0.21", 1492)])
    assert errs == [0, 0, 0]  # replace: idempotent
    routes = {
        r["dst"]: r
        for r in json.loads(ns_run(ns, "ip", "-j", "-d", "route", "show", "dev", dev.name).stdout)
        if r["dst"].startswith("100.64.0.2")
    }
    single, batched = routes["100.64.0.20"], routes["100.64.0.21"]
    assert {k: v for k, v in batched.items() if k != "dst"} == {k: v for k, v in single.items() if k != "dst"}
    assert "metrics" not in routes["100.64.0.22"] and routes["100.64.0.22"]["protocol"] == "static"
    good, bad = dev.ifindex, 0x7FFFFFF0
    dev.ifindex = bad
    try:
        assert dev.add_host_routes([("100.64.0.23", None)]) == [19]  # ENODEV as data
    finally:
        dev.ifindex = good


async def test_kernel_answers_a_ping_written_into_tun(tun: tuple[str, TunDevice]) -> None:
    _ns, dev = tun
    await asyncio.to_thread(dev.add_host_route, "100.64.0.10")
    got: asyncio.Queue[bytes] = asyncio.Queue()
    dev.start(got.put_nowait)
    try:
        request = bytes(IP(src="100.64.0.10", dst="100.64.0.1") / ICMP(id=9, seq=3) / Raw(b"ping"))
        assert dev.write(request)
        while True:
            reply = IP(await asyncio.wait_for(got.get(), 5.0))
            if ICMP in reply and reply[ICMP].type == 0:
                break
        assert (reply.src, reply.dst, reply[ICMP].id, reply[ICMP].seq) == ("100.64.0.1", "100.64.0.10", 9, 3)
        assert dev.counters.tx == 1 and dev.counters.rx >= 1
    finally:
        dev.stop()


def test_name_too_long_is_refused() -> None:
    with pytest.raises(ValueError):
        TunDevice("a" * 16)


def test_isolate_trunk_turns_the_kernel_stack_off_on_the_trunk() -> None:
    with netns("iso") as ns:
        trunk, _ = veth_pair(ns, ns)
        with in_netns(ns):
            set_offload(trunk, ETHTOOL_SGRO, True)
            assert get_offload(trunk)
            isolate_trunk(trunk)
            assert not get_offload(trunk)
        for key, want in (
            ("ipv4/conf/{}/arp_ignore", "8"),
            ("ipv4/conf/{}/forwarding", "0"),
            ("ipv6/conf/{}/disable_ipv6", "1"),
        ):
            assert read_ns_file(ns, f"/proc/sys/net/{key.format(trunk)}") == want

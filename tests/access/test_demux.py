"""Demux: profiles, confirmation window, rate limit, cap, idle cleanup, names (sans-I/O, fake clock)."""

from __future__ import annotations

import random

import pytest

from abng.access.demux import (
    CLEANUP_INTERVAL,
    IFNAMSIZ,
    AccessInterface,
    Demux,
    Drop,
    Profile,
    device_chain,
    kernel_ifname,
    logical_name,
)
from abng.access.frames import TPID_8021AD, TPID_8021Q, VlanTag
from abng.config.schema_access import Demux as DemuxConfig

AD, Q = TPID_8021AD, TPID_8021Q


def tags(*vids: int, outer: int = AD) -> tuple[VlanTag, ...]:
    return tuple(VlanTag(outer if i == 0 else Q, v) for i, v in enumerate(vids))


TRIPLE = Profile(
    "residential", "eth1", frozenset({111, 112}), (100, 999), (1, 4094), require_packets=2, require_window=5
)
QINQ = Profile("biz", "eth1", frozenset(), (200, 299), (1, 4094), require_packets=1)
SINGLE = Profile("single", "eth1", frozenset(), (10, 20), None, stag_tpid=Q, require_packets=1)


def demux(*profiles: Profile) -> Demux:
    return Demux("eth1", list(profiles or (TRIPLE, QINQ, SINGLE)))


def test_names_follow_d5_and_fit_ifnamsiz() -> None:
    assert logical_name("eth1", [111, 500, 100]) == "eth1.111.500.100"
    assert logical_name("trunk0", [100]) == "trunk0.100"
    assert kernel_ifname("eth1.111.500") == "eth1.111.500"
    short = kernel_ifname("eth1.111.500.100")
    assert len(short) == IFNAMSIZ and short.startswith("eth1.")
    assert short == kernel_ifname("eth1.111.500.100")  # deterministic
    assert short != kernel_ifname("eth1.111.500.101")
    rng = random.Random(7)
    names = {
        logical_name("ens19", [rng.randint(1, 4094), rng.randint(1, 4094), rng.randint(1, 4094)])
        for _ in range(2000)
    }
    kernel = {kernel_ifname(n) for n in names}
    assert len(kernel) == len(names) and max(map(len, kernel)) <= IFNAMSIZ


def test_device_chain_outer_first_with_parents() -> None:
    chain = device_chain("eth1", tags(111, 500, 100))
    assert [d.name for d in chain] == ["eth1.111", "eth1.111.500", "eth1.111.500.100"]
    assert [d.parent for d in chain] == ["eth1", "eth1.111", "eth1.111.500"]
    assert chain[2].kernel_name == kernel_ifname("eth1.111.500.100")
    assert [d.tag.tpid for d in chain] == [AD, Q, Q]


def test_triple_tag_needs_two_packets_within_window() -> None:
    d = demux()
    assert d.classify(tags(111, 500, 100), 0.0) == Drop("pending")
    assert d.classify(tags(111, 500, 100), 6.0) == Drop("pending")  # first one fell out of the window
    iface = d.classify(tags(111, 500, 100), 7.0)
    assert isinstance(iface, AccessInterface)
    assert (iface.name, iface.profile, iface.vids) == ("eth1.111.500.100", "residential", (111, 500, 100))
    assert iface.kernel_name == kernel_ifname("eth1.111.500.100")
    assert d.take_created() == [iface] and d.take_created() == []
    assert d.classify(tags(111, 500, 100), 8.0) is iface
    assert d.lookup("eth1.111.500.100") is iface


def test_qinq_and_single_and_unknown() -> None:
    d = demux()
    q = d.classify(tags(250, 7), 0.0)
    assert isinstance(q, AccessInterface) and q.name == "eth1.250.7"
    s = d.classify(tags(15, outer=Q), 0.0)
    assert isinstance(s, AccessInterface) and s.name == "eth1.15" and s.services == ("pppoe", "dhcp")
    assert d.classify(tags(113, 500, 100), 0.0) == Drop("unknown_vlan")  # outer not listed
    assert d.classify(tags(111, 1000, 100), 0.0) == Drop("unknown_vlan")  # stag out of range
    assert d.classify(tags(300, 1), 0.0) == Drop("unknown_vlan")
    assert d.classify(tags(1, 2, 3, 4), 0.0) == Drop("unknown_vlan")
    assert d.classify(tags(250, 8, outer=Q), 0.0) == Drop("tpid_mismatch")
    assert d.classify((), 0.0) == Drop("untagged")
    assert d.counters["drop_unknown_vlan"] == 4 and d.counters["created"] == 2


def test_rate_limit_is_a_token_bucket() -> None:
    p = Profile("p", "eth1", frozenset(), (1, 4094), (1, 4094), creation_rate_limit=3, require_packets=1)
    d = demux(p)
    got = [d.classify(tags(1, c), 0.0) for c in range(1, 6)]
    assert [isinstance(g, AccessInterface) for g in got] == [True, True, True, False, False]
    assert got[3] == Drop("rate_limited")
    assert isinstance(d.classify(tags(1, 4), 0.34), AccessInterface)  # one token back after 1/3 s
    assert d.classify(tags(1, 5), 0.35) == Drop("rate_limited")


def test_max_interfaces_is_a_hard_cap_per_profile() -> None:
    p = Profile("p", "eth1", frozenset(), (1, 4094), (1, 4094), max_interfaces=2, require_packets=1)
    d = demux(p, SINGLE)
    assert all(isinstance(d.classify(tags(1, c), float(c)), AccessInterface) for c in (1, 2))
    assert d.classify(tags(1, 3), 10.0) == Drop("max_interfaces")
    assert isinstance(d.classify(tags(12, outer=Q), 10.0), AccessInterface)  # other profile unaffected
    d.remove("eth1.1.1")
    assert isinstance(d.classify(tags(1, 3), 11.0), AccessInterface)


def test_idle_cleanup_spares_sessions_and_traffic_and_sorts_deepest_first() -> None:
    p3 = Profile("p3", "eth1", frozenset({111}), (1, 999), (1, 4094), idle_timeout=100, require_packets=1)
    p1 = Profile("p1", "eth1", frozenset(), (10, 20), None, stag_tpid=Q, idle_timeout=100, require_packets=1)
    d = demux(p3, p1)
    a = d.classify(tags(111, 5, 1), 0.0)
    b = d.classify(tags(111, 5, 2), 0.0)
    c = d.classify(tags(11, outer=Q), 0.0)
    busy = d.classify(tags(111, 6, 1), 0.0)
    assert all(isinstance(x, AccessInterface) for x in (a, b, c, busy))
    assert d.next_cleanup(0.0) == CLEANUP_INTERVAL
    d.classify(tags(111, 5, 2), 50.0)  # traffic keeps b
    removed = d.expire(120.0, lambda i: i.name == "eth1.111.6.1")
    assert [i.name for i in removed] == ["eth1.111.5.1", "eth1.11"]
    assert d.next_cleanup(120.0) == 120.0 + CLEANUP_INTERVAL
    assert {i.name for i in d.interfaces()} == {"eth1.111.5.2", "eth1.111.6.1"}
    assert d.lookup("eth1.111.5.1") is None
    # a removed interface needs confirming again
    assert isinstance(d.classify(tags(111, 5, 1), 121.0), AccessInterface)


def test_disabled_demux_means_the_trunk_is_the_access_interface() -> None:
    d = Demux("eth1", [], enabled=False)
    iface = d.classify((), 0.0)
    assert (
        isinstance(iface, AccessInterface) and iface.name == iface.kernel_name == "eth1" and iface.tags == ()
    )
    assert d.classify(tags(100), 0.0) == Drop("tagged_demux_disabled")
    assert d.lookup("eth1") == iface


def test_candidate_table_is_bounded_under_a_random_vlan_flood() -> None:
    d = demux()
    rng = random.Random(1)
    for i in range(6000):
        d.classify(tags(111, rng.randint(100, 999), rng.randint(1, 4094)), i * 0.0001)
    assert d.counters["candidates_evicted"] > 0
    assert len(d._candidates) <= 4096


def test_snapshot_and_reconfigure() -> None:
    d = demux()
    iface = d.classify(tags(250, 7), 1.0)
    assert isinstance(iface, AccessInterface)
    (row,) = d.snapshot()
    assert row["name"] == "eth1.250.7" and row["vlans"] == [250, 7] and row["tpids"] == ["0x88a8", "0x8100"]
    assert d.reconfigure([TRIPLE], enabled=True) == [iface]
    assert d.snapshot() == []


def test_from_config_resolves_top_level_defaults() -> None:
    cfg = DemuxConfig.model_validate(
        {
            "enabled": True,
            "creation_rate_limit": 500,
            "profiles": [
                {
                    "name": "residential",
                    "trunk_interface": "eth1",
                    "outer_vlans": [111, 112],
                    "stag_range": "100-999",
                    "ctag_range": "1-4094",
                    "stag_protocol": "802.1ad",
                    "require_packets": 3,
                }
            ],
        }
    )
    d = Demux.from_config("eth1", cfg)
    (p,) = d.profiles
    assert (p.creation_rate_limit, p.require_packets, p.stag_tpid, p.depth) == (500, 3, AD, 3)
    assert p.matches((112, 999, 4094)) and not p.matches((112, 99, 1))


@pytest.mark.parametrize("vids", [(), (111,), (111, 500), (111, 500, 100, 1)])
def test_profile_depth_must_match_exactly(vids: tuple[int, ...]) -> None:
    assert not TRIPLE.matches(vids)


def test_untagged_frames_use_the_trunk_beside_tagged_profiles() -> None:
    cfg = DemuxConfig.model_validate(
        {
            "enabled": True,
            "untagged": True,
            "profiles": [
                {"name": "biz", "trunk_interface": "eth1", "stag_range": "200-299", "require_packets": 1}
            ],
        }
    )
    d = Demux.from_config("eth1", cfg)
    trunk = d.classify((), 0.0)
    assert isinstance(trunk, AccessInterface) and trunk.name == "eth1" and trunk.tags == ()
    assert d.lookup("eth1") == trunk
    tagged = d.classify(tags(250), 0.0)
    assert isinstance(tagged, AccessInterface) and tagged.name == "eth1.250"
    assert d.lookup("eth1.250") == tagged
    assert d.classify(tags(300), 0.0) == Drop("unknown_vlan")
    # a config commit turns it off without removing the tagged interface
    assert d.reconfigure(d.profiles, enabled=True, untagged=False) == []
    assert d.classify((), 1.0) == Drop("untagged") and d.lookup("eth1") is None
    assert d.lookup("eth1.250") == tagged
    assert Demux.from_config("eth1", DemuxConfig.model_validate({"enabled": True})).untagged is False

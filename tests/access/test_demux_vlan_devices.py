"""Kernel VLAN device chains (abng/dataplane/vlan_devices.py).

The real-kernel test needs 802.1Q; this development kernel has none (MACHINE.md §0), so it
skips with that reason after probing in a throwaway namespace. The ordering/refcount logic is
checked against a recording stand-in for pyroute2's IPRoute (a third-party API, not ours).
"""

from __future__ import annotations

import errno
import json
from collections.abc import Iterator
from typing import Any

import pytest
from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from abng.access.demux import AccessInterface, Demux, Profile, kernel_ifname
from abng.access.frames import TPID_8021AD, TPID_8021Q, VlanTag
from abng.dataplane.vlan_devices import KernelVlanBackend, probe_vlan_support
from tests.helpers.netns import netns, ns_run, requires_root, veth_pair


class RecordingIPRoute:
    """Just enough of IPRoute.link/link_lookup to record what the backend asks for."""

    def __init__(self) -> None:
        self.links: dict[str, int] = {"eth1": 2}
        self.log: list[tuple[str, str]] = []

    def link_lookup(self, ifname: str) -> list[int]:
        return [self.links[ifname]] if ifname in self.links else []

    def link(self, cmd: str, **kw: Any) -> None:
        if cmd == "add":
            if kw["ifname"] in self.links:
                raise NetlinkError(errno.EEXIST)
            assert kw["link"] in self.links.values() and kw["kind"] == "vlan"
            self.links[kw["ifname"]] = max(self.links.values()) + 1
            self.log.append(("add", kw["ifname"]))
        elif cmd == "del":
            name = next(n for n, i in self.links.items() if i == kw["index"])
            del self.links[name]
            self.log.append(("del", name))


def iface(*vids: int) -> AccessInterface:
    tags = tuple(VlanTag(TPID_8021AD if i == 0 else TPID_8021Q, v) for i, v in enumerate(vids))
    name = "eth1." + ".".join(map(str, vids))
    return AccessInterface(name, kernel_ifname(name), "eth1", tags, ("pppoe",), "p")


def test_chain_created_outer_first_removed_inner_first_sharing_parents() -> None:
    ipr = RecordingIPRoute()
    be = KernelVlanBackend(ipr)
    a, b = iface(111, 500, 100), iface(111, 500, 101)
    be.ensure(a)
    be.ensure(a)  # idempotent
    be.ensure(b)
    leaf_a, leaf_b = kernel_ifname("eth1.111.500.100"), kernel_ifname("eth1.111.500.101")
    assert ipr.log == [("add", "eth1.111"), ("add", "eth1.111.500"), ("add", leaf_a), ("add", leaf_b)]
    assert be.devices() == {"eth1.111": 2, "eth1.111.500": 2, leaf_a: 1, leaf_b: 1}
    ipr.log.clear()
    be.remove(a)
    assert ipr.log == [("del", leaf_a)]  # parents still carry b
    be.remove(a)  # idempotent
    be.remove(b)
    assert ipr.log == [("del", leaf_a), ("del", leaf_b), ("del", "eth1.111.500"), ("del", "eth1.111")]
    assert be.devices() == {} and set(ipr.links) == {"eth1"}


def test_missing_trunk_is_our_misuse() -> None:
    be = KernelVlanBackend(RecordingIPRoute())
    bad = AccessInterface("eth9.1", "eth9.1", "eth9", (VlanTag(TPID_8021Q, 1),), (), None)
    with pytest.raises(LookupError):
        be.ensure(bad)


@pytest.fixture
def vlan_ns() -> Iterator[str]:
    with netns("vl") as ns:
        yield ns


@pytest.mark.netns
@requires_root
def test_real_vlan_chain_in_a_namespace(vlan_ns: str) -> None:
    if not probe_vlan_support(vlan_ns):
        pytest.skip(
            "kernel has no 802.1Q (CONFIG_VLAN_8021Q absent, MACHINE.md §0): kernel VLAN backend untested"
        )
    trunk, _ = veth_pair(vlan_ns, vlan_ns)
    d = Demux(trunk, [Profile("p", trunk, frozenset({111}), (1, 999), (1, 4094), require_packets=1)])
    tags = (VlanTag(TPID_8021AD, 111), VlanTag(TPID_8021Q, 500), VlanTag(TPID_8021Q, 100))
    created = d.classify(tags, 0.0)
    assert isinstance(created, AccessInterface)
    with IPRoute(netns=vlan_ns) as ipr:
        be = KernelVlanBackend(ipr)
        be.ensure(created)
        links = json.loads(ns_run(vlan_ns, "ip", "-j", "-d", "link", "show").stdout)
        by_name = {link["ifname"]: link for link in links}
        assert created.kernel_name in by_name
        outer = by_name[f"{trunk}.111"]
        assert outer["linkinfo"]["info_data"]["protocol"] == "802.1ad"
        be.remove(created)
        links = json.loads(ns_run(vlan_ns, "ip", "-j", "link", "show").stdout)
        assert {link["ifname"] for link in links} & {f"{trunk}.111", created.kernel_name} == set()


@pytest.mark.netns
@requires_root
def test_probe_reports_this_kernel_honestly(vlan_ns: str) -> None:
    """The probe agrees with /proc/net/vlan (present only when 8021q is built in or loaded)."""
    import os

    assert probe_vlan_support(vlan_ns) == os.path.exists("/proc/net/vlan")

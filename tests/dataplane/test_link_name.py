"""``link_name``: the one ``ifname`` both QoS backends use (was duplicated in qos_cake/qos_htb)."""

from __future__ import annotations

import socket

from pyroute2 import IPRoute

from abng.dataplane.qos import link_name


def test_link_name_by_index() -> None:
    with IPRoute() as ipr:
        assert link_name(ipr, socket.if_nametoindex("lo")) == "lo"
        assert link_name(ipr, 0) is None
        assert link_name(ipr, 2**31 - 1) is None  # no such device: ENODEV is None, not an error

"""detect.py on this machine (MACHINE.md: no cake/vlan/vrf/ppp; htb/ifb/nftables work)."""

from __future__ import annotations

import contextlib
import os
import subprocess

import pytest
from pyroute2 import netns

from abng.dataplane.detect import DataplaneUnavailable, choose_backend, detect
from abng.dataplane.nft import nft_available
from tests.helpers.netns import requires_root, run


@requires_root
def test_detect_this_machine_leaves_nothing_behind() -> None:
    before = set(run("ip", "netns", "list").stdout.split())
    info = detect("auto")
    assert info.backend == "userspace"
    assert info.features["htb"] and info.features["ifb"]
    assert info.features["nftables"] == nft_available()
    for missing in ("cake", "vlan", "vrf", "ppp"):
        assert info.features[missing] is False
        assert info.reasons[missing]
    assert "htb" not in info.reasons
    after = set(run("ip", "netns", "list").stdout.split())
    assert after <= before  # no probe namespace left (older leftovers of other runs may stay)
    assert info.as_dict()["backend"] == "userspace"
    with pytest.raises(TypeError):
        info.features["cake"] = True  # type: ignore[index]


@requires_root
def test_probe_namespace_of_a_killed_process_is_removed() -> None:
    child = subprocess.Popen(["true"])
    child.wait()  # its pid is now free: a namespace named after it is a leftover
    stale, live = f"abng-probe-{child.pid}-dead", f"abng-probe-{os.getpid()}-live"
    for name in (stale, live):
        netns.create(name)
    try:
        detect("auto")
        names = set(netns.listnetns())
        assert stale not in names and live in names  # a running prober's namespace is kept
    finally:
        for name in (stale, live):
            with contextlib.suppress(OSError):
                netns.remove(name)


def test_choose_backend_table() -> None:
    full = {"vlan": True, "ppp": True, "cake": True, "htb": True, "ifb": True}
    here = {"vlan": False, "ppp": False, "cake": False, "htb": True, "ifb": True}
    assert choose_backend("auto", full) == "kernel"
    assert choose_backend("userspace", full) == "userspace"
    assert choose_backend("auto", here) == "userspace"
    with pytest.raises(DataplaneUnavailable, match="vlan, ppp, cake"):
        choose_backend("kernel", here)
    with pytest.raises(DataplaneUnavailable):
        choose_backend("auto", {"htb": False})

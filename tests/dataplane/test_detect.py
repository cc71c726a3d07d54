"""detect.py on this machine (MACHINE.md: no cake/vlan/vrf/ppp; htb/ifb/nftables work)."""

from __future__ import annotations

import pytest

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
    assert after <= before | set()  # no probe namespace left
    assert not [n for n in after if n.startswith("abng-probe")]
    assert info.as_dict()["backend"] == "userspace"
    with pytest.raises(TypeError):
        info.features["cake"] = True  # type: ignore[index]


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

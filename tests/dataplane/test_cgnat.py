"""CGNAT steering: enable, bypass, change, disable; read back with `ip -j rule/route` and `nft -j`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from abng.dataplane.cgnat import CgnatConfig, CgnatManager, nft_ruleset
from tests.dataplane.dp_util import requires_root
from tests.helpers.netns import netns, ns_run, veth_pair


def _rules(ns: str) -> list[dict[str, Any]]:
    return [r for r in json.loads(ns_run(ns, "ip", "-j", "rule").stdout) if "fwmark" in r]


def _routes(ns: str, table: int) -> list[dict[str, Any]]:
    proc = ns_run(ns, "ip", "-j", "route", "show", "table", str(table), check=False)
    return json.loads(proc.stdout) if proc.returncode == 0 and proc.stdout.strip() else []


def _nft(ns: str) -> list[dict[str, Any]]:
    return list(json.loads(ns_run(ns, "nft", "-j", "list", "ruleset").stdout)["nftables"])


@pytest.fixture
def handoff() -> Iterator[tuple[str, str]]:
    with netns("cgn") as ns, netns("cga") as appliance:
        a, _b = veth_pair(ns, appliance, prefix="cg")
        ns_run(ns, "ip", "addr", "add", "10.99.0.2/24", "dev", a)
        yield ns, a


def test_is_steered_and_ruleset_shape() -> None:
    cfg = CgnatConfig(True, handoff_interface="eth3", handoff_gateway="10.99.0.1", fwmark="0x64")
    cmds = nft_ruleset(cfg, ["100.64.0.9"])
    rule = next(c["add"]["rule"] for c in cmds if "rule" in c.get("add", {}))
    assert rule["expr"][0]["match"]["right"] == {"prefix": {"addr": "100.64.0.0", "len": 10}}
    assert rule["expr"][2]["mangle"]["value"] == 0x64
    assert cmds[-1]["add"]["element"]["elem"] == ["100.64.0.9"]


@requires_root
def test_enable_bypass_change_disable(handoff: tuple[str, str]) -> None:
    ns, dev = handoff
    mgr = CgnatManager(has_vrf=False, netns=ns)
    cfg = CgnatConfig(True, handoff_interface=dev, handoff_gateway="10.99.0.1", fwmark="0x64")
    try:
        assert mgr.is_steered("100.64.0.5", False) is False  # not enabled yet
        mgr.ensure(cfg)
        mgr.ensure(cfg)  # idempotent: still one rule
        rules = _rules(ns)
        assert len(rules) == 1 and rules[0]["fwmark"] == "0x64" and rules[0]["table"] == "100"
        assert [(r["dst"], r["gateway"], r["dev"]) for r in _routes(ns, 100)] == [
            ("default", "10.99.0.1", dev)
        ]
        assert mgr.session_up("100.64.0.5", bypass=True) is False
        assert mgr.session_up("100.64.0.6", bypass=False) is True
        assert mgr.session_up("203.0.113.7", bypass=False) is False  # public address: not steered
        ruleset = _nft(ns)
        tables = [i["table"]["name"] for i in ruleset if "table" in i]
        assert tables == ["abng_cgnat"]
        bypass = next(i["set"] for i in ruleset if "set" in i)
        assert bypass["elem"] == ["100.64.0.5"]
        rule = next(i["rule"] for i in ruleset if "rule" in i)
        assert rule["expr"][-1]["mangle"]["value"] == 0x64
        mgr.session_down("100.64.0.5")
        assert "elem" not in next(i["set"] for i in _nft(ns) if "set" in i)
        mgr.session_up("100.64.0.7", bypass=True)
        new = CgnatConfig(
            True, vrf_table=101, handoff_interface=dev, handoff_gateway="10.99.0.3", fwmark=0x65
        )
        mgr.apply_change(cfg, new)
        rules = _rules(ns)
        assert len(rules) == 1 and rules[0]["fwmark"] == "0x65" and rules[0]["table"] == "101"
        assert _routes(ns, 100) == [] and _routes(ns, 101)[0]["gateway"] == "10.99.0.3"
        assert mgr.state().bypass == frozenset({"100.64.0.7"})  # survives the change
        mgr.apply_change(new, CgnatConfig(False))
        assert _rules(ns) == [] and _routes(ns, 101) == []
        assert [i for i in _nft(ns) if "table" in i] == []
        st = mgr.state()
        assert not st.rule and st.default_route is None and not st.nft_table and not st.bypass
        assert mgr.is_steered("100.64.0.6", False) is False
    finally:
        mgr.disable()
        mgr.close()

"""The policy service in-process: sessions through the SessionManager, state read from the kernel."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from abng.core.events import EventName
from abng.core.model import SessionType, TerminateReason
from abng.core.sessions import SessionFailed
from abng.dataplane.service import WATCH_INTERVAL
from tests.helpers.netns import ns_run
from tests.policy.conftest import (
    HANDOFF_GW,
    TUN,
    Env,
    add_tun,
    classes,
    filters,
    nft_bypass,
    nft_table,
    routes188,
    rules,
)

pytestmark = pytest.mark.usefixtures("policy_ns")
IFB = f"ifb-{TUN}"


def route_ips(ns: str) -> set[str]:
    return {r["dst"] for r in routes188(ns)}


async def test_session_up_change_down_read_back(env: Env) -> None:
    s = await env.up(1, "100.64.0.7", rate_down="20mbit", rate_up="5mbit")
    assert sorted(classes(env.ns, TUN).values()) == [20_000_000]
    assert sorted(classes(env.ns, IFB).values()) == [5_000_000]
    assert len(filters(env.ns, TUN)) == 1 and len(filters(env.ns, IFB)) == 1
    assert route_ips(env.ns) == {"100.64.0.7"}
    (q,) = await env.rpc("show.qos")
    assert q["session_id"] == s.id and q["installed"] is True
    assert (q["rate_down"], q["rate_up"], q["overhead"], q["mpu"]) == (20_000_000, 5_000_000, 34, 64)
    (r,) = await env.rpc("show.routes")
    assert r == {"destination": "100.64.0.7/32", "gateway": None, "interface": TUN,
                 "protocol": "abng", "table": 254, "session_id": s.id}  # fmt: skip

    handles = set(classes(env.ns, TUN))
    await env.mgr.change_rate(s.id, "50mbit", None, "api")
    assert classes(env.ns, TUN) == dict.fromkeys(handles, 50_000_000)  # same handle: changed in place
    assert sorted(classes(env.ns, IFB).values()) == [5_000_000]

    await env.mgr.terminate(s.id, TerminateReason.ADMIN_RESET)
    assert classes(env.ns, TUN) == {} and classes(env.ns, IFB) == {}
    assert filters(env.ns, TUN) == [] and filters(env.ns, IFB) == []
    assert route_ips(env.ns) == set()
    assert await env.rpc("show.qos") == [] and await env.rpc("show.routes") == []


async def test_defaults_profiles_and_pppoe_route_mtu(env: Env) -> None:
    errors: list[dict[str, Any]] = []
    env.daemon.bus.subscribe(lambda e: errors.append(e) if e["event"] == EventName.ERROR else None)
    await env.up(1, "100.64.0.10")  # no rates: qos.default_down / default_up
    await env.up(2, "100.64.0.11", overhead_profile="ipoe_ethernet", rate_down="30mbit")
    await env.up(3, "100.64.0.12", SessionType.PPPOE, overhead_profile="nonexistent")
    by_ip = {q["ip_address"]: q for q in await env.rpc("show.qos")}
    assert (by_ip["100.64.0.10"]["rate_down"], by_ip["100.64.0.10"]["rate_up"]) == (100_000_000, 40_000_000)
    assert (by_ip["100.64.0.11"]["rate_down"], by_ip["100.64.0.11"]["rate_up"]) == (30_000_000, 40_000_000)
    assert by_ip["100.64.0.11"]["overhead"] == 22
    assert by_ip["100.64.0.12"]["overhead"] == 34  # unknown profile: the default one, and an error event
    assert any("nonexistent" in e["data"].get("message", "") for e in errors)
    profiles = await env.rpc("show.qos.profiles")
    assert profiles["in_use"]["pppoe_ethernet"] == 2 and profiles["in_use"]["ipoe_ethernet"] == 1
    mtus = {r["dst"]: r.get("metrics", [{}])[0].get("mtu") for r in routes188(env.ns)}
    assert mtus == {"100.64.0.10": None, "100.64.0.11": None, "100.64.0.12": 1492}


async def test_qos_commit_disable_enable_and_default_change(env: Env) -> None:
    await env.up(1, "100.64.0.20")
    await env.up(2, "100.64.0.21", rate_down="10mbit", rate_up="2mbit")
    await env.commit(("qos default_down", "60mbit"))
    assert sorted(classes(env.ns, TUN).values()) == [10_000_000, 60_000_000]
    await env.commit(("qos enabled", False))
    assert classes(env.ns, TUN) == {} and classes(env.ns, IFB) == {}
    assert route_ips(env.ns) == {"100.64.0.20", "100.64.0.21"}  # routes stay without QoS
    await env.commit(("qos enabled", True))
    assert sorted(classes(env.ns, TUN).values()) == [10_000_000, 60_000_000]
    assert sorted(classes(env.ns, IFB).values()) == [2_000_000, 40_000_000]


async def test_cgnat_enable_steering_bypass_and_disable(env: Env) -> None:
    a = await env.up(1, "100.64.0.30")
    b = await env.up(2, "100.64.0.31", cgnat_bypass=True)
    c = await env.up(3, "192.0.2.40")  # public address: never steered
    assert nft_table(env.ns) == []
    await env.commit(("cgnat enabled", True))
    assert next(r for r in rules(env.ns) if r.get("table") == "100")["fwmark"] == "0x64"
    assert routes_in(env.ns, "100") == [{"dst": "default", "gateway": HANDOFF_GW}]
    assert nft_bypass(env.ns) == {"100.64.0.31"}
    assert (a.vrf_steered, b.vrf_steered, c.vrf_steered) == (True, False, False)
    d = await env.up(4, "100.64.0.32", cgnat_bypass=True)
    assert d.vrf_steered is False and nft_bypass(env.ns) == {"100.64.0.31", "100.64.0.32"}
    e = await env.up(5, "100.64.0.33")
    assert e.vrf_steered is True
    await env.mgr.terminate(d.id, TerminateReason.USER_REQUEST)
    assert nft_bypass(env.ns) == {"100.64.0.31"}
    await env.commit(("cgnat enabled", False))
    assert nft_table(env.ns) == [] and [r for r in rules(env.ns) if r.get("table") == "100"] == []
    assert routes_in(env.ns, "100") == []
    assert not any(s.vrf_steered for s in env.mgr.table)


def routes_in(ns: str, table: str) -> list[dict[str, Any]]:
    import json

    out = json.loads(ns_run(ns, "ip", "-j", "route", "show", "table", table).stdout or "[]")
    return [{"dst": r["dst"], "gateway": r.get("gateway")} for r in out]


async def test_burst_is_batched_and_leaves_nothing(env: Env) -> None:
    n = 400
    sessions = await asyncio.gather(*(env.up(i, f"100.65.{i >> 8}.{i & 0xFF}") for i in range(1, n + 1)))
    assert len(classes(env.ns, TUN)) == n and len(classes(env.ns, IFB)) == n
    assert len(route_ips(env.ns)) == n
    assert env.svc.stats["batches"] < n / 4  # bursts share netlink batches
    shown = await env.rpc("show.qos")
    assert len(shown) == n and all(q["installed"] for q in shown)
    await asyncio.gather(*(env.mgr.terminate(s.id, TerminateReason.ADMIN_RESET) for s in sessions))
    assert classes(env.ns, TUN) == {} and classes(env.ns, IFB) == {}
    assert filters(env.ns, TUN) == [] and filters(env.ns, IFB) == [] and route_ips(env.ns) == set()


async def test_refused_policy_tears_down_only_that_session(env: Env) -> None:
    await env.commit(("cgnat enabled", True))
    good = await env.up(1, "100.64.0.50")
    ns_run(env.ns, "nft", "delete", "table", "inet", "abng_cgnat")  # behind abngd's back
    with pytest.raises(SessionFailed):
        await env.up(2, "100.64.0.51", cgnat_bypass=True)  # the bypass set is gone: nft refuses
    assert env.mgr.find(good.id) is not None and len(env.mgr.table) == 1
    assert env.svc.stats["errors"] == 1
    assert route_ips(env.ns) == {"100.64.0.50"} and len(classes(env.ns, TUN)) == 1


async def test_device_recreated_reapplies(env: Env) -> None:
    await env.up(1, "100.64.0.60", rate_down="7mbit", rate_up="3mbit")
    ns_run(env.ns, "ip", "link", "del", TUN)
    assert route_ips(env.ns) == set()
    add_tun(env.ns)
    for _ in range(int(10 / WATCH_INTERVAL) * 4):
        await asyncio.sleep(WATCH_INTERVAL / 4)
        if route_ips(env.ns) and classes(env.ns, TUN):
            break
    assert route_ips(env.ns) == {"100.64.0.60"}
    assert list(classes(env.ns, TUN).values()) == [7_000_000]
    assert list(classes(env.ns, IFB).values()) == [3_000_000]


async def test_10000_sessions_come_and_go_nothing_left(env: Env) -> None:
    await env.commit(("cgnat enabled", True))
    n = 10_000
    ups = [env.up(i, f"100.{64 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}", cgnat_bypass=i % 7 == 0)
           for i in range(1, n + 1)]  # fmt: skip
    sessions = await asyncio.gather(*ups)
    assert len(classes(env.ns, TUN)) == n and len(classes(env.ns, IFB)) == n
    assert len(route_ips(env.ns)) == n and len(nft_bypass(env.ns)) == n // 7
    await asyncio.gather(*(env.mgr.terminate(s.id, TerminateReason.USER_REQUEST) for s in sessions))
    assert classes(env.ns, TUN) == {} and classes(env.ns, IFB) == {}
    assert filters(env.ns, TUN) == [] and filters(env.ns, IFB) == []
    assert route_ips(env.ns) == set() and nft_bypass(env.ns) == set()
    assert env.svc.applied == {} and await env.rpc("show.qos") == []
    assert env.svc.stats["errors"] == 0


async def test_session_records_show_the_default_rates_applied(env: Env) -> None:
    """Review gap 3: a session on qos.default_* shows those rates (record, RPC), and follows them."""
    a = await env.up(1, "100.64.0.60")  # no rates of its own
    b = await env.up(2, "100.64.0.61", rate_down="30mbit")  # own down, default up
    rest = {s.id: s.to_rest() for s in (a, b)}  # what show.subscribers / REST publish
    assert (rest[a.id]["rate_down"], rest[a.id]["rate_up"]) == (100_000_000, 40_000_000)
    assert (rest[b.id]["rate_down"], rest[b.id]["rate_up"]) == (30_000_000, 40_000_000)
    assert a.to_rpc()["speed_down"] == "100mbit"
    await env.mgr.change_rate(a.id, None, "5mbit", "radius_coa")  # up becomes its own
    await env.commit(("qos default_down", "60mbit"), ("qos default_up", "20mbit"))
    assert (a.rate_down, a.rate_up) == (60_000_000, 5_000_000)  # down follows the defaults
    assert (b.rate_down, b.rate_up) == (30_000_000, 20_000_000)
    assert sorted(classes(env.ns, TUN).values()) == [30_000_000, 60_000_000]
    await env.commit(("qos enabled", False))
    assert (a.rate_down, a.rate_up, b.rate_down, b.rate_up) == (None, 5_000_000, 30_000_000, None)
    c = await env.up(3, "100.64.0.62")  # activated with QoS off: no rate applied, none shown
    assert (c.rate_down, c.rate_up) == (None, None)
    await env.commit(("qos enabled", True))
    assert (c.rate_down, c.rate_up) == (60_000_000, 20_000_000)


async def test_session_records_show_the_default_overhead_profile_applied(env: Env) -> None:
    """A session without an overhead profile of its own shows qos.default_overhead_profile (null
    with QoS off) and follows its commits; one with its own profile keeps it."""
    default = env.daemon.applied.qos.default_overhead_profile
    a = await env.up(1, "100.64.0.70")
    b = await env.up(2, "100.64.0.71", overhead_profile="ipoe_ethernet")
    assert (a.overhead_profile, b.overhead_profile) == (default, "ipoe_ethernet")
    assert a.to_rest_detail()["overhead_profile"] == a.to_rpc()["overhead_profile"] == default
    (row,) = [r for r in await env.rpc("show.qos") if r["session_id"] == a.id]
    assert row["overhead_profile"] == a.overhead_profile
    other = "pppoe_qinq" if default != "pppoe_qinq" else "ipoe_ethernet"
    await env.commit(("qos default_overhead_profile", other))
    assert (a.overhead_profile, b.overhead_profile) == (other, "ipoe_ethernet")
    await env.commit(("qos enabled", False))
    assert (a.overhead_profile, b.overhead_profile) == (None, "ipoe_ethernet")
    await env.commit(("qos enabled", True))
    assert a.overhead_profile == other

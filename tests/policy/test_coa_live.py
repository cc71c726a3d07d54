"""CoA/Disconnect against a live abngd (radclient as the real client) and the restore path.

abngd runs in its own namespace with qos and coa enabled and no access protocol; its sessions
are seeded into the session store before start (the restore path), so their shaping and routes
must be re-applied at start-up.  Kernel state is read back with tc / ip in that namespace.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from abng.core.model import Session, SessionType
from tests.helpers.daemon import AbngdHandle, sample_session
from tests.helpers.freeradius import free_udp_port
from tests.helpers.netns import delete_netns, ns_run
from tests.policy.conftest import base_config, classes, make_netns, requires_root, routes188
from tests.policy.live import EventReader, dictdir, radclient, start_in_ns, write_config

pytestmark = [
    requires_root,
    pytest.mark.skipif(shutil.which("radclient") is None, reason="radclient (freeradius-utils) missing"),
]

DEV, IFB = "abng0", "ifb-abng0"
N = 8


def seeded() -> list[Session]:
    out = []
    for i in range(1, N + 1):
        kind = SessionType.PPPOE if i % 2 else SessionType.DHCP
        out.append(
            sample_session(i, kind, ip_address=f"100.64.0.{10 + i}", access_interface=f"trunk0.100.{i}")
        )
    return out


@dataclass
class Live:
    ns: str
    base: Path
    d: AbngdHandle
    port: int
    dictdir: Path

    def coa(self, command: str, attrs: str, secret: str = "testing123") -> tuple[int, str]:
        return radclient(self.ns, self.dictdir, self.port, command, attrs, secret)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    base = tmp_path_factory.mktemp("coalive")
    ns = make_netns("pcoa")
    handle: AbngdHandle | None = None
    try:
        ns_run(ns, "ip", "tuntap", "add", DEV, "mode", "tun")
        ns_run(ns, "ip", "link", "set", DEV, "up")
        port = free_udp_port()
        cfg = base_config()
        cfg["radius"] = {
            "servers": [{"host": "127.0.0.1", "secret": "testing123"}],
            "coa_enabled": True,
            "coa_port": port,
            "coa_listen": "127.0.0.1",
        }
        write_config(base, cfg)
        handle = start_in_ns(ns, base, seeded())
        yield Live(ns, base, handle, port, dictdir(base))
    finally:
        if handle is not None:
            handle.stop()
        delete_netns(ns)


def acct_id(i: int) -> str:
    return f"abng-{1_700_000_000 + i}-{i}"


def route_ips(ns: str) -> set[str]:
    return {r["dst"] for r in routes188(ns)}


def test_restored_sessions_are_shaped_and_routed(live: Live) -> None:
    system = live.d.call("show.system")
    assert system["dataplane"]["backend"] == "userspace" and system["dataplane"]["qos"]["pending"] == 0
    assert live.d.call("system.health")["dataplane"] == {"backend": "userspace"}
    qos = live.d.call("show.qos")
    assert len(qos) == N and all(q["installed"] for q in qos)
    assert sorted(classes(live.ns, DEV).values()) == [100_000_000] * N
    assert sorted(classes(live.ns, IFB).values()) == [40_000_000] * N
    assert route_ips(live.ns) == {f"100.64.0.{10 + i}" for i in range(1, N + 1)}
    routes = live.d.call("show.routes")
    assert {r["session_id"] for r in routes} == set(range(1, N + 1))


def test_coa_rate_change_ack_event_and_kernel(live: Live) -> None:
    events = EventReader(live.d.socket_path, ["rate_change"])
    try:
        rc, out = live.coa(
            "coa",
            f'Acct-Session-Id = "{acct_id(1)}"\nAthena-Rate-Down = "25mbit"\nAthena-Rate-Up = "10mbit"\n',
        )
        assert rc == 0 and "CoA-ACK" in out, out
        ev = events.next()
        assert ev is not None and ev["event"] == "rate_change"
        assert ev["data"]["source"] == "radius_coa" and ev["data"]["session_id"] == 1
        assert (ev["data"]["rate_down"], ev["data"]["rate_up"]) == (25_000_000, 10_000_000)
    finally:
        events.close()
    q = next(q for q in live.d.call("show.qos") if q["session_id"] == 1)
    assert (q["rate_down"], q["rate_up"], q["installed"]) == (25_000_000, 10_000_000, True)
    assert 25_000_000 in classes(live.ns, DEV).values() and 10_000_000 in classes(live.ns, IFB).values()
    assert len(classes(live.ns, DEV)) == N  # changed in place: no class added

    # the other identifiers: Framed-IP-Address, NAS-Port-Id (+ User-Name, all must match)
    rc, out = live.coa("coa", 'Framed-IP-Address = 100.64.0.13\nAthena-Rate-Down = "7000000"\n')
    assert rc == 0 and "CoA-ACK" in out, out
    rc, out = live.coa("coa", 'NAS-Port-Id = "trunk0.100.5"\nUser-Name = "user5"\nAthena-Rate-Up = "3mbit"\n')
    assert rc == 0 and "CoA-ACK" in out, out
    by_id = {q["session_id"]: q for q in live.d.call("show.qos")}
    assert by_id[3]["rate_down"] == 7_000_000 and by_id[5]["rate_up"] == 3_000_000
    detail = live.d.call("subscribers.get", {"session_id": 3})
    assert detail["rate_down"] == 7_000_000


def test_disconnect_ack_ends_session_and_removes_policy(live: Live) -> None:
    rc, out = live.coa("disconnect", 'User-Name = "user2"\n')
    assert rc == 0 and "Disconnect-ACK" in out, out
    hist = {h["id"]: h for h in live.d.call("subscribers.history")}
    assert hist[2]["reason"] == "admin_reset"
    assert "100.64.0.12" not in route_ips(live.ns)
    assert 2 not in {q["session_id"] for q in live.d.call("show.qos")}
    assert len(classes(live.ns, DEV)) == len(live.d.call("show.qos"))
    rc, out = live.coa("disconnect", 'User-Name = "user2"\n')  # gone now
    assert rc != 0 and "Disconnect-NAK" in out and "Session-Context-Not-Found" in out, out


A4 = f'Acct-Session-Id = "{acct_id(4)}"\n'
UNKNOWN = 'Acct-Session-Id = "abng-1-999"\n'
NAK_CASES = [
    ("coa", UNKNOWN + 'Athena-Rate-Down = "5mbit"\n', "CoA-NAK", "Session-Context-Not-Found"),
    ("disconnect", UNKNOWN, "Disconnect-NAK", "Session-Context-Not-Found"),
    ("coa", 'Athena-Rate-Down = "5mbit"\n', "CoA-NAK", "Missing-Attribute"),
    ("coa", A4 + 'Filter-Id = "gold"\n', "CoA-NAK", "Unsupported-Attribute"),
    ("coa", A4 + 'Athena-Rate-Down = "fast"\n', "CoA-NAK", "Invalid-Request"),
    ("coa", A4 + 'Athena-Rate-Down = "999gbit"\n', "CoA-NAK", "Invalid-Request"),
    ("coa", A4 + 'Athena-Overhead-Profile = "nope"\n', "CoA-NAK", "Resources-Unavailable"),
]


@pytest.mark.parametrize(("command", "attrs", "nak", "cause"), NAK_CASES)
def test_nak_cases(live: Live, command: str, attrs: str, nak: str, cause: str) -> None:
    before = next(q for q in live.d.call("show.qos") if q["session_id"] == 4)
    rc, out = live.coa(command, attrs)
    assert rc != 0 and nak in out and f"Error-Cause = {cause}" in out, out
    after = next(q for q in live.d.call("show.qos") if q["session_id"] == 4)
    assert after == before  # shaping untouched


def test_bad_secret_and_unknown_source_are_silent(live: Live) -> None:
    rc, out = live.coa(
        "coa", f'Acct-Session-Id = "{acct_id(6)}"\nAthena-Rate-Down = "5mbit"\n', secret="wrong"
    )
    assert rc != 0 and "No reply" in out and "NAK" not in out, out
    assert live.d.call("show.coa")["stats"].get("drop_bad_authenticator", 0) >= 1
    # only 192.0.2.77 may send CoA now: 127.0.0.1 is an unknown source
    live.d.call("config.set", {"path": "radius coa_clients", "value": ["192.0.2.77"]})
    live.d.call("config.set", {"path": "radius coa_secret", "value": "testing123"})
    assert live.d.call("config.commit", {"user": "test"})["committed"] is True
    try:
        rc, out = live.coa("coa", f'Acct-Session-Id = "{acct_id(6)}"\nAthena-Rate-Down = "5mbit"\n')
        assert rc != 0 and "No reply" in out, out
        assert live.d.call("show.coa")["stats"].get("drop_unknown_client") == 1
    finally:
        live.d.call("config.delete", {"path": "radius coa_clients"})
        live.d.call("config.delete", {"path": "radius coa_secret"})
        live.d.call("config.commit", {"user": "test"})
    rc, out = live.coa("coa", f'Acct-Session-Id = "{acct_id(6)}"\nAthena-Rate-Down = "5mbit"\n')
    assert rc == 0 and "CoA-ACK" in out, out


def test_restart_reapplies_restored_sessions(live: Live) -> None:
    shown = {q["session_id"]: (q["rate_down"], q["rate_up"]) for q in live.d.call("show.qos")}
    assert live.d.stop() == 0
    assert classes(live.ns, DEV) == {}  # shutdown released the shaping tree and the IFB
    for ip in route_ips(live.ns):
        ns_run(live.ns, "ip", "route", "del", f"{ip}/32")
    ns_run(live.ns, "ip", "route", "add", "100.64.9.9/32", "dev", DEV, "proto", "188")  # stale
    live.d = start_in_ns(live.ns, live.base)
    again = {q["session_id"]: (q["rate_down"], q["rate_up"]) for q in live.d.call("show.qos")}
    assert again == shown and all(q["installed"] for q in live.d.call("show.qos"))
    assert route_ips(live.ns) == {r["destination"].split("/")[0] for r in live.d.call("show.routes")}
    assert "100.64.9.9" not in route_ips(live.ns) and len(route_ips(live.ns)) == len(shown)


def test_coa_overhead_profile_recreates_classes(live: Live) -> None:
    before = next(q for q in live.d.call("show.qos") if q["session_id"] == 7)
    assert before["overhead"] == 34
    rc, out = live.coa(
        "coa", f'Acct-Session-Id = "{acct_id(7)}"\nAthena-Overhead-Profile = "ipoe_ethernet"\n'
    )
    assert rc == 0 and "CoA-ACK" in out, out
    after = next(q for q in live.d.call("show.qos") if q["session_id"] == 7)
    assert (after["overhead"], after["mpu"], after["overhead_profile"]) == (22, 64, "ipoe_ethernet")
    assert (after["rate_down"], after["rate_up"], after["installed"]) == (
        before["rate_down"],
        before["rate_up"],
        True,
    )
    assert live.d.call("subscribers.get", {"session_id": 7})["overhead_profile"] == "ipoe_ethernet"

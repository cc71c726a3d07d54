"""PPPoE end to end with local AAA against a live abngd (untagged, demux disabled):
pppoe-discovery (Debian pppoe) as an outside client; the project's client for PAP and CHAP;
traffic to an upstream host; PADT from either side; keepalive failure; restart with sessions kept."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from abng.access.pppoe.service import PPP_STATE_REFRESH
from tests.e2e.pppoe_client import PppoeClient
from tests.e2e.topology import UPSTREAM_HOST, Topo, topology
from tests.helpers.netns import ns_run, requires_root

pytestmark = requires_root


@pytest.fixture(scope="module")
def topo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topo]:
    tmp = tmp_path_factory.mktemp("pppoe-local")
    with topology(tmp) as t:
        t.start_abngd(t.config())
        yield t


def pppoe_subs(topo: Topo) -> list[dict]:
    return topo.subscribers(type="pppoe")


def ended(topo: Topo, sid: int) -> dict | None:
    return next((h for h in topo.call("subscribers.history", {"limit": 50}) if h["id"] == sid), None)


def test_pppoe_discovery_outside_client(topo: Topo) -> None:
    res = ns_run(topo.cli, "timeout", "10", "pppoe-discovery", "-I", topo.cli_if, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "abng-e2e" in res.stdout  # our AC-Name in the PADO
    assert "Got a cookie" in res.stdout
    assert not pppoe_subs(topo)  # PADI/PADO create no state


def test_pap_session_ping_and_client_padt(topo: Topo) -> None:
    with PppoeClient(topo.cli, topo.cli_if, "alice", "secret1", auth=("pap",)).start() as c:
        up = c.wait_up()
        assert up.ip.startswith("100.64.0.") and up.gateway == "100.64.0.1"
        s = topo.wait(lambda: [x for x in pppoe_subs(topo) if x["state"] == "active"], 20, "active pppoe")[0]
        assert s["username"] == "alice" and s["ip_address"] == up.ip
        assert s["ppp_interface"] == f"ppp{c.session_id}" and s["interface"] == topo.trunk
        assert c.ping(UPSTREAM_HOST)
        c.padt()
        topo.wait(lambda: ended(topo, s["id"]), 20, "session end after PADT")
    h = ended(topo, s["id"])
    assert h is not None and h["reason"] == "user_request"
    assert h["bytes_in"] > 0 and h["bytes_out"] > 0


def test_chap_session_admin_disconnect_sends_padt(topo: Topo) -> None:
    with PppoeClient(topo.cli, topo.cli_if, "bob", "secret2", auth=("chap",)).start() as c:
        c.wait_up()
        s = topo.wait(
            lambda: [x for x in pppoe_subs(topo) if x["username"] == "bob" and x["state"] == "active"],
            20,
            "bob",
        )[0]
        assert s["speed_down"] in ("50mbit", "50Mbit", "50 Mbit") or "50" in str(s["speed_down"])
        topo.call("request.subscriber.disconnect", {"session_id": s["id"]})
        c.wait(lambda: c.terminated, 10, "PADT from the BNG")
    h = ended(topo, s["id"])
    assert h is not None and h["reason"] == "admin_reset"


def test_wrong_password_gets_no_session(topo: Topo) -> None:
    with PppoeClient(topo.cli, topo.cli_if, "alice", "wrong", auth=("pap",)).start() as c:
        c.wait(lambda: c.down_reason is not None or c.terminated, 20, "auth failure")
        assert c.up is None
    assert not [x for x in pppoe_subs(topo) if x["state"] == "active"]


def test_keepalive_failure_is_lost_carrier(topo: Topo) -> None:
    with PppoeClient(topo.cli, topo.cli_if, "alice", "secret1").start() as c:
        c.wait_up()
        sid = topo.wait(lambda: [x for x in pppoe_subs(topo) if x["state"] == "active"], 20, "active")[0][
            "id"
        ]
        c.wait(lambda: c.echo_replies_sent >= 1, 10, "echo answered")
        c.answer_echo = False
        topo.wait(lambda: ended(topo, sid), 15, "lost carrier")
    h = ended(topo, sid)
    assert h is not None and h["reason"] == "lost_carrier"


def test_restart_keeps_session(topo: Topo, tmp_path: Path) -> None:
    with PppoeClient(
        topo.cli, topo.cli_if, "alice", "secret1", echo_interval=1.0, echo_failure=30
    ).start() as c:
        c.wait_up()
        before = topo.wait(lambda: [x for x in pppoe_subs(topo) if x["state"] == "active"], 20, "active")[0]
        c.wait(lambda: c.echo_replies_received >= 1, 10, "server answers our echo")
        topo.stop_abngd()
        topo.start_abngd(topo.config())
        after = topo.wait(lambda: pppoe_subs(topo), 20, "restored")[0]
        assert after["id"] == before["id"] and after["ppp_interface"] == before["ppp_interface"]
        seen = c.echo_replies_received
        c.wait(lambda: c.echo_replies_received >= seen + 2, 20, "echo answered after restart")
        assert c.down_reason is None and not c.terminated
        assert c.ping(UPSTREAM_HOST)
        # a client that vanished: after the next restart nobody answers echo -> lost_carrier
        c.answer_echo = False
        c.stop()
        topo.wait(lambda: ended(topo, before["id"]), 15, "lost carrier")
    h = ended(topo, before["id"])
    assert h is not None and h["reason"] == "lost_carrier"


def test_commit_ac_name_keeps_sessions(topo: Topo) -> None:
    with PppoeClient(
        topo.cli, topo.cli_if, "alice", "secret1", echo_interval=1.0, echo_failure=30
    ).start() as c:
        c.wait_up()
        sid = topo.wait(lambda: [x for x in pppoe_subs(topo) if x["state"] == "active"], 20, "active")[0][
            "id"
        ]
        topo.call("config.set", {"path": "pppoe ac_name", "value": "renamed-ac"})
        res = topo.call("config.commit", {"comment": "rename AC"})
        assert res["committed"] and "pppoe.ac_name" in res["changes"]
        out = ns_run(topo.cli, "timeout", "10", "pppoe-discovery", "-I", topo.cli_if, check=False).stdout
        assert "renamed-ac" in out
        seen = c.echo_replies_received
        c.wait(lambda: c.echo_replies_received >= seen + 2, 20, "session still answered")
        assert [x["id"] for x in pppoe_subs(topo)] == [sid] and c.down_reason is None
        assert c.ping(UPSTREAM_HOST)
        c.padt()


def subscriber_routes(topo: Topo, ip: str, *proto: str) -> list[dict]:
    out = ns_run(topo.bng, "ip", "-j", "route", "show", "table", "main", *proto, f"{ip}/32").stdout
    return list(json.loads(out or "[]"))


def test_one_route_owner_keeps_the_link_mtu(topo: Topo) -> None:
    """Review gap 4: one /32 per subscriber, installed once (policy, proto 188) with the PPP link's
    MTU (peer MRU 1400 < pppoe.mtu 1492), read back by show.routes, gone after the session."""
    c = PppoeClient(topo.cli, topo.cli_if, "alice", "secret1", auth=("pap",))
    c.cfg = dataclasses.replace(c.cfg, mru=1400)
    with c.start():
        up = c.wait_up()
        s = topo.wait(lambda: [x for x in pppoe_subs(topo) if x["ip_address"] == up.ip], 20, "active")[0]
        (route,) = topo.wait(lambda: subscriber_routes(topo, up.ip), 10, "route")
        assert route.get("metrics") == [{"mtu": 1400}]
        ours = subscriber_routes(topo, up.ip, "proto", "188")  # the policy service's, no other
        assert [(r["dst"], r.get("metrics")) for r in ours] == [(up.ip, [{"mtu": 1400}])]
        shown = [r for r in topo.call("show.routes") if r["destination"] == f"{up.ip}/32"]
        assert [r["session_id"] for r in shown] == [s["id"]]
        assert c.ping(UPSTREAM_HOST)
        c.padt()
        topo.wait(lambda: ended(topo, s["id"]), 20, "session end after PADT")
    assert topo.wait(lambda: not subscriber_routes(topo, up.ip), 10, "route removed")


def saved_ppp(topo: Topo, sid: int) -> dict:
    """``access_data.ppp`` as the session store holds it on disk (what a restart resumes from)."""
    assert topo.abngd is not None
    db = sqlite3.connect(f"file:{topo.abngd.state_dir / 'sessions.db'}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT access_data FROM sessions WHERE id = ?", (sid,)).fetchone()
    finally:
        db.close()
    # the row is written at open, before the PPP state exists: no state yet reads as {}
    return dict(json.loads(row[0]).get("ppp") or {}) if row else {}


def test_ppp_state_refreshed_after_up_and_resumed(topo: Topo) -> None:
    """Review gap 5: the PPP state saved for a restart follows the session (here the LCP echo
    identifier, moved on by abngd's echo every second), written at most every
    PPP_STATE_REFRESH seconds; a restart after that resumes with the refreshed state."""
    with PppoeClient(
        topo.cli, topo.cli_if, "alice", "secret1", echo_interval=1.0, echo_failure=30
    ).start() as c:
        c.wait_up()
        sid = topo.wait(lambda: [x for x in pppoe_subs(topo) if x["state"] == "active"], 20, "active")[0][
            "id"
        ]
        first = topo.wait(lambda: saved_ppp(topo, sid), 5, "state saved at up")
        later = topo.wait(
            lambda: (st := saved_ppp(topo, sid)) and st["echo_id"] != first["echo_id"] and st,
            PPP_STATE_REFRESH + 10,
            "state refreshed",
        )
        assert later["magic"] == first["magic"] and later["ip"] == first["ip"]
        topo.stop_abngd()
        topo.start_abngd(topo.config())
        seen_rq, seen_rp = c.echo_requests_seen, c.echo_replies_received
        c.wait(lambda: c.echo_replies_received >= seen_rp + 2, 20, "our echo answered after restart")
        c.wait(lambda: c.echo_requests_seen >= seen_rq + 2, 20, "abngd's echo resumed")
        assert c.down_reason is None and not c.terminated
        assert c.ping(UPSTREAM_HOST)
        c.padt()
        topo.wait(lambda: ended(topo, sid), 20, "session end after PADT")

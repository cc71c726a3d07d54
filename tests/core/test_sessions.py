"""SessionManager + SessionStore, in process (the internal interface the access layers call)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from abng.config.rates import RateError
from abng.core.events import Event, EventBus
from abng.core.hooks import BaseSessionHook
from abng.core.model import Session, SessionState, SessionType, TerminateReason
from abng.core.sessions import (
    InvalidSessionState,
    SessionError,
    SessionFailed,
    SessionManager,
    SessionNotFound,
)
from abng.core.store import SessionStore
from abng.core.tasks import TaskSet


class Recorder(BaseSessionHook):
    def __init__(self, name: str, log: list[str], fail_on: str | None = None) -> None:
        self.name = name
        self.log = log
        self.fail_on = fail_on

    async def _do(self, what: str, s: Session) -> None:
        self.log.append(f"{self.name}.{what}:{s.id}")
        if self.fail_on == what:
            raise RuntimeError(f"{self.name} broke")

    async def session_up(self, session: Session) -> None:
        await self._do("up", session)

    async def session_down(self, session: Session) -> None:
        await self._do("down", session)

    async def rate_changed(self, session: Session, source: str) -> None:
        await self._do(f"rate[{source}]", session)


class Padt:
    def __init__(self) -> None:
        self.sent: list[tuple[int, TerminateReason]] = []

    async def disconnect(self, session: Session, reason: TerminateReason) -> None:
        self.sent.append((session.id, reason))


def make(tmp_path: Path, history_limit: int = 100) -> tuple[SessionManager, SessionStore, list[Event]]:
    bus = EventBus(lambda: 1_800_000_000.0)
    events: list[Event] = []
    bus.subscribe(events.append)
    store = SessionStore(tmp_path / "sessions.db", history_limit=history_limit)
    mgr = SessionManager(bus, store, tasks=TaskSet("t"), history_limit=history_limit)
    mgr.restore()
    return mgr, store, events


async def up(mgr: SessionManager, user: str, ip: str, iface: str = "trunk0.100.1") -> Session:
    s = mgr.open(SessionType.PPPOE, user, "02:00:00:00:00:01", iface, {"pppoe_session_id": 7})
    return await mgr.activate(s.id, ip_address=ip, rate_down="100mbit", rate_up=40_000_000)


async def test_lifecycle_hooks_events_and_history(tmp_path: Path) -> None:
    mgr, _store, events = make(tmp_path)
    log: list[str] = []
    mgr.register_hook(Recorder("dataplane", log))
    mgr.register_hook(Recorder("acct", log))
    padt = Padt()
    mgr.register_disconnector(SessionType.PPPOE, padt)

    s = mgr.open(SessionType.PPPOE, "alice", "02:AA:00:00:00:01", "trunk0.100.5")
    assert (s.id, s.state, s.mac_address) == (1, SessionState.STARTING, "02:aa:00:00:00:01")
    assert events == []  # nothing announced before the session is up
    s = await mgr.activate(s.id, ip_address="100.64.0.5", rate_down="25mbit", rate_up="5Mbit")
    assert s.state is SessionState.ACTIVE and s.rate_down == 25_000_000 and s.rate_up == 5_000_000
    assert log == ["dataplane.up:1", "acct.up:1"]
    assert events[-1]["event"] == "session_up" and events[-1]["data"]["speed_down"] == "25mbit"

    await mgr.change_rate(1, "50mbit", None, "api")
    assert (s.rate_down, s.rate_up) == (50_000_000, 5_000_000)
    assert events[-1]["data"] == {
        "session_id": 1, "username": "alice", "rate_down": 50_000_000, "rate_up": 5_000_000,
        "speed_down": "50mbit", "speed_up": "5mbit", "source": "api",
    }  # fmt: skip

    ended = await mgr.terminate(1, TerminateReason.ADMIN_RESET)
    assert ended is s and s.reason is TerminateReason.ADMIN_RESET and s.ended_at is not None
    assert padt.sent == [(1, TerminateReason.ADMIN_RESET)]
    assert log[-2:] == ["acct.down:1", "dataplane.down:1"]  # reverse order on the way down
    assert events[-1]["event"] == "session_down" and events[-1]["data"]["reason"] == "admin_reset"
    assert mgr.find(1) is None and list(mgr.history) == [s]
    # idempotent: a second terminate changes nothing and runs no hook
    assert await mgr.terminate(1, TerminateReason.NAS_ERROR) is s
    assert s.reason is TerminateReason.ADMIN_RESET and len(padt.sent) == 1
    assert mgr.summary() == {"total": 0, "pppoe": 0, "dhcp": 0}


async def test_peer_initiated_termination_skips_disconnector(tmp_path: Path) -> None:
    mgr, _, _ = make(tmp_path)
    padt = Padt()
    mgr.register_disconnector(SessionType.PPPOE, padt)
    s = await up(mgr, "bob", "100.64.0.9")
    await mgr.terminate(s.id, TerminateReason.USER_REQUEST)
    assert padt.sent == []


async def test_concurrent_terminates_run_teardown_once(tmp_path: Path) -> None:
    mgr, _, events = make(tmp_path)
    log: list[str] = []
    mgr.register_hook(Recorder("dp", log))
    s = await up(mgr, "carol", "100.64.0.10")
    results = await asyncio.gather(*(mgr.terminate(s.id, TerminateReason.LOST_CARRIER) for _ in range(5)))
    assert all(r is s for r in results)
    assert log.count("dp.down:1") == 1
    assert [e["event"] for e in events].count("session_down") == 1


async def test_failing_hook_tears_down_only_that_session(tmp_path: Path) -> None:
    mgr, _, events = make(tmp_path)
    log: list[str] = []
    good = await up(mgr, "good", "100.64.0.1")
    mgr.register_hook(Recorder("dp", log, fail_on="up"))
    s = mgr.open(SessionType.DHCP, "02:00:00:00:00:02", "02:00:00:00:00:02", "trunk0.100.2")
    with pytest.raises(SessionFailed):
        await mgr.activate(s.id, ip_address="100.64.0.2")
    assert mgr.find(s.id) is None and mgr.history[-1].reason is TerminateReason.NAS_ERROR
    assert mgr.stats["hook_errors"] == 1
    assert any(e["event"] == "error" and e["data"]["session_id"] == s.id for e in events)
    assert mgr.get(good.id).state is SessionState.ACTIVE
    # a failing rate hook also tears down its session only
    (tmp_path / "b").mkdir()
    mgr2, _, _ = make(tmp_path / "b")
    mgr2.register_hook(Recorder("dp", [], fail_on="rate[cli]"))
    t = await up(mgr2, "dave", "100.64.0.3")
    other = await up(mgr2, "erin", "100.64.0.4")
    with pytest.raises(SessionFailed):
        await mgr2.change_rate(t.id, "10mbit", "10mbit", "cli")
    assert mgr2.find(t.id) is None and mgr2.get(other.id).state is SessionState.ACTIVE


async def test_misuse_raises(tmp_path: Path) -> None:
    mgr, _, _ = make(tmp_path)
    s = mgr.open(SessionType.PPPOE, "", "02:00:00:00:00:03", "trunk0.1")
    with pytest.raises(InvalidSessionState):
        await mgr.change_rate(s.id, "10mbit", None, "api")
    with pytest.raises(SessionNotFound):
        await mgr.activate(999)
    with pytest.raises(SessionError):
        mgr.update(s.id, id=5)
    with pytest.raises(RateError):
        await mgr.activate(s.id, rate_down="fast")
    a = await up(mgr, "x", "100.64.0.7")
    with pytest.raises(SessionError, match="in use"):
        await mgr.activate(s.id, ip_address="100.64.0.7")
    with pytest.raises(InvalidSessionState):
        await mgr.activate(a.id)


async def test_lookups_and_listing(tmp_path: Path) -> None:
    mgr, _, _ = make(tmp_path)
    a = await up(mgr, "alice", "100.64.0.1", "trunk0.100.1")
    b = await up(mgr, "alice", "100.64.0.2", "trunk0.100.2")
    c = mgr.open(SessionType.DHCP, "02:00:00:00:00:09", "02:00:00:00:00:09", "trunk0.100.2")
    # the username arrives later (PAP/CHAP): update re-indexes
    mgr.update(b.id, username="bob", ppp_interface="ppp7")
    assert mgr.by_username("alice") == [a] and mgr.by_username("bob") == [b]
    assert mgr.by_ip("100.64.0.2") is b and mgr.by_ip("100.64.0.99") is None
    assert mgr.by_interface("trunk0.100.2") == [b, c] and mgr.by_interface("ppp7") == [b]
    assert mgr.by_acct_session_id(a.acct_session_id) is a
    assert mgr.by_acct_session_id(f"abng-1-{a.id}") is None and mgr.by_acct_session_id("junk") is None
    assert mgr.summary() == {"total": 3, "pppoe": 2, "dhcp": 1}
    assert mgr.list({"type": "PPPoE"})[1] == 2
    assert mgr.list({"state": "starting"})[0] == [c]
    page, count = mgr.list({}, limit=1, offset=1)
    assert page == [b] and count == 3
    mgr.update_counters(a.id, 10, 20, 1, 2)
    assert (a.bytes_in, a.bytes_out, a.packets_in, a.packets_out) == (10, 20, 1, 2)


async def test_restore_after_restart(tmp_path: Path) -> None:
    mgr, store, _ = make(tmp_path)
    active = await up(mgr, "alice", "100.64.0.1")
    starting = mgr.open(SessionType.DHCP, "m", "02:00:00:00:00:05", "trunk0.1")
    dying = await up(mgr, "bob", "100.64.0.2")
    gone = await up(mgr, "carol", "100.64.0.3")
    await mgr.terminate(gone.id, TerminateReason.USER_REQUEST)
    dying.state, dying.reason = SessionState.TERMINATING, TerminateReason.ADMIN_RESET
    store.mark(dying)
    mgr.update_counters(active.id, 1 << 40, 5, 6, 7)
    await store.flush()
    store.close()

    log: list[str] = []
    mgr2, store2, _events = make(tmp_path)
    mgr2.register_hook(Recorder("dp", log))
    padt = Padt()
    mgr2.register_disconnector(SessionType.PPPOE, padt)
    await mgr2.finish_restore()
    back = mgr2.get(active.id)
    assert (
        back.state is SessionState.ACTIVE
        and back.bytes_in == 1 << 40
        and back.access_data == {"pppoe_session_id": 7}
    )
    assert back.rate_down == 100_000_000 and back.acct_session_id == active.acct_session_id
    assert mgr2.find(starting.id) is None and mgr2.find(dying.id) is None
    reasons = {h.id: h.reason for h in mgr2.history}
    assert reasons == {gone.id: TerminateReason.USER_REQUEST, starting.id: TerminateReason.NAS_ERROR,
                       dying.id: TerminateReason.ADMIN_RESET}  # fmt: skip
    assert padt.sent == [(dying.id, TerminateReason.ADMIN_RESET)] and log == [f"dp.down:{dying.id}"]
    assert [s.id for s in mgr2.claim(SessionType.PPPOE)] == [active.id]
    assert mgr2.claim(SessionType.PPPOE) == []
    # ids keep counting, never reused
    assert mgr2.open(SessionType.PPPOE, "z", "02:00:00:00:00:06", "t").id == gone.id + 1
    await store2.flush()
    store2.close()


def test_ids_not_reused_after_crash(tmp_path: Path) -> None:
    bus = EventBus(lambda: 0.0)
    store = SessionStore(tmp_path / "s.db")
    mgr = SessionManager(bus, store)
    mgr.restore()
    ids = [mgr.open(SessionType.DHCP, "u", "02:00:00:00:00:01", "t").id for _ in range(3)]
    # crash: no flush, no close
    store2 = SessionStore(tmp_path / "s.db")
    mgr2 = SessionManager(bus, store2)
    mgr2.restore()
    assert mgr2.open(SessionType.DHCP, "u", "02:00:00:00:00:01", "t").id > max(ids)
    store2.close()


async def test_history_is_bounded(tmp_path: Path) -> None:
    mgr, store, _ = make(tmp_path, history_limit=5)
    for i in range(12):
        s = await up(mgr, f"u{i}", f"100.64.1.{i}")
        await mgr.terminate(s.id, TerminateReason.USER_REQUEST)
    assert [h.id for h in mgr.history] == list(range(8, 13))
    await store.flush()
    store.close()
    mgr2, store2, _ = make(tmp_path, history_limit=5)
    assert [h.id for h in mgr2.history] == list(range(8, 13))
    store2.close()


async def test_session_timeout_terminates(tmp_path: Path) -> None:
    mgr, store, _events = make(tmp_path)
    s = mgr.open(SessionType.PPPOE, "t", "02:00:00:00:00:01", "trunk0.1")
    down = asyncio.Event()
    mgr.bus.subscribe(lambda e: down.set(), frozenset({"session_down"}))
    await mgr.activate(s.id, ip_address="100.64.0.1", session_timeout=1)
    await asyncio.wait_for(down.wait(), 10)
    assert mgr.history[-1].reason is TerminateReason.SESSION_TIMEOUT
    store.close()


async def test_deadlines_move_and_cancel(tmp_path: Path) -> None:
    mgr, store, _ = make(tmp_path)
    ended: list[int] = []
    done = asyncio.Event()

    def on_down(e: dict[str, object]) -> None:
        data = e["data"]
        assert isinstance(data, dict)
        ended.append(data["id"])
        if len(ended) == 2:
            done.set()

    mgr.bus.subscribe(on_down, frozenset({"session_down"}))
    moved, cancelled, kept = [await up(mgr, f"u{i}", f"100.64.2.{i}") for i in range(3)]
    now = mgr.clock()
    mgr.set_deadline(moved.id, now + 0.2, TerminateReason.LEASE_EXPIRED)
    mgr.set_deadline(cancelled.id, now + 0.2, TerminateReason.LEASE_EXPIRED)
    mgr.set_deadline(kept.id, now + 0.2, TerminateReason.LEASE_EXPIRED)
    mgr.set_deadline(moved.id, now + 0.6, TerminateReason.LEASE_EXPIRED)  # a renew
    mgr.set_deadline(cancelled.id, None, TerminateReason.LEASE_EXPIRED)
    await asyncio.wait_for(done.wait(), 10)
    assert ended == [kept.id, moved.id]
    assert all(h.reason is TerminateReason.LEASE_EXPIRED for h in mgr.history)
    assert mgr.get(cancelled.id).state is SessionState.ACTIVE
    store.close()


async def test_session_timeout_enforced_after_restart(tmp_path: Path) -> None:
    """A restored session keeps its Session-Timeout from activation, and a deadline passed
    while abngd was down ends it at start-up, through the disconnector (LCP Terminate + PADT)."""
    mgr, store, _ = make(tmp_path)
    s = mgr.open(SessionType.PPPOE, "t", "02:00:00:00:00:01", "trunk0.1")
    late = mgr.open(SessionType.PPPOE, "u", "02:00:00:00:00:02", "trunk0.2")
    await mgr.activate(s.id, ip_address="100.64.0.1", session_timeout=1)
    await mgr.activate(late.id, ip_address="100.64.0.2", session_timeout=3600)
    late.activated_at = int(mgr.clock()) - 3601  # its deadline passed while abngd was down
    store.mark(late)
    await store.flush()
    store.close()

    mgr2, store2, _ = make(tmp_path)
    padt = Padt()
    mgr2.register_disconnector(SessionType.PPPOE, padt)
    down = asyncio.Event()
    mgr2.bus.subscribe(lambda e: down.set() if len(mgr2.history) >= 2 else None, frozenset({"session_down"}))
    await mgr2.finish_restore()
    await asyncio.wait_for(down.wait(), 10)
    assert sorted(padt.sent) == [
        (s.id, TerminateReason.SESSION_TIMEOUT),
        (late.id, TerminateReason.SESSION_TIMEOUT),
    ]
    assert {h.id: h.reason for h in mgr2.history if h.id in (s.id, late.id)} == {
        s.id: TerminateReason.SESSION_TIMEOUT,
        late.id: TerminateReason.SESSION_TIMEOUT,
    }
    await store2.flush()
    store2.close()

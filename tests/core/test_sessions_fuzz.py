"""Seeded random walks over the session manager: indexes, counts and the store stay consistent."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from abng.config.rates import RateError
from abng.core.events import EventBus
from abng.core.hooks import BaseSessionHook
from abng.core.model import Session, SessionState, SessionType, TerminateReason
from abng.core.sessions import SessionError, SessionManager
from abng.core.store import SessionStore


class Flaky(BaseSessionHook):
    name = "flaky"

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    async def session_up(self, session: Session) -> None:
        if self.rng.random() < 0.1:
            raise RuntimeError("dataplane refused")

    async def rate_changed(self, session: Session, source: str) -> None:
        if self.rng.random() < 0.1:
            raise RuntimeError("tc refused")


def check(mgr: SessionManager) -> None:
    sessions = list(mgr.table)
    counts = {"total": len(sessions), "pppoe": 0, "dhcp": 0}
    for s in sessions:
        counts[s.type.value] += 1
        if s.ip_address:
            assert mgr.by_ip(s.ip_address) is s
        assert s in mgr.by_username(s.username)
        assert s in mgr.by_interface(s.access_interface)
        if s.ppp_interface:
            assert s in mgr.by_interface(s.ppp_interface)
        assert mgr.by_acct_session_id(s.acct_session_id) is s
    assert mgr.summary() == counts
    for name in {s.username for s in sessions} | {"nobody"}:
        assert mgr.by_username(name) == [s for s in sessions if s.username == name]
    assert not {h.id for h in mgr.history} & {s.id for s in sessions}


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_random_walk(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    store = SessionStore(tmp_path / "s.db")
    mgr = SessionManager(EventBus(lambda: 1_800_000_000.0), store)
    mgr.restore()
    mgr.register_hook(Flaky(rng))
    issued: list[int] = []
    users = [f"u{i}" for i in range(8)]
    ifaces = [f"trunk0.{i}" for i in range(5)]
    for _ in range(400):
        live = [s.id for s in mgr.table]
        op = rng.choice(["open", "open", "activate", "update", "rate", "terminate", "counters"])
        sid = rng.choice(live) if live else None
        try:
            if op == "open" or sid is None:
                t = rng.choice(list(SessionType))
                s = mgr.open(t, rng.choice(users), "02:00:00:00:00:01", rng.choice(ifaces), {"k": 1})
                assert not issued or s.id > issued[-1]
                issued.append(s.id)
            elif op == "activate":
                await mgr.activate(sid, ip_address=f"100.64.0.{rng.randrange(20)}",
                                   rate_down=rng.choice(["10mbit", 5_000_000, "bogus"]))  # fmt: skip
            elif op == "update":
                mgr.update(sid, username=rng.choice(users), ppp_interface=rng.choice([None, "ppp1", "ppp2"]))
            elif op == "rate":
                await mgr.change_rate(sid, rng.choice(["20mbit", None]), rng.choice(["1mbit", 7]), "api")
            elif op == "terminate":
                await mgr.terminate(sid, rng.choice(list(TerminateReason)))
            else:
                mgr.update_counters(sid, rng.randrange(1 << 40), rng.randrange(1 << 40), 1, 2)
        except (SessionError, RateError):
            pass  # refused input or a failed hook (the session was torn down): both allowed outcomes
        check(mgr)
        if rng.random() < 0.05:
            await store.flush(batch=rng.randrange(1, 50))
    assert mgr.stats["activated"] > 10 and mgr.stats["hook_errors"] > 0 and mgr.stats["rate_changes"] > 0
    await store.flush()
    before = {s.id: (s.state, s.username, s.ip_address, s.bytes_in) for s in mgr.table}
    store.close()

    store2 = SessionStore(tmp_path / "s.db")
    mgr2 = SessionManager(EventBus(lambda: 1_800_000_000.0), store2)
    mgr2.restore()
    after = {s.id: (s.state, s.username, s.ip_address, s.bytes_in) for s in mgr2.table}
    expected = {k: v for k, v in before.items() if v[0] is not SessionState.STARTING}
    assert after == expected
    check(mgr2)
    assert mgr2.open(SessionType.DHCP, "x", "02:00:00:00:00:02", "t").id == issued[-1] + 1
    store2.close()

"""Idle-Timeout (RADIUS Idle-Timeout, reference §6.3/§6.4, D11 ``idle_timeout``).

A session with ``idle_timeout`` set ends with ``idle_timeout`` once the data path has seen no
packet *from* the subscriber for that many seconds (traffic towards the subscriber does not keep
a session alive).  Only sessions with an idle timeout are watched: they are picked up from the
``session_up`` event (and, after a restart, from the restored table), dropped at
``session_down``.  One pass every ``min(idle_timeout, 30 s) / 2`` of the shortest watched
timeout (at least ``MIN_INTERVAL``) reads one counter per watched session: O(watched), no
per-packet work, one timer.  The teardown is the normal one (disconnector: LCP Terminate +
PADT, or the lease dropped; accounting Stop with Idle-Timeout).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from abng.access.timers import Timers
from abng.core.events import EventBus, EventName
from abng.core.model import Session, SessionState, TerminateReason
from abng.core.sessions import SessionManager
from abng.dataplane.datapath import Datapath

MAX_CHECK = 30.0
MIN_INTERVAL = 1.0
IDLE_INTERVAL = MAX_CHECK / 2  # nothing watched: the pass only looks for nothing
Spawn = Callable[[str, Coroutine[Any, Any, Any]], Any]


@dataclass(slots=True)
class Watched:
    ip: str
    timeout: float
    packets: int  # from the subscriber, at the last change
    since: float  # when ``packets`` last changed


class IdleWatch:
    def __init__(
        self, mgr: SessionManager, bus: EventBus, datapath: Datapath, timers: Timers, spawn: Spawn
    ) -> None:
        self.mgr, self.datapath, self.timers, self.spawn = mgr, datapath, timers, spawn
        self.watched: dict[int, Watched] = {}
        self.ended = 0
        self._token = bus.subscribe(self._on_event, frozenset({EventName.SESSION_UP, EventName.SESSION_DOWN}))
        self._bus = bus
        self._next: float | None = None

    def start(self, now: float) -> None:
        """Watch the active sessions already there (restored after a restart)."""
        for s in list(self.mgr.table):
            if s.state is SessionState.ACTIVE:
                self.watch(s, now)
        self._arm(now)

    def close(self) -> None:
        self._bus.unsubscribe(self._token)

    def watch(self, s: Session, now: float) -> None:
        if not s.idle_timeout or not s.ip_address or s.idle_timeout <= 0:
            return
        c = self.datapath.counters(s.ip_address)
        self.watched[s.id] = Watched(s.ip_address, float(s.idle_timeout), c.in_packets if c else 0, now)

    def _on_event(self, event: dict[str, Any]) -> None:
        sid = event["data"].get("id")
        if event["event"] == EventName.SESSION_DOWN:
            self.watched.pop(sid, None)
            return
        s = self.mgr.find(sid) if isinstance(sid, int) else None
        if s is not None and s.idle_timeout:
            now = self.timers.clock()
            self.watch(s, now)
            self._arm(now, only_earlier=True)

    def interval(self) -> float:
        if not self.watched:
            return IDLE_INTERVAL
        shortest = min(w.timeout for w in self.watched.values())
        return max(MIN_INTERVAL, min(shortest, MAX_CHECK) / 2)

    def _arm(self, now: float, *, only_earlier: bool = False) -> None:
        when = now + self.interval()
        if only_earlier and self._next is not None and self._next <= when:
            return  # a busy login rate never postpones the pass
        self._next = when
        self.timers.set("idle", when, self.check)

    def check(self, now: float) -> None:
        """One pass: sessions whose subscriber sent nothing for their idle timeout end."""
        for sid, w in list(self.watched.items()):
            c = self.datapath.counters(w.ip)
            packets = c.in_packets if c is not None else w.packets
            if packets != w.packets:
                w.packets, w.since = packets, now
            elif now - w.since >= w.timeout:
                del self.watched[sid]
                s = self.mgr.find(sid)
                if s is not None and s.state is SessionState.ACTIVE:
                    self.ended += 1
                    self.spawn(f"idle-{sid}", self.mgr.terminate(sid, TerminateReason.IDLE_TIMEOUT))
        self._arm(now)

"""The event bus feeding ``monitor.subscribe`` (docs/rpc.md, Events).

Publishing is synchronous and never blocks: each subscriber is a callback that must not block
either (the RPC server's callback queues the line and drops a subscriber that cannot keep up).
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("abng.core.events")


class EventName(enum.StrEnum):
    SESSION_UP = "session_up"
    SESSION_DOWN = "session_down"
    RATE_CHANGE = "rate_change"
    CONFIG_COMMIT = "config_commit"
    ERROR = "error"


Event = dict[str, Any]
Listener = Callable[[Event], None]


_last_stamp: tuple[int, str] = (-1, "")


def utc_timestamp(now: float) -> str:
    """``now`` as ``YYYY-MM-DDTHH:MM:SSZ`` (formatted once per second: events come in bursts)."""
    global _last_stamp
    second = int(now)
    if _last_stamp[0] != second:
        _last_stamp = (second, dt.datetime.fromtimestamp(second, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    return _last_stamp[1]


class EventBus:
    """Fan-out of ``{event, timestamp, data}`` dicts to listeners filtered by event name."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._listeners: dict[int, tuple[frozenset[str] | None, Listener]] = {}
        self._next = 1
        self.published = 0
        #: what ``wanted`` answers from, recomputed on (un)subscribe: None = some listener takes all
        self._names: frozenset[str] | None = frozenset()

    def _recompute(self) -> None:
        names: set[str] = set()
        for events, _ in self._listeners.values():
            if events is None:
                self._names = None
                return
            names |= events
        self._names = frozenset(names)

    def subscribe(self, listener: Listener, events: frozenset[str] | None = None) -> int:
        """Register ``listener``; ``events=None`` means every event.  Returns a token."""
        token = self._next
        self._next += 1
        self._listeners[token] = (events, listener)
        self._recompute()
        return token

    def unsubscribe(self, token: int) -> None:
        self._listeners.pop(token, None)
        self._recompute()

    @property
    def subscribers(self) -> int:
        return len(self._listeners)

    def wanted(self, name: EventName | str) -> bool:
        """Whether any listener takes ``name`` events (callers skip building the data if not)."""
        names = self._names
        return names is None or name in names

    def publish(self, name: EventName | str, data: dict[str, Any]) -> None:
        event: Event = {"event": str(name), "timestamp": utc_timestamp(self._clock()), "data": data}
        self.published += 1
        for events, listener in list(self._listeners.values()):
            if events is not None and event["event"] not in events:
                continue
            try:
                listener(event)
            except Exception:  # a listener's bug must not stop the publisher
                log.exception("event listener failed")

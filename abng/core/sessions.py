"""The session manager: the one owner of every :class:`Session` (DECISIONS.md D6, D7, D11).

Access protocols call the internal interface (``open`` / ``activate`` / ``terminate`` /
``change_rate`` / ``update`` / ``update_counters``); other subsystems plug in as hooks and
disconnectors (:mod:`abng.core.hooks`).  A hook that raises tears down only its session
(``nas_error``), is counted and reported as an ``error`` event.  There is no public RPC that
creates sessions.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from abng.config.rates import MAX_RATE_BPS as _MAX_RATE
from abng.config.rates import MIN_RATE_BPS as _MIN_RATE
from abng.config.rates import parse_rate
from abng.core.events import EventBus, EventName
from abng.core.hooks import Disconnector, SessionHook
from abng.core.index import SessionIndex
from abng.core.keylock import KeyedLock
from abng.core.model import Session, SessionState, SessionType, TerminateReason
from abng.core.store import SessionStore
from abng.core.tasks import TaskSet

log = logging.getLogger("abng.core.sessions")
_INFO = logging.INFO

# Module-level aliases: an enum class attribute lookup costs a few hundred ns on CPython 3.11,
# and the session setup path makes several per session.
_STARTING = SessionState.STARTING
_ACTIVE = SessionState.ACTIVE
_NAS_ERROR = TerminateReason.NAS_ERROR
_SESSION_TIMEOUT = TerminateReason.SESSION_TIMEOUT
_SESSION_UP = EventName.SESSION_UP
_RATES = ("rate_down", "rate_up")

#: Fields ``activate`` and ``update`` accept (everything the access/AAA layers may learn).
SETTABLE = frozenset(
    {
        "username", "ip_address", "gateway", "ppp_interface", "rate_down", "rate_up",
        "overhead_profile", "vrf_steered", "cgnat_bypass", "vrf", "session_timeout",
        "idle_timeout", "lease_time", "interim_interval", "access_data", "radius_attributes",
    }
)  # fmt: skip
#: fields _apply checks (rates parsed, address not in use by another session)
_CHECKED = frozenset({"rate_down", "rate_up", "ip_address"})
#: settable fields the session index is keyed on (SessionIndex.keys; access_interface is not settable)
_INDEXED = frozenset({"ip_address", "username", "ppp_interface"})


class SessionError(Exception):
    """Misuse of the manager by a caller (unknown id, wrong state, bad field)."""


class SessionNotFound(SessionError):
    def __init__(self, session_id: int) -> None:
        super().__init__(f"session {session_id} not found")
        self.session_id = session_id


class InvalidSessionState(SessionError):
    pass


class SessionFailed(SessionError):
    """A hook failed; the session has been torn down with ``nas_error``."""


class SessionManager:
    def __init__(
        self,
        bus: EventBus,
        store: SessionStore | None = None,
        *,
        tasks: TaskSet | None = None,
        clock: Callable[[], float] = time.time,
        history_limit: int = 10_000,
    ) -> None:
        self.bus = bus
        self.store = store
        self.tasks = tasks or TaskSet("sessions")
        self.clock = clock
        self.table = SessionIndex()
        self.history: deque[Session] = deque(maxlen=history_limit)
        self.stats: Counter[str] = Counter()
        self._next_id = 1
        self._hooks: list[SessionHook] = []
        #: snapshots of ``_hooks`` in run order (forward; reversed for ``session_down``), rebuilt
        #: by ``register_hook``: a hook added while hooks run does not join that run
        self._hook_order: tuple[SessionHook, ...] = ()
        self._hook_reverse: tuple[SessionHook, ...] = ()
        self._disconnectors: dict[SessionType, Disconnector] = {}
        #: per-session mutex while a session is busy (activate, change_rate, terminate); it exists
        #: only while held or awaited, so an established session keeps none
        self._locks = KeyedLock()
        self._ending: dict[int, asyncio.Future[Session]] = {}
        self._unclaimed: set[int] = set()
        self._deadlines: list[tuple[float, int, TerminateReason]] = []  # heap; stale entries skipped
        self._deadline_at: dict[tuple[int, TerminateReason], float] = {}
        self._timer: asyncio.TimerHandle | None = None

    # ---- registration -------------------------------------------------------------------------
    def register_hook(self, hook: SessionHook) -> None:
        self._hooks.append(hook)
        self._hook_order = tuple(self._hooks)
        self._hook_reverse = self._hook_order[::-1]

    def register_disconnector(self, type: SessionType, disconnector: Disconnector) -> None:
        self._disconnectors[type] = disconnector

    # ---- restore ------------------------------------------------------------------------------
    def restore(self) -> dict[str, int]:
        """Load the store: active sessions come back as-is (unclaimed), ``starting`` ones are
        dropped with ``nas_error``, ``terminating`` ones wait for :meth:`finish_restore`."""
        report = {"active": 0, "terminating": 0, "dropped": 0}
        if self.store is None:
            return report
        snap = self.store.load()
        self._next_id = snap.next_id
        self.history.extend(snap.history)
        now = int(self.clock())
        for s in snap.sessions:
            if s.state is SessionState.STARTING:
                s.reason, s.ended_at = TerminateReason.NAS_ERROR, now
                self.history.append(s)
                self.store.end(s)
                report["dropped"] += 1
                continue
            self.table.add(s)
            if s.state is SessionState.ACTIVE:
                self._unclaimed.add(s.id)
                if s.session_timeout and s.activated_at is not None:
                    self._push_deadline(
                        s.id, s.activated_at + s.session_timeout, TerminateReason.SESSION_TIMEOUT
                    )
            report[s.state.value] += 1
        return report

    async def finish_restore(self) -> None:
        """Finish terminations interrupted by the previous process (hooks registered by now)."""
        for s in list(self.table):
            if s.state is SessionState.TERMINATING:
                await self.terminate(s.id, s.reason or TerminateReason.NAS_ERROR)
        self._arm_timer()

    def claim(self, type: SessionType) -> list[Session]:
        """Active sessions restored from the store that no access layer has adopted yet."""
        out = [s for sid in sorted(self._unclaimed) if (s := self.table.by_id[sid]).type is type]
        self._unclaimed.difference_update(s.id for s in out)
        return out

    # ---- lifecycle ----------------------------------------------------------------------------
    def open(
        self,
        type: SessionType,
        username: str,
        mac_address: str,
        access_interface: str,
        access_data: dict[str, Any] | None = None,
    ) -> Session:
        """Create a ``starting`` session with a fresh id (persisted with the next flush)."""
        sid = self._next_id
        self._next_id += 1
        if self.store is not None:
            self.store.allocated(sid)
        s = Session(
            sid,
            type if type.__class__ is SessionType else SessionType(type),
            username,
            mac_address.lower(),
            access_interface,
            int(self.clock()),
            access_data=dict(access_data) if access_data else {},
        )
        self.table.add(s)
        self._persist(s)
        self.stats["opened"] += 1
        if log.isEnabledFor(_INFO):
            log.info("session opened", extra={"session_id": sid, "username": username, "type": s.type.value})
        return s

    async def activate(self, session_id: int, **fields: Any) -> Session:
        """``starting`` -> ``active``: set ``fields``, run the ``session_up`` hooks, emit
        ``session_up``.  Raises :class:`SessionFailed` if a hook failed (session torn down)."""
        s = self.table.by_id.get(session_id)
        if s is None:
            raise SessionNotFound(session_id)
        locks = self._locks
        if not locks.try_acquire(session_id):
            await locks.acquire(session_id)
        try:
            if s.state is not _STARTING:
                raise InvalidSessionState(f"session {session_id} is {s.state.value}, not starting")
            self._apply(s, fields)
            s.activated_at = int(self.clock())
            failed = None
            for hook in self._hook_order:  # _run_hooks(s, "session_up") without its coroutine
                try:
                    await hook.session_up(s)
                except Exception as exc:
                    failed = self._hook_failed(s, hook, "session_up", exc)
                    break
            if not failed and s.state is _STARTING:
                s.state = _ACTIVE
                self._persist(s)
        finally:
            locks.release(session_id)
        if failed:
            await self.terminate(session_id, _NAS_ERROR)
            raise SessionFailed(f"session {session_id}: hook {failed} failed; session torn down")
        if s.state is not _ACTIVE:
            raise InvalidSessionState(f"session {session_id} was terminated while activating")
        self.stats["activated"] += 1
        if s.session_timeout:
            self.set_deadline(s.id, s.activated_at + s.session_timeout, _SESSION_TIMEOUT)
        if log.isEnabledFor(_INFO):
            log.info("session up", extra={"session_id": s.id, "username": s.username, "ip": s.ip_address})
        if self.bus.wanted(_SESSION_UP):
            self.bus.publish(_SESSION_UP, s.to_rpc())
        else:
            self.bus.published += 1
        return s

    async def terminate(self, session_id: int, reason: TerminateReason) -> Session | None:
        """End a session (idempotent): disconnector, ``session_down`` hooks, history,
        ``session_down`` event.  Returns the ended session, None if it was unknown."""
        if (pending := self._ending.get(session_id)) is not None:
            return await asyncio.shield(pending)
        s = self.table.by_id.get(session_id)
        if s is None:
            return next((h for h in reversed(self.history) if h.id == session_id), None)
        fut: asyncio.Future[Session] = asyncio.get_running_loop().create_future()
        self._ending[session_id] = fut
        try:
            s.state, s.reason = SessionState.TERMINATING, TerminateReason(reason)
            self._persist(s)
            await self._locks.acquire(session_id)
            try:
                await self._teardown(s)
            finally:
                self._locks.release(session_id)
            fut.set_result(s)
        except BaseException as exc:  # waiters (concurrent terminate calls) see the same outcome
            if isinstance(exc, asyncio.CancelledError):
                fut.cancel()
            else:
                fut.set_exception(exc)
                fut.exception()  # retrieved: no "never retrieved" noise when nobody waits
            raise
        finally:
            del self._ending[session_id]
        return s

    async def _teardown(self, s: Session) -> None:
        disc = self._disconnectors.get(s.type)
        if disc is not None and s.reason is not TerminateReason.USER_REQUEST:
            try:
                await disc.disconnect(s, s.reason or TerminateReason.NAS_ERROR)
            except Exception as exc:
                self._hook_error(s, f"disconnector {s.type.value}", exc)
        was_up = s.activated_at is not None
        if was_up:
            await self._run_hooks(s, "session_down")
        s.ended_at = int(self.clock())
        self.table.remove(s)
        self._unclaimed.discard(s.id)
        for r in TerminateReason:
            self._deadline_at.pop((s.id, r), None)
        self.history.append(s)
        if self.store is not None:
            self.store.end(s)
        self.stats[f"terminated.{s.reason}"] += 1
        log.info("session down", extra={"session_id": s.id, "username": s.username, "reason": str(s.reason)})
        if was_up:
            self.bus.publish(EventName.SESSION_DOWN, {**s.to_rpc(), "reason": str(s.reason)})

    async def change_rate(
        self, session_id: int, rate_down: int | str | None, rate_up: int | str | None, source: str
    ) -> Session:
        """Change an active session's rates (None keeps a direction).  Raises ``RateError``
        (a ValueError) for bad rates, :class:`InvalidSessionState` if not active."""
        down = parse_rate(rate_down) if rate_down is not None else None
        up = parse_rate(rate_up) if rate_up is not None else None
        s = self.get(session_id)
        await self._locks.acquire(session_id)
        try:
            if s.state is not SessionState.ACTIVE:
                raise InvalidSessionState(f"session {session_id} is {s.state.value}, not active")
            if down is not None:
                s.rate_down = down
            if up is not None:
                s.rate_up = up
            self._persist(s)
            failed = await self._run_hooks(s, "rate_changed", source)
        finally:
            self._locks.release(session_id)
        if failed:
            await self.terminate(session_id, TerminateReason.NAS_ERROR)
            raise SessionFailed(f"session {session_id}: hook {failed} failed; session torn down")
        self.stats["rate_changes"] += 1
        data = {"session_id": s.id, "username": s.username, "rate_down": s.rate_down, "rate_up": s.rate_up}
        rpc = s.to_rpc()
        data.update(speed_down=rpc["speed_down"], speed_up=rpc["speed_up"], source=source)
        self.bus.publish(EventName.RATE_CHANGE, data)
        return s

    def update(self, session_id: int, **fields: Any) -> Session:
        """Record what the access/AAA layer learned (username after PAP/CHAP, ppp_interface,
        access_data...).  No hooks run; rates go through :meth:`change_rate`."""
        s = self.table.by_id.get(session_id)
        if s is None:
            raise SessionNotFound(session_id)
        self._apply(s, fields)
        if self.store is not None:  # _persist, inline
            self.store.mark(s)
        return s

    def update_counters(
        self, session_id: int, bytes_in: int, bytes_out: int, packets_in: int, packets_out: int
    ) -> None:
        s = self.table.by_id.get(session_id)
        if s is None:
            return
        s.bytes_in, s.bytes_out, s.packets_in, s.packets_out = bytes_in, bytes_out, packets_in, packets_out
        self._persist(s)

    # ---- lookups ------------------------------------------------------------------------------
    def get(self, session_id: int) -> Session:
        s = self.table.by_id.get(session_id)
        if s is None:
            raise SessionNotFound(session_id)
        return s

    def find(self, session_id: int) -> Session | None:
        return self.table.by_id.get(session_id)

    def by_acct_session_id(self, acct_session_id: str) -> Session | None:
        try:
            sid = int(acct_session_id.rsplit("-", 1)[1])
        except (IndexError, ValueError):
            return None
        s = self.table.by_id.get(sid)
        return s if s is not None and s.acct_session_id == acct_session_id else None

    def by_ip(self, ip: str) -> Session | None:
        return self.table.by_ip(ip)

    def by_username(self, username: str) -> list[Session]:
        return self.table.by_username(username)

    def by_interface(self, name: str) -> list[Session]:
        return self.table.by_interface(name)

    def list(
        self, filters: dict[str, Any] | None = None, limit: int | None = None, offset: int = 0
    ) -> tuple[list[Session], int]:
        """Sessions matching ``filters`` (type, username, ip, interface, state), paged;
        also returns the number matching before paging."""
        f = dict(filters or {})
        if f.get("type") is not None:
            f["type"] = SessionType(str(f["type"]).lower())
        if f.get("state") is not None:
            f["state"] = SessionState(f["state"])
        f = {k: v for k, v in f.items() if v is not None}
        end = None if limit is None else offset + limit
        if not f:  # no filter: page straight off the table
            values = self.table.by_id.values()
            return list(itertools.islice(values, offset, end)), len(self.table)
        matched = self.table.select(**f)
        return matched[offset:end], len(matched)

    def summary(self) -> dict[str, int]:
        return self.table.summary()

    # ---- internals ----------------------------------------------------------------------------
    def _persist(self, s: Session) -> None:
        if self.store is not None:
            self.store.mark(s)

    def _apply(self, s: Session, fields: dict[str, Any]) -> None:
        if not SETTABLE.issuperset(fields):
            raise SessionError(f"cannot set {sorted(set(fields) - SETTABLE)} on a session")
        if not _CHECKED.isdisjoint(fields):
            for key in _RATES:
                value = fields.get(key)
                # an int already in range is what parse_rate would return (bool is not int)
                if value is not None and not (value.__class__ is int and _MIN_RATE <= value <= _MAX_RATE):
                    fields[key] = parse_rate(value)
            ip = fields.get("ip_address")
            if ip and (owner := self.table.ip_owner(ip)) not in (None, s.id):
                raise SessionError(f"address {ip} is in use by session {owner}")
        if _INDEXED.isdisjoint(fields):  # no index key changes (access_data, rates...)
            for key, value in fields.items():
                setattr(s, key, value)
            return
        before = self.table.keys(s)
        for key, value in fields.items():
            setattr(s, key, value)
        self.table.reindex(s, before)  # only the keys that changed

    async def _run_hooks(self, s: Session, method: str, *args: Any) -> str | None:
        """Run ``method`` on every hook; returns the name of the first that failed."""
        hooks = self._hook_reverse if method == "session_down" else self._hook_order
        failed = None
        for hook in hooks:
            try:
                await getattr(hook, method)(s, *args)
            except Exception as exc:
                name = self._hook_failed(s, hook, method, exc)
                if method != "session_down":
                    return name
                failed = failed or name
        return None if method == "session_down" else failed

    def _hook_failed(self, s: Session, hook: SessionHook, method: str, exc: Exception) -> str:
        """Report a hook's failure; returns the hook's name."""
        name = getattr(hook, "name", type(hook).__name__)
        self._hook_error(s, f"{name}.{method}", exc)
        return str(name)

    def _hook_error(self, s: Session, what: str, exc: Exception) -> None:
        self.stats["hook_errors"] += 1
        log.error("%s failed: %r", what, exc, extra={"session_id": s.id}, exc_info=exc)
        self.bus.publish(EventName.ERROR, {"message": f"{what} failed: {exc}", "session_id": s.id})

    def set_deadline(self, session_id: int, at: float | None, reason: TerminateReason) -> None:
        """Terminate ``session_id`` with ``reason`` at wall-clock time ``at`` if it is still
        active then.  One deadline per (session, reason): setting it again moves it (a DHCP
        renew pushes ``lease_expired`` later), ``at=None`` cancels it."""
        if at is None:
            self._deadline_at.pop((session_id, reason), None)
            return
        self._push_deadline(session_id, at, reason)
        self._arm_timer()

    def _push_deadline(self, session_id: int, at: float, reason: TerminateReason) -> None:
        self._deadline_at[(session_id, reason)] = at
        heapq.heappush(self._deadlines, (at, session_id, reason))
        if len(self._deadlines) > 2 * len(self._deadline_at) + 1024:  # drop stale entries
            self._deadlines = [(t, sid, r) for (sid, r), t in self._deadline_at.items()]
            heapq.heapify(self._deadlines)

    def _arm_timer(self, min_delay: float = 0.0) -> None:
        """One loop timer for the earliest deadline (session/idle timeout, lease expiry)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._deadlines:
            delay = max(min_delay, self._deadlines[0][0] - self.clock())
            self._timer = asyncio.get_running_loop().call_later(delay, self._expire)

    def _expire(self) -> None:
        self._timer = None
        now = self.clock()
        while self._deadlines and self._deadlines[0][0] <= now:
            at, sid, reason = heapq.heappop(self._deadlines)
            if self._deadline_at.get((sid, reason)) != at:
                continue  # moved or cancelled
            del self._deadline_at[(sid, reason)]
            s = self.table.by_id.get(sid)
            if s is not None and s.state is SessionState.ACTIVE:
                self.tasks.spawn(f"expire-{sid}", self.terminate(sid, reason))
        self._arm_timer(min_delay=0.01)  # wall clock vs loop clock drift: never spin

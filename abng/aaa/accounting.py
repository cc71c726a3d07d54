"""RADIUS accounting (RFC 2866, RFC 2869 §5.1/§5.3; DECISIONS.md D23).

- Start, Interim-Update (every ``interim_interval`` s, or the session's Acct-Interim-Interval)
  and Stop, with 64-bit counters split into Octets + Gigawords.
- **A Stop is never lost**: it is written to the :class:`~abng.aaa.spool.AcctSpool` before it is
  sent, removed only after an Accounting-Response, and otherwise resent by a background task with
  Acct-Delay-Time = time since the event.  A record being sent is never sent again concurrently.
- Start and Interim are best effort (a later Interim or the Stop carries the same counters).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from abng.aaa.aio_client import RadiusClient, RadiusTimeout
from abng.aaa.dictionary import Value
from abng.aaa.spool import AcctSpool, SpoolRecord
from abng.aaa.types import AuthResult
from abng.core.model import Session, SessionType, TerminateReason

log = logging.getLogger(__name__)
_U32 = 0xFFFFFFFF


def session_radius_attributes(result: AuthResult) -> dict[str, list[str]]:
    """What to keep in ``Session.radius_attributes`` from an AuthResult (Class as hex, echoed later)."""
    out: dict[str, list[str]] = {}
    if result.class_attr:
        out["Class"] = [c.hex() for c in result.class_attr]
    return out


class Accounting:
    def __init__(
        self,
        client: RadiusClient,
        spool: AcctSpool,
        *,
        refresh_counters: Callable[[Session], Awaitable[None]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``refresh_counters(session)`` (optional, async) updates the session's counters from the
        dataplane before each Interim and Stop."""
        self.client, self.spool = client, spool
        cfg = client.config
        self.nas_identifier, self.nas_ip = cfg.nas_identifier, cfg.nas_ip_address
        self.interim_interval = cfg.interim_interval
        self.spool_retry_interval = cfg.spool_retry_interval
        self._refresh = refresh_counters
        self._clock = clock
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._interims: dict[int, asyncio.Task[Any]] = {}
        self._inflight: set[int] = set()
        self._spool_task: asyncio.Task[None] | None = None
        self.stats: Counter[str] = Counter()

    # ---- public -----------------------------------------------------------------------------
    async def start(self, session: Session) -> bool:
        """Send Accounting Start and schedule Interims; True if a server acknowledged."""
        self._schedule(session)
        return await self._send_best_effort(session, "Start")

    def resume(self, session: Session) -> None:
        """A session restored after a restart: schedule its Interims again (no new Start)."""
        self._schedule(session)

    async def interim(self, session: Session) -> bool:
        if self._refresh:
            await self._refresh(session)
        return await self._send_best_effort(session, "Interim-Update")

    async def stop(self, session: Session, reason: TerminateReason | None = None) -> bool:
        """Spool then send Accounting Stop; True if acknowledged now (else it stays spooled)."""
        timer = self._timers.pop(session.id, None)
        if timer:
            timer.cancel()
        interim = self._interims.pop(session.id, None)
        if interim is not None:  # an Interim must not arrive after the Stop
            interim.cancel()
        if self._refresh:
            await self._refresh(session)
        now = self._clock()
        attrs = self.attributes(session, "Stop", now, reason or session.reason or TerminateReason.NAS_ERROR)
        record_id = await asyncio.to_thread(self.spool.add, now, attrs)
        self.stats["stops_spooled"] += 1
        return await self._deliver(SpoolRecord(record_id, now, attrs))

    async def flush_spool(self) -> int:
        """Try once to deliver every spooled Stop not already in flight; returns how many were acked."""
        records = await asyncio.to_thread(self.spool.pending)
        results = await asyncio.gather(*(self._deliver(r) for r in records if r.id not in self._inflight))
        return sum(results)

    def start_background(self) -> None:
        """Start the spool resender (also delivers Stops left from a previous run)."""
        if self._spool_task is None:
            self._spool_task = asyncio.get_running_loop().create_task(self._spool_loop(), name="acct-spool")

    async def close(self) -> None:
        for t in self._timers.values():
            t.cancel()
        self._timers.clear()
        tasks = [*self._tasks, *([self._spool_task] if self._spool_task else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._spool_task = None

    def attributes(
        self, session: Session, status: str, now: float, reason: TerminateReason | None = None
    ) -> list[tuple[str, Value]]:
        attrs: list[tuple[str, Value]] = [
            ("User-Name", session.username),
            ("Acct-Status-Type", status),
            ("Acct-Session-Id", session.acct_session_id),
            ("NAS-Identifier", self.nas_identifier),
            ("NAS-Port-Id", session.access_interface),
            ("NAS-Port", 0),
            ("Calling-Station-Id", session.mac_address),
            ("Service-Type", "Framed-User"),
            ("Event-Timestamp", int(now)),
        ]
        if self.nas_ip:
            attrs.append(("NAS-IP-Address", self.nas_ip))
        if session.type is SessionType.PPPOE:
            attrs.append(("Framed-Protocol", "PPP"))
        if session.ip_address:
            attrs.append(("Framed-IP-Address", session.ip_address))
        for c in session.radius_attributes.get("Class", []):
            with contextlib.suppress(ValueError):
                attrs.append(("Class", bytes.fromhex(c)))
        if status != "Start":
            attrs += [
                ("Acct-Session-Time", session.uptime(now)),
                ("Acct-Input-Octets", session.bytes_in & _U32),
                ("Acct-Input-Gigawords", (session.bytes_in >> 32) & _U32),
                ("Acct-Output-Octets", session.bytes_out & _U32),
                ("Acct-Output-Gigawords", (session.bytes_out >> 32) & _U32),
                ("Acct-Input-Packets", session.packets_in & _U32),
                ("Acct-Output-Packets", session.packets_out & _U32),
            ]
        if reason is not None:
            attrs.append(("Acct-Terminate-Cause", reason.acct_terminate_cause))
        return attrs

    # ---- internals --------------------------------------------------------------------------
    async def _send_best_effort(self, session: Session, status: str) -> bool:
        try:
            await self.client.accounting_request(self.attributes(session, status, self._clock()))
        except RadiusTimeout:
            self.stats[f"{status.lower()}_lost"] += 1
            log.warning("accounting %s for %s not acknowledged", status, session.acct_session_id)
            return False
        self.stats[f"{status.lower()}_sent"] += 1
        return True

    async def _deliver(self, rec: SpoolRecord) -> bool:
        if rec.id in self._inflight:
            return False
        self._inflight.add(rec.id)
        try:
            try:
                await self.client.accounting_request(rec.attrs, delay=max(0.0, self._clock() - rec.created))
            except RadiusTimeout:
                self.stats["stop_deferred"] += 1
                return False
            if await asyncio.to_thread(self.spool.remove, rec.id):
                self.stats["stop_sent"] += 1
            return True
        finally:
            self._inflight.discard(rec.id)

    def _schedule(self, session: Session) -> None:
        interval = session.interim_interval or self.interim_interval
        if interval <= 0:
            return
        old = self._timers.pop(session.id, None)
        if old:
            old.cancel()
        loop = asyncio.get_running_loop()
        self._timers[session.id] = loop.call_later(interval, self._interim_due, session)

    def _interim_due(self, session: Session) -> None:
        if session.id not in self._timers:
            return
        self._schedule(session)
        task = self._spawn(self.interim(session), f"acct-interim-{session.id}")
        self._interims[session.id] = task
        task.add_done_callback(functools.partial(self._interim_done, session.id))

    def _interim_done(self, session_id: int, task: asyncio.Task[Any]) -> None:
        if self._interims.get(session_id) is task:
            del self._interims[session_id]

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _spool_loop(self) -> None:
        while True:
            try:
                await self.flush_spool()
            except Exception:  # a broken spool must not stop the resender; logged, retried
                log.exception("accounting spool flush failed")
            await asyncio.sleep(self.spool_retry_interval)

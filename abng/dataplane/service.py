"""Policy inside abngd: backend detection, per-session QoS, /32 routes and CGNAT steering.

``setup(daemon)`` (called from ``abng.core.daemon``) detects the dataplane backend (D4) in the
dataplane worker thread, reports it through ``show.system`` / ``system.health``, re-applies the
policy of the sessions restored from the store (one ``apply_many``), converges CGNAT, and
registers:

* :class:`PolicyHook`: ``session_up`` shapes the session (rates from the session, i.e. RADIUS /
  CoA / REST, else ``qos.default_down/up``; overhead profile from the session, else
  ``qos.default_overhead_profile``) on the right device (userspace backend: the access layer's
  TUN device for download and its IFB for upload; kernel backend: the PPP or VLAN device),
  installs the /32 route and records CGNAT steering (``vrf_steered``; ``Athena-CGNAT-Bypass``
  puts the address in the bypass set); ``rate_changed`` changes the classes in place;
  ``session_down`` removes all of it.
* RPCs ``show.qos``, ``show.qos.profiles``, ``show.routes`` (read back from the kernel:
  :mod:`abng.dataplane.policy_rpc`).
* a config applier: ``qos.*`` (enable/disable, defaults, profiles) and ``cgnat.*`` at commit.

Process and threads: the netlink work runs in a child process
(:class:`~abng.dataplane.worker_process.WorkerProcess` holding the
:class:`~abng.dataplane.policy_worker.PolicyWorker`), so it never takes the GIL from the loop;
the loop's side calls it through ONE dedicated thread (``ThreadPoolExecutor(max_workers=1)``),
which pickles a request and waits for the answer with the GIL released.  Intents from many
sessions that arrive while the worker is busy are sent together as one batch (``apply_many``
and friends).  A watcher notices when the shaping device appears or is re-created (the access
layer re-opens its TUN) and re-applies every session on it (``release_device`` first).

If the worker process dies, the batch in flight fails (its sessions get :class:`PolicyError`,
as for a refused batch), the death is logged once, and a new process is started and converged
as at start-up (CGNAT, stale routes, every active session re-applied); batches queued
meanwhile wait for it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from abng.config.rates import MAX_RATE_BPS, parse_rate
from abng.core import sched
from abng.core.events import EventName
from abng.core.hooks import BaseSessionHook
from abng.core.model import Session, SessionState, SessionType
from abng.dataplane.cgnat import CgnatConfig
from abng.dataplane.detect import DataplaneInfo, DataplaneUnavailable, detect
from abng.dataplane.policy_worker import Change, Down, Op, Outcome, Shape, Up, Want
from abng.dataplane.qos import BackendName
from abng.dataplane.worker_process import WorkerDied, WorkerProcess

if TYPE_CHECKING:
    from abng.core.daemon import Daemon

log = logging.getLogger(__name__)
T = TypeVar("T")

#: ``access_data`` key: directions ("down", "up") whose rate is ``qos.default_*`` (not the session's own),
#: and OVERHEAD when the overhead profile is ``qos.default_overhead_profile``
DEFAULTS_KEY = "qos_defaults"
_PPPOE = SessionType.PPPOE  # module-level: an enum class attribute lookup is slow on 3.11
OVERHEAD = "overhead"
#: the access layer's TUN device (abng/access/service.py TUN_NAME): the userspace shaping device
DEFAULT_DEVICE = "abng0"
WATCH_INTERVAL = 1.0
#: intents per worker call: big enough to amortise netlink round trips, small enough that the
#: loop completes one batch's sessions (events, store) while the worker runs the next
MAX_BATCH = 500
#: how long a first intent waits for others before the batch goes to the worker (seconds): each
#: worker call is a thread hand-off that costs the loop more than the netlink work of one intent
COALESCE = 0.002
#: first and longest pause between attempts to start a new worker process (seconds)
RESTART_DELAY = (0.2, 5.0)


class PolicyError(RuntimeError):
    """The kernel refused a session's policy (the session is torn down with ``nas_error``)."""


def cgnat_config(cfg: Any) -> CgnatConfig:
    c = cfg.cgnat
    handoff = c.handoff_interface or cfg.interfaces.cgnat_handoff
    return CgnatConfig(
        enabled=bool(c.enabled),
        vrf_name=c.vrf_name,
        vrf_table=c.vrf_table,
        handoff_interface=str(handoff) if handoff else None,
        handoff_gateway=str(c.handoff_gateway) if c.handoff_gateway else None,
        source_range=str(c.source_range),
        fwmark=c.fwmark,
    )


class PolicyService:
    """See the module docstring.  ``netns``/``device``/``info`` are for in-process tests."""

    name = "policy"

    def __init__(
        self,
        daemon: Daemon,
        *,
        netns: str | None = None,
        device: str | None = None,
        info: DataplaneInfo | None = None,
    ) -> None:
        self.daemon = daemon
        self.mgr = daemon.sessions
        self.netns = netns
        self.device = device or DEFAULT_DEVICE
        self.dp: DataplaneInfo | None = info
        self.error: str | None = None
        self.cgnat_error: str | None = None
        self.worker: WorkerProcess | None = None
        self.backend: BackendName = "htb"
        self.has_vrf = False
        self.applied: dict[int, Want] = {}
        self.pending: set[int] = set()
        self.stats: Counter[str] = Counter()
        #: SCHED_BATCH (abng/core/sched.py): handing it a batch does not switch the loop out; the
        #: worker process started from it inherits the policy
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="abng-dataplane", initializer=sched.background_thread
        )
        self._queue: list[tuple[Op, asyncio.Future[Outcome]]] = []
        self._wake = asyncio.Event()
        self._defaults: tuple[Any, int | None, int | None] = (None, None, None)
        #: Shapes by value (a handful of rate plans): sessions share them instead of keeping one each
        self._shapes: dict[tuple[int, int, int, int], Shape] = {}
        #: held by each batch and by a restart of the worker process (batches wait for it)
        self._lock = asyncio.Lock()
        self._reviver: asyncio.Task[None] | None = None
        self._latest: WorkerProcess | None = None  # the last one started (set in the thread)
        self._closing = False

    # ---- worker thread ----------------------------------------------------------------------
    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        except WorkerDied:
            self._worker_died()
            raise

    async def query(self, fn: Callable[[WorkerProcess], T]) -> T | None:
        """``fn(worker)`` in the executor (show commands): waits for a batch or a restart of the
        worker process in progress; None without a worker."""
        async with self._lock:
            worker = self.worker
            if worker is None:
                return None
            return await self.call(fn, worker)

    def _spawn(self) -> WorkerProcess:
        """Runs in the executor's thread, which lives as long as the service: the child's
        PR_SET_PDEATHSIG follows the thread that started it, not the process."""
        self._latest = WorkerProcess(self.backend, has_vrf=self.has_vrf, netns=self.netns)
        return self._latest

    def reviving(self) -> bool:
        return self._reviver is not None and not self._reviver.done()

    def _worker_died(self) -> None:
        """The worker process is gone: start a new one (once; batches wait for it)."""
        if self._closing or self.worker is None or self.reviving():
            return
        self._reviver = self.daemon.tasks.spawn("policy-restart", self._revive())

    async def _revive(self) -> None:
        delay = RESTART_DELAY[0]
        async with self._lock:
            old = self.worker
            if old is None:
                return
            await self.call(old.close)  # reaps it
            self.stats["worker_restarts"] += 1
            log.error("dataplane worker process %d died (exit status %s): starting a new one, re-applying "
                      "every session", old.pid, old.returncode)  # fmt: skip
            while not self._closing:
                try:
                    self.worker = await self.call(self._spawn)
                    self.pending.clear()
                    await self._converge_cgnat(None, cgnat_config(self.daemon.applied))
                    await self._restore()
                    return
                except Exception:  # it died again, or cannot start: try again, slower and slower
                    log.exception("dataplane worker restart failed; next try in %.1fs", delay)
                    if self.worker is not None:
                        await self.call(self.worker.close)
                await asyncio.sleep(delay)
                delay = min(2 * delay, RESTART_DELAY[1])

    async def submit(self, op: Op) -> Outcome:
        """Queue one intent; intents queued while the worker is busy go as one batch."""
        fut: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._queue.append((op, fut))
        self._wake.set()
        return await fut

    async def _drain(self) -> None:
        while True:
            await self._wake.wait()
            if len(self._queue) < MAX_BATCH and COALESCE > 0:
                await asyncio.sleep(COALESCE)  # let a burst gather: fewer thread hand-offs
            self._wake.clear()
            if len(self._queue) <= MAX_BATCH:
                batch, self._queue = self._queue, []
            else:
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            if self._queue:
                self._wake.set()  # the rest goes next: the loop finishes this batch's sessions meanwhile
            async with self._lock:  # not while a new worker process is being started
                await self._run_batch(batch)

    async def _run_batch(self, batch: list[tuple[Op, asyncio.Future[Outcome]]]) -> None:
        if not batch or self.worker is None:
            for _, fut in batch:
                if not fut.done():
                    fut.set_result(Outcome())
            return
        self.stats["batches"] += 1
        self.stats["ops"] += len(batch)
        try:
            outs = await self.call(self.worker.run, [op for op, _ in batch])
        except Exception as exc:  # a bug, a dead netlink socket or worker process: fail this batch only
            if not isinstance(exc, WorkerDied):  # (a death is logged once, by the restart)
                log.exception("dataplane batch failed")
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(PolicyError(f"dataplane batch failed: {exc}"))
            return
        for (_, fut), out in zip(batch, outs, strict=True):
            if not fut.done():
                fut.set_result(out)

    # ---- start / stop -----------------------------------------------------------------------
    async def start(self) -> None:
        cfg = self.daemon.applied
        if self.dp is None:
            try:
                self.dp = await self.call(detect, cfg.system.dataplane)
            except (DataplaneUnavailable, OSError) as exc:
                self.error = str(exc)
                log.error("dataplane unavailable: %s (no shaping, routes or CGNAT)", exc)
                return
        log.info("dataplane backend %s (features: %s)", self.dp.backend,
                 ", ".join(k for k, v in self.dp.features.items() if v))  # fmt: skip
        self.backend = "cake" if self.dp.backend == "kernel" else "htb"
        self.has_vrf = bool(self.dp.features.get("vrf", False))
        self.worker = await self.call(self._spawn)
        self.daemon.tasks.spawn("policy-batches", self._drain())
        await self._converge_cgnat(None, cgnat_config(cfg))
        await self._restore()
        self.daemon.tasks.spawn("policy-watch", self._watch())

    async def _restore(self) -> None:
        """Sessions restored from the store: flush stale routes, re-apply in one batch."""
        assert self.worker is not None
        sessions = [s for s in self.mgr.table if s.state is SessionState.ACTIVE and s.ip_address]
        for s in sessions:  # a qos commit while abngd was down: records follow the defaults
            self.reflect_defaults(s)
        await self.call(self.worker.devices_changed, [self.device])
        removed = await self.call(self.worker.flush_stale_routes, [s.ip_address for s in sessions])
        assert self.dp is not None
        if self.dp.backend == "userspace" and await self.call(self.worker.ifindex, self.device) is None:
            # no shaping device yet (the access layer opens it): applied when it appears
            self.pending.update(s.id for s in sessions)
            log.info("policy: %d restored sessions wait for device %s", len(sessions), self.device)
            return
        pairs = [(s, w) for s in sessions if (w := self.want(s)) is not None]
        if not pairs:
            log.info("policy: no restored session to re-apply (%d stale routes removed)", removed)
            return
        outs = await self.call(self.worker.run, [Up(w) for _, w in pairs])
        failed = 0
        for (s, w), out in zip(pairs, outs, strict=True):
            self.applied[s.id] = w
            failed += self._record(s, out, restored=True)
        log.info("policy re-applied to %d restored sessions (%d failed, %d waiting for %s)",
                 len(pairs), failed, len(self.pending), self.device)  # fmt: skip

    async def _watch(self) -> None:
        """Re-apply when the shaping device appears or is re-created; clean up at shutdown."""
        try:
            while True:
                await asyncio.sleep(WATCH_INTERVAL)
                if self.worker is None or self.reviving():
                    continue
                if not self.worker.alive():  # died while idle: restart it before a session needs it
                    self._worker_died()
                    continue
                if self.dp is None or self.dp.backend != "userspace":
                    continue
                try:
                    async with self._lock:
                        await self._check_devices()
                except WorkerDied:  # restarting (logged there)
                    continue
                except Exception:  # a bug or a netlink failure: keep watching
                    self.stats["watch_errors"] += 1
                    log.exception("dataplane device check failed")
        finally:
            await self.close()

    async def _check_devices(self) -> None:
        assert self.worker is not None
        for dev in await self.call(self.worker.devices_changed, [self.device]):
            active = (s for s in self.mgr.table if s.state is SessionState.ACTIVE)
            pairs = [(s, w) for s in active if (w := self.want(s)) is not None and w.device == dev]
            log.info("device %s (re)appeared: re-applying %d sessions", dev, len(pairs))
            outs = await self.call(self.worker.reapply, dev, [w for _, w in pairs])
            for (s, w), out in zip(pairs, outs, strict=True):
                self.applied[s.id] = w
                self._record(s, out, restored=True)

    async def close(self) -> None:
        """Remove the shaping trees, stop the worker process (also one a restart was starting)."""
        self._closing = True
        reviver, self._reviver = self._reviver, None
        if reviver is not None and not reviver.done():
            reviver.cancel()
            await asyncio.gather(reviver, return_exceptions=True)
        worker, self.worker = self.worker, None
        if worker is not None:
            try:
                await self.call(worker.shutdown)
            except Exception as exc:  # a dead worker process: nothing to remove from here
                log.warning("dataplane shutdown: %s", exc)
            finally:
                await self.call(worker.close)
        latest, self._latest = self._latest, None
        if latest is not None and latest is not worker:  # started by a cancelled restart
            await self.call(latest.close)
        self._executor.shutdown(wait=False)

    # ---- intents ----------------------------------------------------------------------------
    def shape(self, s: Session) -> Shape | None:
        """Effective shaping of ``s``: None when QoS is off or no rate is known at all."""
        q = self.daemon.applied.qos
        if not q.enabled:
            return None
        if self._defaults[0] is not q:  # parse the defaults once per committed configuration
            self._defaults = (q, _rate(q.default_down), _rate(q.default_up))
        _, default_down, default_up = self._defaults
        marked = s.access_data.get(DEFAULTS_KEY, ())
        down = default_down if "down" in marked or s.rate_down is None else s.rate_down
        up = default_up if "up" in marked or s.rate_up is None else s.rate_up
        if down is None and up is None:
            return None
        own = s.overhead_profile if OVERHEAD not in marked else None
        name = own or q.default_overhead_profile
        prof = q.overhead_profiles.get(name)
        if prof is None:
            self.stats["unknown_overhead_profile"] += 1
            msg = f"session {s.id}: unknown overhead profile {name!r}, using {q.default_overhead_profile!r}"
            log.warning(msg, extra={"session_id": s.id})
            self.daemon.bus.publish(EventName.ERROR, {"message": msg, "session_id": s.id})
            prof = q.overhead_profiles.get(q.default_overhead_profile)
        overhead, mpu = (prof.overhead, prof.mpu) if prof is not None else (0, 0)
        key = (down or MAX_RATE_BPS, up or MAX_RATE_BPS, overhead, mpu)
        shape = self._shapes.get(key)
        if shape is None:
            if len(self._shapes) >= 4096:
                self._shapes.clear()
            shape = self._shapes[key] = Shape(*key)
        return shape

    def defaults(self) -> tuple[int | None, int | None]:
        """``qos.default_down/up`` in bps (None when QoS is off), parsed once per commit."""
        q = self.daemon.applied.qos
        if not q.enabled:
            return None, None
        if self._defaults[0] is not q:
            self._defaults = (q, _rate(q.default_down), _rate(q.default_up))
        return self._defaults[1], self._defaults[2]

    def reflect_defaults(self, s: Session, *, explicit: bool = False) -> None:
        """Make the session record show the rates actually applied: a direction without a rate
        of its own (RADIUS, local AAA, CoA, REST) carries ``qos.default_*`` while QoS is on and
        null while it is off; such directions are listed in ``access_data[DEFAULTS_KEY]`` so a
        later qos commit moves them with the defaults.  ``explicit``: a rate change happened,
        a direction whose rate no longer equals the default has become the session's own.
        The overhead profile likewise: ``qos.default_overhead_profile`` (null with QoS off) when
        the session has none of its own."""
        q = self.daemon.applied.qos
        enabled = bool(q.enabled)
        default_down, default_up = self.defaults()
        default_overhead = q.default_overhead_profile if enabled else None
        stored = s.access_data.get(DEFAULTS_KEY)
        if not stored and not explicit:  # a new session: only directions without a value get marked
            if not enabled:
                return
            new: dict[str, Any] = {}
            if s.rate_down is None and default_down is not None:
                new["rate_down"] = default_down
            if s.rate_up is None and default_up is not None:
                new["rate_up"] = default_up
            if s.overhead_profile is None and default_overhead is not None:
                new["overhead_profile"] = default_overhead
            if new:
                new["access_data"] = {**s.access_data, DEFAULTS_KEY: _MARKS[tuple(new)]}
                self.mgr.update(s.id, **new)
            return
        old = list(stored or ())
        marked = old.copy()
        fields: dict[str, Any] = {}
        for d, attr, value, default in (
            ("down", "rate_down", s.rate_down, default_down),
            ("up", "rate_up", s.rate_up, default_up),
            (OVERHEAD, "overhead_profile", s.overhead_profile, default_overhead),
        ):
            if d in marked and explicit and value is not None and value != default:
                marked.remove(d)  # changed by CoA / REST / CLI: its own value from now on
            elif d not in marked and value is None and enabled and default is not None:
                marked.append(d)
            if d in marked and value != default:
                fields[attr] = default
        if marked != old:
            fields["access_data"] = {**s.access_data, DEFAULTS_KEY: _marks(marked)}
        if fields:
            self.mgr.update(s.id, **fields)

    def device_of(self, s: Session) -> str:
        assert self.dp is not None
        if self.dp.backend == "kernel":
            return s.ppp_interface or s.access_interface
        return self.device

    def want(self, s: Session) -> Want | None:
        dp = self.dp
        if not s.ip_address or dp is None:
            return None
        mtu = None
        if dp.backend == "kernel":  # device_of, inline
            device = s.ppp_interface or s.access_interface
        else:
            device = self.device
            if s.type is _PPPOE and dp.backend == "userspace":  # the link's, else pppoe.mtu
                mtu = int(s.access_data.get("mtu") or self.daemon.applied.pppoe.mtu)
        return Want(s.id, s.ip_address, device, self.shape(s), s.cgnat_bypass, mtu)

    def _record(self, s: Session, out: Outcome, *, restored: bool = False) -> int:
        """Book an outcome; returns 1 if it failed (restored sessions are kept regardless)."""
        if out.pending:
            self.pending.add(s.id)
        elif self.pending:
            self.pending.discard(s.id)
        if out.errno:  # not out.ok
            self.stats["errors"] += 1
            msg = f"policy for session {s.id} ({s.ip_address}): {out.detail} (errno {out.errno})"
            if restored:
                log.error(msg, extra={"session_id": s.id})
                self.daemon.bus.publish(EventName.ERROR, {"message": msg, "session_id": s.id})
                return 1
            raise PolicyError(msg)
        if s.vrf_steered != out.steered:
            self.mgr.update(s.id, vrf_steered=out.steered)
        return 0

    # ---- configuration ----------------------------------------------------------------------
    async def _converge_cgnat(self, old: CgnatConfig | None, new: CgnatConfig) -> None:
        assert self.worker is not None
        bypass = [s.ip_address for s in self.mgr.table if s.cgnat_bypass and s.ip_address]
        try:
            await self.call(self.worker.cgnat_apply, old, new, bypass)
            self.cgnat_error = None
        except Exception as exc:  # missing handoff interface, nft refused...: report, carry on
            self.cgnat_error = f"{type(exc).__name__}: {exc}"
            log.error("CGNAT steering not applied: %s", self.cgnat_error)
            self.daemon.bus.publish(EventName.ERROR, {"message": f"cgnat: {self.cgnat_error}"})
        if not new.enabled:  # nothing is steered: no kernel question to ask
            for s in self.mgr.table:
                if s.vrf_steered:
                    self.mgr.update(s.id, vrf_steered=False)
            return
        sessions = [s for s in self.mgr.table if s.ip_address and s.state is SessionState.ACTIVE]
        wants = [Want(s.id, s.ip_address or "", "", None, s.cgnat_bypass) for s in sessions]
        for s, steered in zip(sessions, await self.call(self.worker.steered, wants), strict=True):
            if s.vrf_steered != steered:
                self.mgr.update(s.id, vrf_steered=steered)

    async def apply_config(self, old: Any, new: Any, changes: list[str]) -> None:
        if self.worker is None:
            return
        sections = {c.split(".", 1)[0] for c in changes}
        if any(c.startswith("system.dataplane") for c in changes):
            log.warning("system.dataplane changed: takes effect at the next abngd restart")
        if "cgnat" in sections or any(c.startswith("interfaces.cgnat_handoff") for c in changes):
            await self._converge_cgnat(cgnat_config(old), cgnat_config(new))
        if sections & {"qos", "pppoe"}:
            await self._reshape()

    async def _reshape(self) -> None:
        """After a qos commit: change every session whose effective shaping changed."""
        ops: list[tuple[Session, Want]] = []
        for s in list(self.mgr.table):
            if s.state is not SessionState.ACTIVE:
                continue
            self.reflect_defaults(s)  # the records follow the new defaults (or null: QoS off)
            if (w := self.want(s)) is None:
                continue
            if self.applied.get(s.id) != w:
                ops.append((s, w))
        if not ops:
            return
        outs = await asyncio.gather(*(self.submit(Change(w)) for _, w in ops))
        for (s, w), out in zip(ops, outs, strict=True):
            self.applied[s.id] = w
            self._record(s, out, restored=True)
        log.info("qos commit: shaping of %d sessions changed", len(ops))

    # ---- DataplaneInfo provider ---------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        if self.dp is None:
            return {"backend": "none", "features": {}, "status": "error", "error": self.error}
        cfg = self.daemon.applied
        out = self.dp.as_dict()
        out.update(
            status="ok"
            if self.worker is not None and not self.reviving() and not self.cgnat_error
            else "degraded",
            qos={
                "enabled": bool(cfg.qos.enabled),
                "backend": "cake" if self.dp.backend == "kernel" else "htb",
                "device": self.device if self.dp.backend == "userspace" else None,
                "sessions": sum(1 for w in self.applied.values() if w.shape is not None),
                "pending": len(self.pending),
            },
            cgnat={"enabled": bool(cfg.cgnat.enabled), "error": self.cgnat_error},
            stats=dict(self.stats),
        )
        return out


class PolicyHook(BaseSessionHook):
    """The session side: up, rate change, down (see the module docstring)."""

    name = "policy"

    def __init__(self, svc: PolicyService) -> None:
        self.svc = svc

    async def session_up(self, session: Session) -> None:
        svc = self.svc
        svc.reflect_defaults(session)
        want = svc.want(session)
        if want is None or svc.worker is None:
            return
        svc.applied[session.id] = want
        # svc.submit(Up(want)) without its coroutine (one per session set-up)
        fut: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        svc._queue.append((Up(want), fut))
        svc._wake.set()
        svc._record(session, await fut)

    async def rate_changed(self, session: Session, source: str) -> None:
        self.svc.reflect_defaults(session, explicit=True)
        want = self.svc.want(session)
        if want is None or self.svc.worker is None:
            return
        self.svc.applied[session.id] = want
        self.svc._record(session, await self.svc.submit(Change(want)))

    async def session_down(self, session: Session) -> None:
        want = self.svc.applied.pop(session.id, None) or self.svc.want(session)
        self.svc.pending.discard(session.id)
        if want is None or self.svc.worker is None:
            return
        out = await self.svc.submit(Down(want))
        if not out.ok:
            raise PolicyError(f"policy removal for session {session.id}: {out.detail} (errno {out.errno})")


def _marks(marked: list[str]) -> tuple[str, ...]:
    """The ``access_data[DEFAULTS_KEY]`` value: one shared tuple per combination (JSON: a list)."""
    return _BY_MARKS.setdefault(tuple(marked), tuple(marked))


_BY_MARKS: dict[tuple[str, ...], tuple[str, ...]] = {}
_REFLECTED = (("rate_down", "down"), ("rate_up", "up"), ("overhead_profile", OVERHEAD))
#: a new session's marks by the fields reflect_defaults sets for it (in _REFLECTED order)
_MARKS = {
    tuple(f for f, _ in chosen): _marks([d for _, d in chosen])
    for n in range(len(_REFLECTED) + 1)
    for chosen in itertools.combinations(_REFLECTED, n)
}


def _rate(value: Any) -> int | None:
    return None if value is None else parse_rate(value)


async def setup(daemon: Daemon, **kw: Any) -> PolicyService | None:
    """Build the policy service from ``daemon.applied``; hook, RPCs, applier, provider."""
    from abng.dataplane import policy_rpc

    if daemon.applied is None:
        log.warning("no configuration: policy (QoS, routes, CGNAT) not started")
        return None
    svc = PolicyService(daemon, **kw)
    daemon.set_dataplane(svc)
    await svc.start()
    daemon.sessions.register_hook(PolicyHook(svc))
    daemon.register_config_applier(svc)
    policy_rpc.install(daemon, svc)
    return svc

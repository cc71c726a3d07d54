"""``abngd``: the core daemon (reference §2.1, DECISIONS.md D1, D2).

Start-up: configuration store, session store restore, subsystems (``SUBSYSTEMS``: each an async
``setup(daemon)`` that registers hooks, disconnectors, RPC methods and config appliers), JSON-RPC
socket, then the interrupted terminations finish.  SIGTERM/SIGINT: stop accepting, flush the
session store and exit 0.  Sessions are *kept* (a restart resumes them); nothing is terminated.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from abng.core import config_rpc, methods, sched
from abng.core import errors as E
from abng.core.audit import AuditLog
from abng.core.errors import RpcError
from abng.core.events import EventBus, EventName
from abng.core.hooks import ConfigApplier, DataplaneInfo, NoDataplane
from abng.core.log import setup_logging
from abng.core.rpc import RpcServer
from abng.core.sessions import SessionManager
from abng.core.store import SessionStore
from abng.core.tasks import TaskSet

log = logging.getLogger("abng.core.daemon")

Subsystem = Callable[["Daemon"], Awaitable[None]]
#: Subsystems started with abngd, in order (access, aaa, dataplane... append theirs here).
SUBSYSTEMS: list[Subsystem] = []


async def _setup_access(daemon: Daemon) -> None:
    """Access protocols (PPPoE, DHCP, trunk I/O) and AAA: abng/access/subsystem.py."""
    from abng.access.subsystem import setup

    await setup(daemon)


SUBSYSTEMS.append(_setup_access)


async def _setup_policy(daemon: Daemon) -> None:
    """Policy (issue 6): backend detection, QoS, /32 routes, CGNAT (abng/dataplane/service.py)
    and the RADIUS CoA/Disconnect listener (abng/aaa/coa_service.py)."""
    from abng.aaa import coa_service
    from abng.dataplane import service as policy

    await policy.setup(daemon)
    await coa_service.setup(daemon)


SUBSYSTEMS.append(_setup_policy)

DEFAULT_DIRS = {
    "config": ("ABNG_CONFIG_DIR", "/opt/athena-bng/etc"),
    "run": ("ABNG_RUN_DIR", "/opt/athena-bng/run"),
    "state": ("ABNG_STATE_DIR", "/opt/athena-bng/var"),
}


@dataclass(frozen=True, slots=True)
class Paths:
    config_dir: Path
    run_dir: Path
    state_dir: Path

    @property
    def socket(self) -> Path:
        return self.run_dir / "abngd.sock"

    @property
    def session_db(self) -> Path:
        return self.state_dir / "sessions.db"

    @property
    def audit_log(self) -> Path:
        return self.state_dir / "audit.log"


class Daemon:
    """Everything abngd owns; subsystems get this object in ``setup(daemon)``."""

    def __init__(
        self,
        paths: Paths,
        *,
        subsystems: Sequence[Subsystem] = (),
        clock: Callable[[], float] = time.time,
        history_limit: int = 10_000,
    ) -> None:
        self.paths = paths
        self.clock = clock
        self.subsystems = list(subsystems)
        self.tasks = TaskSet("abngd")
        self.bus = EventBus(clock)
        paths.state_dir.mkdir(parents=True, exist_ok=True)
        self.store = SessionStore(paths.session_db, history_limit=history_limit)
        self.sessions = SessionManager(
            self.bus, self.store, tasks=self.tasks, clock=clock, history_limit=history_limit
        )
        self.audit = AuditLog(paths.audit_log, clock)
        self.rpc = RpcServer(paths.socket, self.tasks, bus=self.bus, audit=self.audit)
        self.config: Any = None  # abng.config.store.ConfigStore once loaded
        #: the configuration this daemon applied (changes only through commit_config, never
        #: behind the operator's back) and its generation
        self.applied: Any = None
        self.applied_generation = 0
        self.config_lock = asyncio.Lock()
        self.config_appliers: list[ConfigApplier] = []
        self.dataplane: DataplaneInfo = NoDataplane()
        self.started_at = clock()
        self._stopping = asyncio.Event()

    # ---- registration (for subsystems) --------------------------------------------------------
    def register_config_applier(self, applier: ConfigApplier) -> None:
        self.config_appliers.append(applier)

    def set_dataplane(self, provider: DataplaneInfo) -> None:
        self.dataplane = provider

    # ---- configuration ------------------------------------------------------------------------
    def load_config(self) -> None:
        try:
            from abng.config.store import ConfigStore
        except ImportError:
            log.warning("configuration store not available: config methods answer -32003")
            return
        default = Path(__file__).resolve().parent.parent / "config" / "default.yaml"
        self.config = ConfigStore(self.paths.config_dir, default=default if default.exists() else None)
        self.applied, self.applied_generation = self.config.running, self.config.generation
        log.info("configuration loaded", extra={"generation": self.applied_generation})

    async def commit_config(self, *, comment: str | None, user: str | None, check: bool) -> dict[str, Any]:
        """Commit the candidate; run the config appliers; emit ``config_commit``."""
        from abng.config.store import ConfigError

        store = self.config
        async with self.config_lock:
            try:
                result = await asyncio.to_thread(store.commit, comment=comment, user=user, check=check)
            except ConfigError as exc:
                raise config_rpc.config_error(exc, E.CONFIG_INVALID) from exc
            except TimeoutError as exc:
                raise RpcError(E.CONFIG_BUSY, "configuration is locked by another commit") from exc
            changes = list(result.changes)
            if check or not result.committed:
                return {"committed": False, "generation": result.generation, "changes": changes}
            old, self.applied, self.applied_generation = self.applied, result.new, result.generation
            for applier in self.config_appliers:
                try:
                    await applier.apply_config(old, result.new, changes)
                except Exception as exc:
                    name = getattr(applier, "name", type(applier).__name__)
                    log.error("config applier %s failed: %r", name, exc, exc_info=exc)
                    self.bus.publish(EventName.ERROR, {"message": f"applying config in {name} failed: {exc}"})
        log.info("configuration committed", extra={"generation": result.generation})
        self.bus.publish(EventName.CONFIG_COMMIT, {"generation": result.generation, "changes": changes})
        return {"committed": True, "generation": result.generation, "changes": changes}

    # ---- run ----------------------------------------------------------------------------------
    async def start(self) -> None:
        self.load_config()
        t0, c0 = time.perf_counter(), time.process_time()
        gc.disable()  # 100k new objects: no point scanning them again and again meanwhile
        try:
            report = self.sessions.restore()
        finally:
            gc.enable()
        gc.freeze()  # restored sessions are long-lived: keep them out of future collections
        log.info(
            "sessions restored in %.3f s (cpu %.3f s): %d active, %d terminating, %d dropped (were starting)",
            time.perf_counter() - t0, time.process_time() - c0,
            report["active"], report["terminating"], report["dropped"],
        )  # fmt: skip
        methods.install(self)
        config_rpc.install(self)
        for setup in self.subsystems:
            await setup(self)
        self.tasks.spawn("store-flush", self.store.run())
        # terminations the previous process left half done end before the socket opens: no
        # client sees a restored session that is already on its way out
        await self.sessions.finish_restore()
        await self.rpc.start()
        log.info("abngd listening on %s", self.paths.socket)

    def request_stop(self) -> None:
        self._stopping.set()

    async def wait_stopped(self) -> None:
        await self._stopping.wait()

    async def stop(self) -> None:
        """Stop serving and flush the session store.  Sessions are kept for the next start."""
        await self.rpc.close()
        await self.store.flush()
        await self.tasks.close()
        self.store.close()
        log.info("abngd stopped; %d sessions kept in the store", len(self.sessions.table))


def _sighup() -> None:
    log.warning("SIGHUP ignored: the configuration changes only through commit (config.commit)")


def install_signal_handlers(loop: asyncio.AbstractEventLoop, daemon: Daemon) -> None:
    """SIGTERM/SIGINT stop abngd; SIGHUP is logged and ignored.

    Not ``loop.add_signal_handler``: that routes signals through a wake-up socket which a
    forked child (pyroute2's netns helpers fork) inherits, so a signal sent to the *child*
    would stop abngd.  A Python handler runs in the process that got the signal; in a forked
    child it restores the default action and re-raises, so the child dies as it expects.
    """
    main_pid = os.getpid()

    def handler(signum: int, frame: object) -> None:
        if os.getpid() != main_pid:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        callback = _sighup if signum == signal.SIGHUP else daemon.request_stop
        loop.call_soon_threadsafe(callback)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, handler)


async def run(paths: Paths) -> int:
    daemon = Daemon(paths, subsystems=SUBSYSTEMS)
    loop = asyncio.get_running_loop()
    # asyncio.to_thread work (the store's SQLite writes, config commits, spool and audit files)
    # must not preempt the event loop when it is handed over (abng/core/sched.py)
    loop.set_default_executor(
        ThreadPoolExecutor(thread_name_prefix="abng-bg", initializer=sched.background_thread)
    )
    install_signal_handlers(loop, daemon)
    try:
        await daemon.start()
    except Exception as exc:
        log.error("abngd failed to start: %s", exc, exc_info=exc)
        await daemon.stop()
        return 1
    await daemon.wait_stopped()
    log.info("shutting down")
    await daemon.stop()
    return 0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="abngd", description="abng core daemon")
    for key, (env, default) in DEFAULT_DIRS.items():
        p.add_argument(f"--{key}-dir", type=Path, default=Path(os.environ.get(env, default)),
                       help=f"{key} directory (env {env}, default {default})")  # fmt: skip
    p.add_argument("--log-level", default=os.environ.get("ABNG_LOG_LEVEL", "info"),
                   choices=["debug", "info", "warning", "error"])  # fmt: skip
    return p.parse_args(argv)


#: cyclic GC thresholds: abngd allocates a few dozen short-lived containers per frame, so the
#: default young generation (700 allocations) was collected several times per session set up,
#: each time walking the young objects; 20,000 keeps that rare (a few MB of young objects at most)
GC_THRESHOLDS = (20_000, 20, 20)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    gc.set_threshold(*GC_THRESHOLDS)
    setup_logging(args.log_level)
    paths = Paths(args.config_dir, args.run_dir, args.state_dir)
    return asyncio.run(run(paths))


if __name__ == "__main__":
    sys.exit(main())

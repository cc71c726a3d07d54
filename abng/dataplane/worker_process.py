"""The policy worker in a child process of abngd: no GIL shared with the event loop.

:class:`PolicyWorker` encodes a netlink message per class, filter and route (~160 us of Python
per session) and re-takes the GIL after each netlink syscall; run in a thread of abngd, it made
the event loop wait for the GIL.  :class:`WorkerProcess` starts ``python -m
abng.dataplane.worker_process`` (``subprocess``, not a fork of the multi-threaded abngd; ``-P``: the
package comes from ``PYTHONPATH``, never from the current directory) with one
end of a socketpair, and offers the same synchronous methods as the worker.  Each call sends one
pickled ``(method, args)`` and blocks in ``recv`` (GIL released) until the child answers
``(True, result)`` or ``(False, (exception, traceback text))``; the exception is raised again
in abngd as the same class (``OSError`` keeps its errno), with the child's traceback as a note.
Batches of intents (``run``, ``reapply``) and their outcomes travel as plain tuples: pickling
dataclasses costs ~15 us per intent, tuples ~1 us.

The service calls it from its one-thread executor only (one request at a time on the pipe).
When the child is gone (EOF, broken pipe, any ``OSError`` on the connection) every call raises
:class:`WorkerDied`; the service then starts a new one and re-converges (see
:mod:`abng.dataplane.service`).  The child exits on EOF, ignores SIGINT (abngd shuts it down
in order) and gets SIGTERM when abngd dies (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import argparse
import ctypes
import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterable, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from abng.dataplane.cgnat import CgnatConfig, CgnatState
from abng.dataplane.policy_worker import Change, Down, Op, Outcome, PolicyWorker, Shape, Up, Want
from abng.dataplane.qos import BackendName, InstalledShape
from abng.dataplane.routes import MAIN_TABLE

log = logging.getLogger(__name__)

START_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0
PR_SET_PDEATHSIG = 1
#: the directory holding the ``abng`` package this process runs (the child imports the same one)
PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])

WantTuple = tuple[int, str, str, tuple[int, int, int, int] | None, bool, int | None]
OutcomeTuple = tuple[int, str, bool, bool]
_KINDS: dict[type, int] = {Up: 0, Change: 1, Down: 2}
_OPS: tuple[Callable[[Want], Op], ...] = (Up, Change, Down)
#: outcomes without an error are shared objects (no dataclass per session on the loop's side)
_OK = {(0, "", s, p): Outcome(0, "", s, p) for s in (False, True) for p in (False, True)}


class WorkerDied(ConnectionError):
    """The worker process is gone (or never answered): the call did not happen, or not fully."""


class RemoteError(RuntimeError):
    """An exception of the child that cannot be pickled, as ``Type: message``."""


# ---- wire forms ------------------------------------------------------------------------------
def want_tuple(want: Want) -> WantTuple:
    key, ip, device, s, bypass, mtu = want
    return (key, ip, device, None if s is None else (s[0], s[1], s[2], s[3]), bypass, mtu)


#: decoded shapes (frozen, so shared): a handful of distinct rate plans in practice
_SHAPES: dict[tuple[int, int, int, int], Shape] = {}


def want_of(t: WantTuple) -> Want:
    key, ip, device, shape, bypass, mtu = t
    if shape is None:
        return Want(key, ip, device, None, bypass, mtu)
    s = _SHAPES.get(shape)
    if s is None:
        if len(_SHAPES) >= 4096:
            _SHAPES.clear()
        s = _SHAPES[shape] = Shape(*shape)
    return Want(key, ip, device, s, bypass, mtu)


def outcome_tuples(outs: Iterable[Outcome]) -> list[OutcomeTuple]:
    return [(errno, detail, steered, pending) for errno, detail, steered, pending in outs]


def outcomes_of(items: Iterable[OutcomeTuple]) -> list[Outcome]:
    ok = _OK
    return [ok.get(t) or Outcome(*t) for t in items]


def _run(worker: PolicyWorker, ops: Sequence[tuple[int, WantTuple]]) -> list[OutcomeTuple]:
    return outcome_tuples(worker.run([_OPS[kind](want_of(t)) for kind, t in ops]))


def _reapply(worker: PolicyWorker, device: str, wants: Sequence[WantTuple]) -> list[OutcomeTuple]:
    return outcome_tuples(worker.reapply(device, [want_of(t) for t in wants]))


#: what the child answers: method name -> handler (the only entry points; no getattr by name)
HANDLERS: dict[str, Callable[..., Any]] = {
    "run": _run,
    "reapply": _reapply,
    "devices_changed": PolicyWorker.devices_changed,
    "flush_stale_routes": PolicyWorker.flush_stale_routes,
    "ifindex": PolicyWorker.ifindex,
    "cgnat_apply": PolicyWorker.cgnat_apply,
    "cgnat_config": lambda w: w.cgnat.config,
    "cgnat_state": lambda w: w.cgnat.state(),
    "steered": PolicyWorker.steered,
    "installed": PolicyWorker.installed,
    "host_routes": PolicyWorker.host_routes,
    "shutdown": PolicyWorker.shutdown,
    "close": PolicyWorker.close,
}


# ---- abngd's side ------------------------------------------------------------------------------
class WorkerProcess:
    """A :class:`PolicyWorker` in a child process; the same methods, each one round trip.
    Not thread-safe: one caller at a time (the service's one-thread executor)."""

    def __init__(
        self,
        backend: BackendName,
        *,
        has_vrf: bool,
        netns: str | None = None,
        log_level: str | None = None,
        start_timeout: float = START_TIMEOUT,
    ) -> None:
        level = log_level or logging.getLevelName(logging.getLogger().getEffectiveLevel()).lower()
        ours, theirs = socket.socketpair()
        argv = [sys.executable, "-P", "-m", __name__, "--fd", str(theirs.fileno()), "--backend", backend,
                "--log-level", level, "--parent", str(os.getpid())]  # fmt: skip
        if has_vrf:
            argv.append("--has-vrf")
        if netns is not None:
            argv += ["--netns", netns]
        path = os.environ.get("PYTHONPATH")
        env = {**os.environ, "PYTHONPATH": PACKAGE_ROOT + (os.pathsep + path if path else "")}
        try:
            self.proc = subprocess.Popen(argv, pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, env=env)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self._conn = Connection(ours.detach())
        self._dead = False
        self._closed = False
        try:
            if not self._conn.poll(start_timeout):
                raise WorkerDied(f"dataplane worker process {self.pid} did not start in {start_timeout:.0f}s")
            self._reply()  # (True, pid) once PolicyWorker is built, else its exception
        except BaseException:
            self.close()
            raise

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def returncode(self) -> int | None:
        return self.proc.poll()

    def alive(self) -> bool:
        return not self._dead and not self._closed and self.proc.poll() is None

    def call(self, method: str, *args: Any) -> Any:
        if self._dead or self._closed:
            raise WorkerDied(f"dataplane worker process {self.pid} is gone")
        try:
            self._conn.send((method, args))
        except OSError as exc:
            self._dead = True
            raise WorkerDied(f"dataplane worker process {self.pid}: {exc}") from exc
        return self._reply()

    def _reply(self) -> Any:
        try:
            ok, payload = self._conn.recv()
        except (EOFError, OSError) as exc:
            self._dead = True
            raise WorkerDied(f"dataplane worker process {self.pid} is gone ({type(exc).__name__})") from exc
        if ok:
            return payload
        error, remote_tb = payload
        error.add_note(f"in the dataplane worker process {self.pid}:\n{remote_tb}")
        raise error

    # ---- PolicyWorker's methods ----------------------------------------------------------------
    def run(self, ops: Sequence[Op]) -> list[Outcome]:
        kinds = _KINDS
        return outcomes_of(self.call("run", [(kinds[type(op)], want_tuple(op.want)) for op in ops]))

    def reapply(self, device: str, wants: Sequence[Want]) -> list[Outcome]:
        return outcomes_of(self.call("reapply", device, [want_tuple(w) for w in wants]))

    def devices_changed(self, names: Iterable[str]) -> list[str]:
        return list(self.call("devices_changed", list(names)))

    def flush_stale_routes(self, keep: Iterable[str]) -> int:
        return int(self.call("flush_stale_routes", list(keep)))

    def ifindex(self, name: str) -> int | None:
        found: int | None = self.call("ifindex", name)
        return found

    def cgnat_apply(self, old: CgnatConfig | None, new: CgnatConfig, bypass: Sequence[str]) -> None:
        self.call("cgnat_apply", old, new, list(bypass))

    def cgnat_config(self) -> CgnatConfig | None:
        """The CGNAT configuration the kernel was converged to (None: CGNAT off)."""
        cfg: CgnatConfig | None = self.call("cgnat_config")
        return cfg

    def cgnat_state(self) -> CgnatState:
        state: CgnatState = self.call("cgnat_state")
        return state

    def steered(self, wants: Sequence[Want]) -> list[bool]:
        return list(self.call("steered", list(wants)))

    def installed(self) -> list[InstalledShape]:
        return list(self.call("installed"))

    def host_routes(self, tables: Iterable[int] = (MAIN_TABLE,)) -> list[dict[str, Any]]:
        return list(self.call("host_routes", list(tables)))

    def shutdown(self) -> None:
        self.call("shutdown")

    def close(self, timeout: float = STOP_TIMEOUT) -> None:
        """Close the worker's sockets in the child, then end the child (EOF; after ``timeout``
        seconds SIGKILL) and reap it.  Safe to call more than once, and on a dead child."""
        if not self._dead and not self._closed and self.proc.poll() is None:
            try:
                self.call("close")
            except Exception:  # the child failed or died meanwhile: stopped below all the same
                log.debug("dataplane worker close failed", exc_info=True)
        self._closed = True
        self._conn.close()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("dataplane worker process %d did not exit: killing it", self.pid)
            self.proc.kill()
            self.proc.wait()


# ---- the child -------------------------------------------------------------------------------
def _portable(exc: BaseException) -> tuple[BaseException, str]:
    """``exc`` if it survives pickling, else an equivalent (OSError keeps its errno)."""
    text = "".join(traceback.format_exception(exc))
    try:
        pickle.loads(pickle.dumps(exc))  # noqa: S301 (our own bytes)
        return exc, text
    except Exception:  # an exception class with an unusual constructor
        if isinstance(exc, OSError):
            return OSError(exc.errno, exc.strerror or str(exc)), text
        return RemoteError(f"{type(exc).__name__}: {exc}"), text


def serve(conn: Connection, worker: PolicyWorker) -> None:
    """Answer requests until EOF or ``close``."""
    while True:
        try:
            method, args = conn.recv()
        except EOFError:
            break
        try:
            reply: tuple[bool, Any] = (True, HANDLERS[method](worker, *args))
        except Exception as exc:
            reply = (False, _portable(exc))
        try:
            conn.send(reply)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:  # pickled before a byte is sent
            conn.send((False, _portable(exc)))
        if method == "close":
            return
    worker.close()


def _die_with_parent(parent: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
    if os.getppid() != parent:  # abngd died before prctl: nobody would send the signal
        sys.exit(0)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="abngd's dataplane policy worker (started by abngd)")
    p.add_argument("--fd", type=int, required=True)
    p.add_argument("--backend", choices=("htb", "cake"), required=True)
    p.add_argument("--has-vrf", action="store_true")
    p.add_argument("--netns")
    p.add_argument("--log-level", default="info")
    p.add_argument("--parent", type=int, required=True)
    args = p.parse_args(argv)
    from abng.core import sched
    from abng.core.log import setup_logging

    setup_logging(args.log_level)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's ^C: abngd stops us in order
    sched.background_thread()  # never preempt abngd's loop (inherited from the executor anyway)
    _die_with_parent(args.parent)
    conn = Connection(args.fd)
    try:
        worker = PolicyWorker(args.backend, has_vrf=args.has_vrf, netns=args.netns)
    except Exception as exc:
        conn.send((False, _portable(exc)))
        return 1
    conn.send((True, os.getpid()))
    log.debug("dataplane worker process %d ready (backend %s)", os.getpid(), args.backend)
    try:
        serve(conn, worker)
    except OSError as exc:  # abngd is gone (broken pipe): nothing left to answer
        log.debug("dataplane worker connection lost: %s", exc)
        worker.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

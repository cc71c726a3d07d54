"""The policy worker in its own process: calls, errors, restart after kill -9, clean stop."""

from __future__ import annotations

import asyncio
import errno
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from abng.core.model import TerminateReason
from abng.core.sessions import SessionFailed
from abng.dataplane.cgnat import CgnatConfig
from abng.dataplane.policy_worker import Change, Down, Outcome, Shape, Up, Want
from abng.dataplane.worker_process import (
    RemoteError,
    WorkerDied,
    WorkerProcess,
    _portable,
    outcome_tuples,
    outcomes_of,
    want_of,
    want_tuple,
)
from tests.helpers.daemon import sample_session
from tests.helpers.netns import ns_run
from tests.policy.conftest import HANDOFF, TUN, Env, add_tun, base_config, classes, routes188
from tests.policy.live import start_in_ns, write_config

pytestmark = pytest.mark.usefixtures("policy_ns")
IFB = f"ifb-{TUN}"
REPO = Path(__file__).resolve().parents[2]


def gone(pid: int) -> bool:
    """Not running any more (reaped, or a zombie of a parent that does not reap)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


async def until(cond: object, limit: float = 15.0) -> None:
    deadline = time.monotonic() + limit
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


def route_ips(ns: str) -> set[str]:
    return {r["dst"] for r in routes188(ns)}


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


# ---- wire forms ------------------------------------------------------------------------------
def test_wire_forms_round_trip() -> None:
    for want in (Want(7, "100.64.0.1", "abng0", Shape(10, 20, 34, 64), True, 1492), Want(8, "10.0.0.1", "x")):
        assert want_of(pickle.loads(pickle.dumps(want_tuple(want)))) == want
    outs = [Outcome(), Outcome(0, "", True, False), Outcome(19, "no device", False, True)]
    assert outcomes_of(outcome_tuples(outs)) == outs


def test_unpicklable_exceptions_become_equivalents() -> None:
    class Odd(Exception):
        def __init__(self, a: int, b: int) -> None:
            super().__init__(f"{a}/{b}")

    class OddOS(OSError):
        def __init__(self, a: int, b: int) -> None:
            super().__init__(errno.EEXIST, f"{a}/{b}")

    exc, text = _portable(Odd(1, 2))
    assert isinstance(exc, RemoteError) and str(exc) == "Odd: 1/2" and "Odd" in text
    exc, _ = _portable(OddOS(1, 2))
    assert isinstance(exc, FileExistsError) and exc.errno == errno.EEXIST and exc.strerror == "1/2"
    value = ValueError("x")
    assert _portable(value)[0] is value


# ---- the process on its own ------------------------------------------------------------------
def test_calls_errors_and_clean_close(policy_ns: str) -> None:
    before = open_fds()
    w = WorkerProcess("htb", has_vrf=False, netns=policy_ns, log_level="warning")
    try:
        assert w.alive() and w.pid != os.getpid()
        assert os.sched_getscheduler(w.pid) == os.SCHED_BATCH  # never preempts abngd's loop
        want = Want(1, "100.64.1.2", TUN, Shape(20_000_000, 5_000_000, 34, 64))
        (out,) = w.run([Up(want)])
        assert out.ok and not out.pending
        assert sorted(classes(policy_ns, TUN).values()) == [20_000_000]
        assert w.run([Change(Want(1, "100.64.1.2", TUN, Shape(30_000_000, 5_000_000, 34, 64)))])[0].ok
        assert {(s.direction, s.rate_bps) for s in w.installed()} == {("down", 30_000_000), ("up", 5_000_000)}
        assert w.ifindex(TUN) is not None and w.ifindex("nonexistent0") is None
        assert w.devices_changed([TUN]) == [] and w.host_routes()[0]["destination"] == "100.64.1.2/32"
        assert w.cgnat_config() is None
        with pytest.raises(ValueError, match="handoff_interface") as info:  # raised in the child
            w.cgnat_apply(None, CgnatConfig(enabled=True), [])
        assert any("worker process" in note for note in info.value.__notes__)
        with pytest.raises(LookupError):
            w.cgnat_apply(
                None, CgnatConfig(enabled=True, handoff_interface="nope0", handoff_gateway="10.1.1.1"), []
            )
        w.cgnat_apply(
            None, CgnatConfig(enabled=True, handoff_interface=HANDOFF, handoff_gateway="10.99.0.1"), []
        )
        assert w.cgnat_config() is not None and w.cgnat_state().default_route == "10.99.0.1"
        assert w.run([Down(want)])[0].ok and classes(policy_ns, TUN) == {}
        w.shutdown()
    finally:
        w.close()
    assert w.returncode == 0 and not w.alive()
    assert open_fds() == before  # the socketpair's ends are closed
    with pytest.raises(WorkerDied):
        w.ifindex(TUN)
    w.close()  # twice: nothing happens


def test_dies_with_its_parent(policy_ns: str) -> None:
    """PR_SET_PDEATHSIG: abngd killed with SIGKILL takes its worker process along."""
    code = (
        "import sys, time\n"
        "from abng.dataplane.worker_process import WorkerProcess\n"
        f"w = WorkerProcess('htb', has_vrf=False, netns={policy_ns!r})\n"
        "print(w.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert not gone(child)
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 10
    while not gone(child):
        assert time.monotonic() < deadline, "the worker process outlived its parent"
        time.sleep(0.05)


# ---- inside the policy service ---------------------------------------------------------------
async def test_kill_9_restarts_and_reconverges(env: Env) -> None:
    a = await env.up(1, "100.64.2.1", rate_down="7mbit", rate_up="3mbit")
    b = await env.up(2, "100.64.2.2", rate_down="9mbit", rate_up="4mbit")
    old = env.svc.worker
    assert old is not None
    fds = len(open_fds())
    os.kill(old.pid, signal.SIGKILL)
    ns_run(env.ns, "tc", "qdisc", "del", "dev", TUN, "root")  # shaping lost meanwhile
    assert classes(env.ns, TUN) == {}
    # noticed while idle (the watcher), restarted, every session re-applied
    await until(lambda: env.svc.stats["worker_restarts"] == 1 and not env.svc.reviving())
    new = env.svc.worker
    assert new is not None and new.pid != old.pid and new.alive() and gone(old.pid)
    assert len(open_fds()) == fds  # the old connection is closed, the new one open
    assert sorted(classes(env.ns, TUN).values()) == [7_000_000, 9_000_000]
    assert sorted(classes(env.ns, IFB).values()) == [3_000_000, 4_000_000]
    assert route_ips(env.ns) == {"100.64.2.1", "100.64.2.2"}
    # the new process knows the old sessions: change in place, new session, removal
    await env.mgr.change_rate(a.id, "11mbit", None, "api")
    c = await env.up(3, "100.64.2.3", rate_down="13mbit")
    assert sorted(classes(env.ns, TUN).values()) == [9_000_000, 11_000_000, 13_000_000]
    assert len(await env.rpc("show.qos")) == 3 and len(await env.rpc("show.routes")) == 3
    for s in (a, b, c):
        await env.mgr.terminate(s.id, TerminateReason.ADMIN_RESET)
    assert classes(env.ns, TUN) == {} and classes(env.ns, IFB) == {} and route_ips(env.ns) == set()
    assert env.svc.stats["errors"] == 0


async def test_batch_in_flight_fails_then_sessions_get_policy(env: Env) -> None:
    a = await env.up(1, "100.64.3.1", rate_down="5mbit")
    old = env.svc.worker
    assert old is not None
    os.kill(old.pid, signal.SIGKILL)  # at once: the next batch meets the dead process, not the watcher
    with pytest.raises(SessionFailed):  # its batch went to the dead process: torn down as today
        await env.up(2, "100.64.3.2", rate_down="6mbit")
    await until(lambda: env.svc.stats["worker_restarts"] == 1 and not env.svc.reviving())
    b = await env.up(3, "100.64.3.3", rate_down="8mbit")
    assert sorted(classes(env.ns, TUN).values()) == [5_000_000, 8_000_000]
    assert route_ips(env.ns) == {"100.64.3.1", "100.64.3.3"}
    assert [s.id for s in env.mgr.table] == [a.id, b.id]


async def test_close_stops_the_process(env: Env) -> None:
    w = env.svc.worker
    assert w is not None
    await env.svc.close()
    assert env.svc.worker is None and w.returncode == 0 and gone(w.pid)


# ---- a live abngd ----------------------------------------------------------------------------
def worker_children(parent: int) -> list[int]:
    """Worker processes whose parent is ``parent``."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[1]) == parent and stat[0] != "Z" and b"abng.dataplane.worker_process" in cmdline:
            out.append(int(entry.name))
    return out


def test_live_abngd_survives_kill_9_of_its_worker(policy_ns: str, tmp_path: Path) -> None:
    add_tun(policy_ns, "abng0")
    write_config(tmp_path, base_config())
    seeded = [sample_session(i, ip_address=f"100.64.4.{i}") for i in range(1, 5)]
    d = start_in_ns(policy_ns, tmp_path, seeded)
    try:
        (worker,) = worker_children(d.process.pid)
        assert len(d.call("show.qos")) == 4
        os.kill(worker, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while (dp := d.call("show.system")["dataplane"])["stats"].get("worker_restarts") != 1 or dp[
            "status"
        ] != "ok":
            assert time.monotonic() < deadline, "abngd did not restart its worker process"
            time.sleep(0.1)
        qos = d.call("show.qos")
        assert all(q["installed"] for q in qos)
        (again,) = worker_children(d.process.pid)
        assert again != worker and gone(worker) and len(qos) == 4
        assert sorted(classes(policy_ns, "abng0").values()) == [100_000_000] * 4
        assert d.log().count("died (exit status -9)") == 1
    finally:
        assert d.stop() == 0
    assert gone(again) and classes(policy_ns, "abng0") == {}  # shutdown: trees removed, process ended

"""CPU cost of abngd's per-session glue, in process (no protocol code, no I/O).

One PPPoE-like session setup as abngd's main thread does it after the protocol work: local AAA
PAP authenticate (rates as strings), ``SessionManager.open`` / ``update`` (access_data) /
``activate`` (ip, rates, radius_attributes) with one waiting ``session_up`` hook (a task, as
the policy hook's worker round trip needs), ``Datapath.add_subscriber``, and the store's row
encoding of the dirty sessions (``SessionStore._encode``, what every 200 ms flush runs on the
loop).  Reports main-thread CPU microseconds per session (``time.thread_time``).

``--full`` adds what the PPPoE service does around it: the set-up coroutine is started with
``abng.core.eager.start_eagerly`` (a task only once it waits), and the ``session_up`` hook is the
real :class:`~abng.dataplane.service.PolicyHook` (defaults reflected, ``Want``/``Shape`` built,
batched through the service's queue and executor thread) with a stub worker answering ok.

Run:  .venv/bin/python bench/session_glue_cpu.py [-n 20000] [--repeat 5] [--full] [--profile]
(A/B against another checkout: ``cd <checkout> && PYTHONPATH=. <venv>/python bench/session_glue_cpu.py``.)
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import pstats
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from abng.aaa.local import LocalAaaConfig, LocalAuthenticator, LocalSubscriber
from abng.aaa.types import AuthRequest
from abng.access.frames import TPID_8021AD, TPID_8021Q, VlanTag
from abng.config.schema import validate_config
from abng.core.eager import start_eagerly
from abng.core.events import EventBus
from abng.core.hooks import BaseSessionHook
from abng.core.model import Session, SessionType
from abng.core.sessions import SessionManager
from abng.core.store import SessionStore
from abng.core.tasks import TaskSet
from abng.dataplane.datapath import Datapath, Kind, SubscriberPath
from abng.dataplane.detect import DataplaneInfo
from abng.dataplane.policy_worker import Outcome
from abng.dataplane.service import PolicyHook, PolicyService

REPO = Path(__file__).resolve().parents[1]


class WaitingHook(BaseSessionHook):
    name = "bench-wait"

    async def session_up(self, session: Session) -> None:
        await asyncio.sleep(0)


class StubWorker:
    """The worker process's interface, answering every intent with success (no kernel)."""

    def run(self, ops: list[Any]) -> list[Outcome]:
        return [Outcome() for _ in ops]

    def alive(self) -> bool:
        return True


class StubDaemon:
    def __init__(self, mgr: SessionManager, tasks: TaskSet) -> None:
        import yaml

        cfg = yaml.safe_load((REPO / "abng/config/default.yaml").read_text())
        cfg["qos"] = {"enabled": True, "default_down": "100mbit", "default_up": "40mbit"}
        self.applied, issues = validate_config(cfg)
        assert self.applied is not None, issues
        self.sessions = mgr
        self.bus = mgr.bus
        self.tasks = tasks


def policy_hook(mgr: SessionManager, tasks: TaskSet) -> PolicyService:
    svc = PolicyService(StubDaemon(mgr, tasks), info=DataplaneInfo("userspace"))  # type: ignore[arg-type]
    svc.worker = StubWorker()  # type: ignore[assignment]
    tasks.spawn("policy-batches", svc._drain())
    mgr.register_hook(PolicyHook(svc))
    return svc


def _census() -> Counter[str]:
    gc.collect()
    return Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.get_objects())


async def _run(
    n: int, batch: int, tmp: Path, profile: cProfile.Profile | None, full: bool = False, objects: bool = False
) -> float:
    users = tuple(
        LocalSubscriber(username=f"user{i}", password=f"pw{i}", rate_down="100mbit", rate_up="20mbit")
        for i in range(n)
    )
    auth = LocalAuthenticator(LocalAaaConfig(users))
    store = SessionStore(tmp / "sessions.sqlite")
    mgr = SessionManager(EventBus(time.time), store, tasks=TaskSet("bench"))
    tasks = TaskSet("bench-setup")
    svc = policy_hook(mgr, tasks) if full else None
    if svc is None:
        mgr.register_hook(WaitingHook())
    dp = Datapath(b"\x02\x00\x00\x00\x00\x01")
    before = _census() if objects else None

    async def one(i: int) -> None:
        iface = f"trunk0.{100 + i // 4000}.{1 + i % 4000}"
        mac = f"02:ab:02:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}"
        res = await auth.authenticate(AuthRequest(f"user{i}", mac, iface, "pppoe", password=f"pw{i}"))
        assert res.accepted
        s = mgr.open(SessionType.PPPOE, f"user{i}", mac, iface, {"pppoe_sid": i & 0xFFFF})
        mgr.update(s.id, access_data={**s.access_data, "mtu": 1492, "magic": 12345})
        ip = f"100.{64 + (i >> 16)}.{i >> 8 & 255}.{i & 255}"
        tags = (VlanTag(TPID_8021AD, 100 + i // 4000), VlanTag(TPID_8021Q, 1 + i % 4000))
        dp.add_subscriber(ip, SubscriberPath(tags, bytes(6), Kind.PPPOE, i & 0xFFFF, iface))
        await mgr.activate(
            s.id,
            ip_address=ip,
            rate_down=res.rate_down_bps,
            rate_up=res.rate_up_bps,
            ppp_interface=f"ppp{i}",
            radius_attributes={"Class": ["abc"]},
        )

    cpu = 0.0
    per_batch: list[float] = []
    for start in range(0, n, batch):
        c0 = time.thread_time()
        if profile:
            profile.enable()
        if full:
            ids = range(start, min(n, start + batch))
            started = (start_eagerly(tasks.spawn, f"s{i}", one(i)) for i in ids)
            await asyncio.gather(*(t for t in started if t is not None))
        else:
            await asyncio.gather(*(tasks.spawn(f"s{i}", one(i)) for i in range(start, min(n, start + batch))))
        store._encode(store._take(None))  # the flush's part on the loop
        if profile:
            profile.disable()
        spent = time.thread_time() - c0
        cpu += spent
        per_batch.append(spent / (min(n, start + batch) - start))
    assert len(mgr.table) == n and tasks.crashes == 0
    if before is not None:
        kept = _census() - before
        print(f"GC-tracked objects kept per session: {sum(kept.values()) / n:.2f}")
        for name, count in kept.most_common(12):
            print(f"  {count / n:6.2f} {name}")
    if svc is not None:
        assert len(svc.applied) == n
        svc._executor.shutdown()
    await tasks.close(0.1)
    store.close()
    per_batch.sort()
    BATCH_QUARTILES.append(per_batch[len(per_batch) // 4] * 1e6)
    return cpu / n * 1e6


#: per run: the first quartile of the per-batch CPU per session (robust on a shared machine)
BATCH_QUARTILES: list[float] = []


def run(
    n: int, batch: int, profile: cProfile.Profile | None = None, full: bool = False, objects: bool = False
) -> float:
    with tempfile.TemporaryDirectory(prefix="abng-gluebench-") as d:
        return asyncio.run(_run(n, batch, Path(d), profile, full, objects))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=20_000, help="sessions per run")
    ap.add_argument("--outstanding", type=int, default=50, help="sessions set up per batch")
    ap.add_argument("--repeat", type=int, default=5, help="runs (the best is reported)")
    ap.add_argument("--full", action="store_true", help="eager start and the real policy hook")
    ap.add_argument("--profile", action="store_true", help="cProfile one run")
    ap.add_argument("--objects", action="store_true", help="count the objects kept per session (one run)")
    args = ap.parse_args()
    if args.objects:
        run(args.n, args.outstanding, full=args.full, objects=True)
        return
    if args.profile:
        prof = cProfile.Profile()
        run(args.n, args.outstanding, prof, args.full)
        pstats.Stats(prof, stream=sys.stdout).sort_stats("tottime").print_stats(40)
        return
    runs: list[Any] = []
    for _ in range(args.repeat):
        gc.collect()
        runs.append(run(args.n, args.outstanding, full=args.full))
    shown = ", ".join(f"{r:.1f}" for r in runs)
    mode = " (full)" if args.full else ""
    print(f"session glue{mode}: {min(runs):.1f} us CPU/session (main thread; runs: {shown}); "
          f"batch first quartile {min(BATCH_QUARTILES):.1f} us")  # fmt: skip


if __name__ == "__main__":
    main()

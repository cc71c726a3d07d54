"""CPU cost of abngd's per-session glue, in process (no protocol code, no I/O).

One PPPoE-like session setup as abngd's main thread does it after the protocol work: local AAA
PAP authenticate (rates as strings), ``SessionManager.open`` / ``update`` (access_data) /
``activate`` (ip, rates, radius_attributes) with one waiting ``session_up`` hook (a task, as
the policy hook's worker round trip needs), ``Datapath.add_subscriber``, and the store's row
encoding of the dirty sessions (``SessionStore._encode``, what every 200 ms flush runs on the
loop).  Reports main-thread CPU microseconds per session (``time.thread_time``).

Run:  .venv/bin/python bench/session_glue_cpu.py [-n 20000] [--repeat 5] [--profile]
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
from pathlib import Path
from typing import Any

from abng.aaa.local import LocalAaaConfig, LocalAuthenticator, LocalSubscriber
from abng.aaa.types import AuthRequest
from abng.access.frames import TPID_8021AD, TPID_8021Q, VlanTag
from abng.core.events import EventBus
from abng.core.hooks import BaseSessionHook
from abng.core.model import Session, SessionType
from abng.core.sessions import SessionManager
from abng.core.store import SessionStore
from abng.core.tasks import TaskSet
from abng.dataplane.datapath import Datapath, Kind, SubscriberPath


class WaitingHook(BaseSessionHook):
    name = "bench-wait"

    async def session_up(self, session: Session) -> None:
        await asyncio.sleep(0)


async def _run(n: int, batch: int, tmp: Path, profile: cProfile.Profile | None) -> float:
    users = tuple(
        LocalSubscriber(username=f"user{i}", password=f"pw{i}", rate_down="100mbit", rate_up="20mbit")
        for i in range(n)
    )
    auth = LocalAuthenticator(LocalAaaConfig(users))
    store = SessionStore(tmp / "sessions.sqlite")
    mgr = SessionManager(EventBus(time.time), store, tasks=TaskSet("bench"))
    mgr.register_hook(WaitingHook())
    dp = Datapath(b"\x02\x00\x00\x00\x00\x01")
    tasks = TaskSet("bench-setup")

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
    for start in range(0, n, batch):
        c0 = time.thread_time()
        if profile:
            profile.enable()
        await asyncio.gather(*(tasks.spawn(f"s{i}", one(i)) for i in range(start, min(n, start + batch))))
        store._encode(store._take(None))  # the flush's part on the loop
        if profile:
            profile.disable()
        cpu += time.thread_time() - c0
    assert len(mgr.table) == n and tasks.crashes == 0
    store.close()
    return cpu / n * 1e6


def run(n: int, batch: int, profile: cProfile.Profile | None = None) -> float:
    with tempfile.TemporaryDirectory(prefix="abng-gluebench-") as d:
        return asyncio.run(_run(n, batch, Path(d), profile))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=20_000, help="sessions per run")
    ap.add_argument("--outstanding", type=int, default=50, help="sessions set up per batch")
    ap.add_argument("--repeat", type=int, default=5, help="runs (the best is reported)")
    ap.add_argument("--profile", action="store_true", help="cProfile one run")
    args = ap.parse_args()
    if args.profile:
        prof = cProfile.Profile()
        run(args.n, args.outstanding, prof)
        pstats.Stats(prof, stream=sys.stdout).sort_stats("tottime").print_stats(40)
        return
    runs: list[Any] = []
    for _ in range(args.repeat):
        gc.collect()
        runs.append(run(args.n, args.outstanding))
    shown = ", ".join(f"{r:.1f}" for r in runs)
    print(f"session glue: {min(runs):.1f} us CPU/session (main thread; runs: {shown})")


if __name__ == "__main__":
    main()

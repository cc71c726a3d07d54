"""IdleWatch in-process: real SessionManager, Datapath counters and Timers, passes driven by hand
with explicit ``now`` values (no sleeping, no timing assertions)."""

from __future__ import annotations

import asyncio

from abng.access.idle import IDLE_INTERVAL, MIN_INTERVAL, IdleWatch
from abng.access.timers import Timers
from abng.core.events import EventBus
from abng.core.model import SessionState, SessionType, TerminateReason
from abng.core.sessions import SessionManager
from abng.core.tasks import TaskSet
from abng.dataplane.datapath import Datapath, Kind, SubscriberPath

T0 = 1_800_000_000.0


async def setup() -> tuple[SessionManager, Datapath, IdleWatch, TaskSet]:
    bus = EventBus(lambda: T0)
    tasks = TaskSet("idle-test")
    mgr = SessionManager(bus, None, tasks=tasks)
    dp = Datapath(b"\x02\x00\x00\x00\x00\xfe", ["100.64.0.1"])
    watch = IdleWatch(mgr, bus, dp, Timers(lambda: T0), tasks.spawn)
    return mgr, dp, watch, tasks


async def up(mgr: SessionManager, dp: Datapath, n: int, idle: int | None) -> int:
    ip = f"100.64.0.{10 + n}"
    s = mgr.open(SessionType.DHCP, f"u{n}", f"02:00:00:00:00:{n:02x}", "trunk0")
    dp.add_subscriber(ip, SubscriberPath((), bytes.fromhex(f"0200000000{n:02x}"), Kind.IPOE, 0, "trunk0"))
    await mgr.activate(s.id, ip_address=ip, idle_timeout=idle)
    return s.id


async def settle(tasks: TaskSet) -> None:
    """Wait for the spawned terminations (bounded)."""
    for _ in range(500):
        if not len(tasks):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("terminations did not finish")


async def test_idle_sessions_end_busy_ones_stay() -> None:
    mgr, dp, watch, tasks = await setup()
    assert watch.interval() == IDLE_INTERVAL  # nothing watched
    quiet = await up(mgr, dp, 1, 4)
    busy = await up(mgr, dp, 2, 4)
    forever = await up(mgr, dp, 3, None)  # no Idle-Timeout: never watched
    assert set(watch.watched) == {quiet, busy}
    assert watch.interval() == max(MIN_INTERVAL, 4 / 2)
    busy_ip = mgr.get(busy).ip_address
    assert busy_ip is not None
    for step in range(1, 6):  # the busy subscriber sends a packet between every pass
        counters = dp.counters(busy_ip)
        assert counters is not None
        counters.in_packets += 1
        watch.check(T0 + 2 * step)
    await settle(tasks)
    assert mgr.find(quiet) is None
    assert mgr.history[-1].id == quiet and mgr.history[-1].reason is TerminateReason.IDLE_TIMEOUT
    assert mgr.get(busy).state is SessionState.ACTIVE and mgr.get(forever).state is SessionState.ACTIVE
    assert set(watch.watched) == {busy} and watch.ended == 1
    watch.check(T0 + 2 * 5 + 4)  # busy goes quiet for its idle timeout
    await settle(tasks)
    assert mgr.find(busy) is None and watch.watched == {}
    watch.close()
    await tasks.close()


async def test_restored_sessions_are_watched_at_start() -> None:
    mgr, dp, watch, tasks = await setup()
    watch.close()  # a restart: sessions exist before the watch subscribes
    a = await up(mgr, dp, 1, 60)
    b = await up(mgr, dp, 2, None)
    again = IdleWatch(mgr, mgr.bus, dp, Timers(lambda: T0), tasks.spawn)
    again.start(T0)
    assert set(again.watched) == {a} and b not in again.watched
    assert again.interval() == 30.0 / 2  # min(60, 30) / 2
    again.close()
    await tasks.close()

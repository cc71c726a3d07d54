"""Loop-thread CPU of one PPPoE session setup through abngd's real frame path, in process.

    .venv/bin/python bench/access_frame_path_cpu.py [-n 2000] [--outstanding 50] [--repeat 5]
                                                    [--profile] [--parts]

What runs is abngd's own code, built as ``abng.access.subsystem`` builds it: a ``Daemon``
(session store, session manager) on the lab configuration (``abng.lab.config.lab_config``,
QinQ demux profiles, local AAA with one user per subscriber), ``aaa_service.setup``, then
``TrunkService`` + ``IpoeService`` + ``PppoeService`` + ``IdleWatch``, and a ``PacketIO`` with
its TPACKET_V2 receive ring (``abng.access.rxring.RxRing``).  **Only the socket is replaced**:
an in-memory object stands for the AF_PACKET socket; its ``send`` appends the frame to a list
(the sink), and the ring is an anonymous shared mmap that the bench fills as the kernel would
(tpacket2_hdr with TP_STATUS_USER, the outer tag moved into tp_vlan_tci/tp_vlan_tpid, the
sockaddr_ll packet type).  Frames then go through ``PacketIO._readable`` exactly as on a
readable socket: ring read and outer-tag re-insertion, ``TrunkService.on_frame`` (parse, data
path, demux, dispatch), ``PppoeService`` (discovery, session lookup, the PPP machine, AAA,
activation, timers) and the deferred, flushed sends.  The TUN device and the dataplane policy
subsystem (root, a worker process) are not built; nor is the JSON-RPC server.

The subscribers are the load generator's sans-I/O clients (``abng.lab.pppoe_client.
PppoeSubscriber``: PPPoE discovery + PPP client, PAP), QinQ-tagged (S-Tag 802.1ad 100-199,
C-Tag 1-4000), ``--outstanding`` setups in flight as ``bench/loadgen.py`` keeps them.  Each
round writes every frame the clients have to send into the ring, lets abngd handle them
(``_readable`` until the ring is empty, then the loop runs the tasks that became ready), and
hands abngd's replies to the clients.  Only abngd's part is timed (``time.thread_time`` of the
main thread around ``_readable`` and the loop steps); the clients and the fake kernel are not.

Reported: loop-thread CPU microseconds per complete setup (PADI to IPCP up and the session
active), best of ``--repeat`` runs, after one warm-up run.  ``--parts`` profiles one run with
cProfile and splits the own time by file (the frame path of abng/access + datapath, the PPP and
PPPoE codecs/machines, the session core/AAA, asyncio and the rest).

A/B against another checkout: ``cd <tree> && PYTHONPATH=<tree> /work/main/.venv/bin/python
/work/main/bench/access_frame_path_cpu.py`` (the bench uses only APIs present since 5fda8af).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import pstats
import random
import signal
import struct
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from abng.access import rxring
from abng.access.frames import ETH_P_PPPOE_DISC, ETH_P_PPPOE_SESS, TPID_8021AD, TPID_8021Q
from abng.access.packetio import PacketIO
from abng.lab.pppoe_client import PppoeSubscriber, PppoeUp
from abng.lab.subscribers import lab_user
from abng.ppp.client import ClientConfig

AC_MAC = b"\x02\xac\x00\x00\x00\x01"
BROADCAST = b"\xff" * 6
_TP2 = struct.Struct("=IIIHHIIHH")  # struct tpacket2_hdr (without its 4 bytes of padding)
_STATUS = rxring.TP_STATUS_USER | rxring.TP_STATUS_VLAN_VALID | rxring.TP_STATUS_VLAN_TPID_VALID
#: --sample: the timed windows set SAMPLING[0]; SIGPROF samples count the innermost Python file
SAMPLING = [False]
SAMPLES: dict[str, int] = defaultdict(int)
_NET = 80  # where the kernel puts the network header: TPACKET_ALIGN(52 + 16)
_MAC = _NET - 14


class MemorySocket:
    """Stands for the AF_PACKET socket: sends go to ``sent``; the ring is anonymous memory."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def setsockopt(self, *args: object) -> None:
        return None

    def fileno(self) -> int:
        return -1  # mmap(-1, ...): an anonymous shared mapping for the ring

    def send(self, frame: bytes) -> int:
        self.sent.append(frame)
        return len(frame)

    def close(self) -> None:
        return None


class FakeKernel:
    """Writes received frames into the ring's slots the way the kernel does (TPACKET_V2)."""

    def __init__(self, ring: rxring.RxRing) -> None:
        mm = ring._map
        assert mm is not None
        self.mm = mm
        self.slot = ring.slot
        self.slots = ring.slots
        self.next = 0

    def deliver(self, frame: bytes) -> bool:
        mm, off = self.mm, self.next * self.slot
        if mm[off] & rxring.TP_STATUS_USER:
            return False  # ring full: the kernel would drop it
        tpid, tci = struct.unpack_from("!HH", frame, 12)  # the outer tag goes to the header
        body = frame[:12] + frame[16:]
        mm[off + _MAC : off + _MAC + len(body)] = body
        mm[off + 32 + 10] = 0  # sll_pkttype PACKET_HOST
        _TP2.pack_into(mm, off, _STATUS, len(body), len(body), _MAC, _NET, 0, 0, tci, tpid)
        self.next = (self.next + 1) % self.slots
        return True


class Client:
    """One emulated subscriber with its Ethernet + QinQ header."""

    __slots__ = ("head", "index", "mac", "sub", "up")

    def __init__(self, index: int, rng: random.Random) -> None:
        user, password = lab_user(index)
        cfg = ClientConfig(user, password, auth_protocols=("pap",))
        self.index = index
        self.sub = PppoeSubscriber(cfg, rng.randbytes, index.to_bytes(4, "big"))
        self.mac = bytes((0x02, 0xAB, 0x01)) + index.to_bytes(3, "big")
        slot = index - 1
        stag, ctag = 100 + (slot // 4000) % 100, 1 + slot % 4000
        self.head = self.mac + struct.pack("!HHHH", TPID_8021AD, stag, TPID_8021Q, ctag)
        self.up = False

    def frames(self) -> list[bytes]:
        return [dst + self.head + etype.to_bytes(2, "big") + p for dst, etype, p in self.sub.take_output()]


def _walk(frame: bytes) -> tuple[int, int]:
    """(EtherType, payload offset) of a tagged frame (the client side's own parsing)."""
    off = 12
    while frame[off : off + 2] in (b"\x88\xa8", b"\x81\x00", b"\x91\x00"):
        off += 4
    return frame[off] << 8 | frame[off + 1], off + 2


async def _run(
    n: int, outstanding: int, tmp: Path, profile: cProfile.Profile | None, objects: bool = False
) -> dict[str, Any]:
    from abng.aaa import service as aaa_service
    from abng.access.idle import IdleWatch
    from abng.access.ipoe import IpoeService
    from abng.access.pppoe.service import PppoeService
    from abng.access.service import COUNTER_SYNC, TrunkService
    from abng.core.daemon import Daemon, Paths
    from abng.lab.config import lab_config, write_config

    cfg = lab_config(pppoe_users=n, vlan_mode="qinq")
    # the clients never retransmit here (no client timers): no PADI may be rate-limited away
    cfg.setdefault("pppoe", {})["padi_rate_limit"] = 1_000_000
    write_config(tmp / "etc", cfg)
    daemon = Daemon(Paths(tmp / "etc", tmp / "run", tmp / "var"))
    daemon.load_config()
    aaa = await aaa_service.setup(daemon)
    trunk = TrunkService(daemon, aaa)  # as AccessApplier.start builds it
    aaa.refresh_counters = trunk.refresh_counters
    IpoeService(trunk)
    pppoe = PppoeService(trunk)
    idle = IdleWatch(daemon.sessions, daemon.bus, trunk.datapath, trunk.timers, daemon.tasks.spawn)

    # TrunkService._try_open, with the memory socket instead of AF_PACKET (no TUN device)
    sock = MemorySocket()
    io = PacketIO(trunk.trunk, None)
    ring = rxring.RxRing(sock, rxring.slot_size(1500), 4 * 1024 * 1024)  # type: ignore[arg-type]
    io._sock, io._ring = sock, ring  # type: ignore[assignment]
    io.ifindex, io.mac = 7, AC_MAC
    kernel = FakeKernel(ring)
    trunk.io = io
    trunk.datapath.trunk_mac = io.mac
    trunk.timers.set("counters", trunk.clock() + COUNTER_SYNC, trunk._sync_counters)
    trunk.timers.set("demux", trunk.demux.next_cleanup(trunk.clock()), trunk._demux_cleanup)
    trunk.up.set()
    idle.start(trunk.clock())
    store_task = daemon.tasks.spawn("store-flush", daemon.store.run())
    readable = io._readable
    on_frame = trunk.on_frame
    counters = io.counters

    rng = random.Random(5)
    clients: dict[bytes, Client] = {}
    waiting = list(range(n, 0, -1))
    in_flight: list[Client] = []
    done = 0
    cpu = 0.0
    rounds = 0
    gc.collect()
    gc.freeze()
    tt = time.thread_time
    while done < n:
        rounds += 1
        if rounds > 200 * n:
            raise RuntimeError(f"stuck: {done}/{n} up; counters {dict(trunk.counters)}")
        now = time.time()
        while waiting and len(in_flight) < outstanding:
            c = Client(waiting.pop(), rng)
            clients[c.mac] = c
            in_flight.append(c)
            c.sub.start(now)
        pending: list[bytes] = []
        for c in in_flight:
            pending += c.frames()
        # abngd's part: the ring is read in batches of 64 frames per wake-up, then the loop runs
        # what became ready (AAA and activation tasks, the store's flush)
        while pending:  # what the kernel delivered since the last wake-up (not timed)
            k = 0
            while k < len(pending) and kernel.deliver(pending[k]):
                k += 1
            del pending[:k]
            want = counters.rx + k
            c0 = tt()
            SAMPLING[0] = True
            if profile is not None:
                profile.enable()
            while counters.rx < want:
                readable(on_frame)
            if profile is not None:
                profile.disable()
            SAMPLING[0] = False
            cpu += tt() - c0
        c0 = tt()
        SAMPLING[0] = True
        if profile is not None:
            profile.enable()
        for _ in range(3):
            await asyncio.sleep(0)
        if profile is not None:
            profile.disable()
        SAMPLING[0] = False
        cpu += tt() - c0
        replies, sock.sent = sock.sent, []
        now = time.time()
        for f in replies:
            c = clients[f[:6]]
            etype, off = _walk(f)
            if etype == ETH_P_PPPOE_DISC:
                c.sub.receive_discovery(f[off:], f[6:12], now)
            elif etype == ETH_P_PPPOE_SESS:
                length = f[off + 4] << 8 | f[off + 5]
                c.sub.receive_session(f[off + 6 : off + 6 + length], now)
        still: list[Client] = []
        for c in in_flight:
            for e in c.sub.take_events():
                if isinstance(e, PppoeUp):
                    c.up = True
                else:
                    raise RuntimeError(f"subscriber {c.index}: {e}")
            if c.up:
                done += 1
            else:
                still.append(c)
        in_flight = still
    # every session must be active in the session manager (activation finished)
    for _ in range(100):
        active = sum(1 for s in daemon.sessions.table.by_id.values() if s.state.value == "active")
        if active == n:
            break
        c0 = tt()
        await asyncio.sleep(0)
        cpu += tt() - c0
    assert active == n, (active, n, dict(trunk.counters))
    assert len(pppoe.subs) == n
    gc.unfreeze()
    kept: dict[str, int] = {}
    if objects:  # GC-tracked objects alive now, by type (what each established session keeps)
        gc.collect()
        for o in gc.get_objects():
            t = type(o)
            name = f"{t.__module__}.{t.__qualname__}"
            kept[name] = kept.get(name, 0) + 1
    idle.close()
    store_task.cancel()
    trunk.timers.close()
    await daemon.tasks.close()
    daemon.store.close()
    return {"setups": n, "thread_us_per_setup": cpu / n * 1e6, "rounds": rounds, "kept": kept}


def run(
    n: int, outstanding: int, profile: cProfile.Profile | None = None, objects: bool = False
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="abng-framebench-") as d:
        return asyncio.run(_run(n, outstanding, Path(d), profile, objects))


PARTS = (
    (
        "frame path (access I/O, trunk, demux, timers, PPPoE glue, datapath)",
        (
            "abng/access/service.py",
            "abng/access/packetio.py",
            "abng/access/rxring.py",
            "abng/access/frames.py",
            "abng/access/demux.py",
            "abng/access/timers.py",
            "abng/access/pppoe/service.py",
            "abng/dataplane/datapath.py",
        ),
    ),
    ("PPP/PPPoE machines and codecs", ("abng/ppp/", "abng/access/pppoe/")),
    ("session core, store, AAA", ("abng/core/", "abng/aaa/", "abng/access/")),
    ("asyncio", ("asyncio/",)),
)


def part(file: str) -> str:
    for name, prefixes in PARTS:
        if any(p in file for p in prefixes):
            return name
    return "other"


def _sample(signum: int, frame: Any) -> None:
    if SAMPLING[0] and frame is not None:
        SAMPLES[frame.f_code.co_filename] += 1


def sampled(n: int, outstanding: int, repeat: int) -> None:
    """Loop-thread CPU per setup split by part: SIGPROF every 0.5 ms of CPU charges the
    innermost Python frame's file (C functions count for their Python caller, as py-spy)."""
    signal.signal(signal.SIGPROF, _sample)
    signal.setitimer(signal.ITIMER_PROF, 0.0005, 0.0005)
    us = [run(n, outstanding)["thread_us_per_setup"] for _ in range(repeat)]
    signal.setitimer(signal.ITIMER_PROF, 0, 0)
    by: dict[str, int] = defaultdict(int)
    for file, k in SAMPLES.items():
        by[part(file)] += k
    total = sum(by.values()) or 1
    mean = sum(us) / len(us)
    print(f"{mean:.1f} us loop-thread CPU/setup (mean of {repeat}, n={n}; {total} samples)")
    for name, k in sorted(by.items(), key=lambda kv: -kv[1]):
        print(f"{mean * k / total:8.1f} us/setup {k / total:6.1%}  {name}")
    print("files:")
    for file, k in sorted(SAMPLES.items(), key=lambda kv: -kv[1])[:25]:
        print(f"{mean * k / total:8.1f} us/setup {k / total:6.1%}  {file}")


def parts(stats: pstats.Stats) -> dict[str, float]:
    """Own (tottime) seconds by part; builtins are charged to their caller's part."""
    out: dict[str, float] = defaultdict(float)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]

    for (file, _line, _fn), (_cc, _nc, tt, _ct, callers) in raw.items():
        if file == "~":  # a builtin: split its time between its callers by their call counts
            total = sum(c[1] for c in callers.values()) or 1
            for (cfile, _cl, _cf), c in callers.items():
                out[part(cfile)] += tt * c[1] / total
        else:
            out[part(file)] += tt
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").strip().splitlines()[0])
    ap.add_argument("-n", type=int, default=2000, help="setups per run")
    ap.add_argument("--outstanding", type=int, default=50, help="setups in flight")
    ap.add_argument("--repeat", type=int, default=5, help="runs (the best is reported)")
    ap.add_argument("--profile", action="store_true", help="cProfile the timed part of one run")
    ap.add_argument("--parts", action="store_true", help="own time by part (cProfile, one run)")
    ap.add_argument("--sample", action="store_true", help="CPU per setup by part (SIGPROF samples)")
    ap.add_argument("--objects", action="store_true", help="GC-tracked objects kept per session")
    ap.add_argument("--sort", default="tottime")
    ap.add_argument("--top", type=int, default=40)
    args = ap.parse_args()
    from abng.core.daemon import GC_THRESHOLDS

    gc.set_threshold(*GC_THRESHOLDS)  # as abngd
    if args.sample:
        run(min(args.n, 300), args.outstanding)  # warm-up
        sampled(args.n, args.outstanding, args.repeat)
        return
    if args.objects:  # the difference between n and 2n sessions: what one session keeps
        a, b = (
            run(args.n, args.outstanding, objects=True)["kept"],
            run(2 * args.n, args.outstanding, objects=True)["kept"],
        )
        per = {k: (b.get(k, 0) - a.get(k, 0)) / args.n for k in set(a) | set(b)}
        print(f"GC-tracked objects kept per session: {sum(per.values()):.1f}")
        for k, v in sorted(per.items(), key=lambda kv: -kv[1]):
            if abs(v) >= 0.05:
                print(f"  {v:6.2f}  {k}")
        return
    if args.profile or args.parts:
        prof = cProfile.Profile()
        run(args.n, args.outstanding, prof)
        st = pstats.Stats(prof, stream=sys.stdout)
        if args.profile:
            st.sort_stats(args.sort).print_stats(args.top)
        if args.parts:
            split = parts(st)
            total = sum(split.values())
            for name, sec in sorted(split.items(), key=lambda kv: -kv[1]):
                print(f"{sec / args.n * 1e6:8.1f} us/setup {sec / total:6.1%}  {name}")
        return
    run(min(args.n, 300), args.outstanding)  # warm-up
    runs = [run(args.n, args.outstanding)["thread_us_per_setup"] for _ in range(args.repeat)]
    print(
        f"PPPoE setup through the frame path, n={args.n}, {args.outstanding} in flight: "
        f"{min(runs):.1f} us loop-thread CPU/setup (best of {args.repeat}; runs "
        + ", ".join(f"{r:.1f}" for r in runs)
        + ")"
    )


if __name__ == "__main__":
    main()

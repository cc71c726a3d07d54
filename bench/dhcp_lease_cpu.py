"""CPU cost of one DHCP lease (DISCOVER/OFFER/REQUEST/ACK) in abngd's DHCP code, in process.

Two modes, both with QinQ-tagged frames (S-Tag 100-199 802.1ad + C-Tag, as the lab sends them):

* ``server``: the sans-I/O :class:`DhcpServer` alone, fed the way ``IpoeService.on_frame`` feeds
  it (an ``EthernetFrame`` from ``parse_frame``), the AAA answer given at once, every reply
  frame built with ``Transmit.frame()``.  This is the DHCP code's own cost.
* ``ipoe``: a real in-process :class:`Daemon` (session store, session manager, local AAA) with
  the real ``TrunkService`` + ``IpoeService`` (the trunk is never opened: frames go in through
  ``TrunkService.control_frame``, which parses and demuxes like abngd does, and
  ``TrunkService.send`` is redirected to a list).  This is abngd's main-thread cost of a lease
  with local AAA, sessions opened and activated (no data-path hooks: no dataplane subsystem).
* ``ipoe-hook``: ``ipoe`` plus a session_up hook that waits once (``asyncio.sleep(0)``), as the
  QoS policy hook waits for its worker: activation then always needs a task.

Leases are set up in batches of ``--outstanding`` (DISCOVERs, then REQUESTs), like the load
generator.  CPU is ``time.thread_time()`` of the main thread (what limits abngd's event loop)
and ``time.process_time()`` (all threads: the store's writer too).

Run:  .venv/bin/python bench/dhcp_lease_cpu.py [--mode server|ipoe|ipoe-hook|all] [-n 5000] [--profile]
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from abng.access.dhcp.codec import BOOTREQUEST, build_message, parse_message
from abng.access.dhcp.config import DhcpServerConfig, ip
from abng.access.dhcp.events import AuthorizeRequest
from abng.access.dhcp.options import MessageType, Opt, enc_ip, enc_u16
from abng.access.dhcp.pool import Ipv4Pool
from abng.access.dhcp.server import DhcpServer
from abng.access.frames import (
    BROADCAST_MAC,
    ETH_P_IP,
    TPID_8021AD,
    TPID_8021Q,
    VlanTag,
    build_frame,
    build_ipv4_udp,
    parse_frame,
    parse_udp_frame,
)

PARAMS = bytes((Opt.SUBNET_MASK, Opt.ROUTER, Opt.DNS, Opt.LEASE_TIME, Opt.RENEWAL_TIME, Opt.REBINDING_TIME))
SERVER_MAC = bytes.fromhex("020000000001")


def tags_of(i: int) -> tuple[VlanTag, ...]:
    return (VlanTag(TPID_8021AD, 100 + (i // 4000) % 100), VlanTag(TPID_8021Q, 1 + i % 4000))


def client_frame(
    i: int, mtype: MessageType, *, requested: int = 0, server_id: int = 0, ciaddr: int = 0
) -> bytes:
    """What a dhclient-like client sends (the lab's abng/lab/dhcp_client.py options)."""
    mac = bytes((0x02, 0xAB, 0x02)) + i.to_bytes(3, "big")
    opts: list[tuple[int, bytes]] = [(Opt.MESSAGE_TYPE, bytes((mtype,)))]
    if requested:
        opts.append((Opt.REQUESTED_IP, enc_ip(requested)))
    if server_id:
        opts.append((Opt.SERVER_ID, enc_ip(server_id)))
    opts += [
        (Opt.PARAM_REQUEST, PARAMS),
        (Opt.MAX_MESSAGE_SIZE, enc_u16(1500)),
        (Opt.HOSTNAME, b"host%d" % i),
    ]
    payload = build_message(op=BOOTREQUEST, xid=0x1000 + i, chaddr=mac, ciaddr=ciaddr, options=opts)
    packet = build_ipv4_udp(ciaddr, 0xFFFFFFFF, 68, 67, payload)
    return build_frame(BROADCAST_MAC, mac, tags_of(i), ETH_P_IP, packet)


def reply_fields(frame: bytes) -> tuple[int, int, int]:
    """(message type, yiaddr, server id) of a reply frame."""
    msg = parse_message(parse_udp_frame(frame).udp.payload)
    mt = msg.message_type
    return (int(mt) if mt is not None else 0), msg.yiaddr, msg.ip_option(Opt.SERVER_ID) or 0


# ---------------------------------------------------------------------------------- server mode


def run_server(n: int, batch: int, profile: cProfile.Profile | None) -> dict[str, float]:
    gw = ip("100.64.64.1")
    cfg = DhcpServerConfig(
        server_mac=SERVER_MAC, gateway=gw, dns=(ip("192.0.2.53"),), default_pool="p", max_pending_auth=n
    )
    server = DhcpServer(cfg, [Ipv4Pool.from_network("p", "100.64.0.0/10", gateway="100.64.64.1")])
    discovers = [client_frame(i, MessageType.DISCOVER) for i in range(n)]
    sent: list[bytes] = []

    def feed(frames: list[bytes], now: float) -> None:
        for f in frames:
            eth = parse_frame(f)  # TrunkService.control_frame's job (counted here too)
            server.handle_frame(eth, f"trunk0.{eth.tags[0].vid}.{eth.tags[1].vid}", now)
            for tx in server.transmits():
                sent.append(tx.frame())
            for ev in server.events():
                if isinstance(ev, AuthorizeRequest):
                    server.authorized(ev.key, True, now)
                    for tx in server.transmits():
                        sent.append(tx.frame())
            server.get_timer()

    cpu = 0.0
    for start in range(0, n, batch):
        idx = range(start, min(n, start + batch))
        sent.clear()
        c0 = time.thread_time()
        if profile:
            profile.enable()
        feed([discovers[i] for i in idx], 1.0)
        if profile:
            profile.disable()
        cpu += time.thread_time() - c0
        offers = [reply_fields(f) for f in sent]
        assert len(offers) == len(idx) and all(o[0] == MessageType.OFFER for o in offers), offers[:2]
        requests = [
            client_frame(i, MessageType.REQUEST, requested=o[1], server_id=o[2])
            for i, o in zip(idx, offers, strict=True)
        ]
        sent.clear()
        c0 = time.thread_time()
        if profile:
            profile.enable()
        feed(requests, 2.0)
        if profile:
            profile.disable()
        cpu += time.thread_time() - c0
        acks = [reply_fields(f) for f in sent]
        assert all(a[0] == MessageType.ACK for a in acks) and len(acks) == len(idx)
    assert len(server.leases()) == n
    return {"leases": n, "thread_us_per_lease": cpu / n * 1e6}


# ---------------------------------------------------------------------------------- ipoe mode


async def _ipoe(
    n: int, batch: int, profile: cProfile.Profile | None, tmp: Path, waiting_hook: bool
) -> dict[str, float]:
    from abng.aaa import service as aaa_service
    from abng.access.ipoe import IpoeService
    from abng.access.service import TrunkService
    from abng.core.daemon import Daemon, Paths
    from abng.lab.config import lab_config, write_config

    cfg = lab_config(pppoe_users=0, vlan_mode="qinq")
    cfg.setdefault("dhcp", {})["pool"] = "ipoe"
    write_config(tmp / "etc", cfg)
    daemon = Daemon(Paths(tmp / "etc", tmp / "run", tmp / "var"))
    daemon.load_config()
    aaa = await aaa_service.setup(daemon)
    if waiting_hook:
        from abng.core.hooks import BaseSessionHook

        class WaitingHook(BaseSessionHook):  # stands for the QoS policy hook's worker round trip
            name = "bench-wait"

            async def session_up(self, session: Any) -> None:
                await asyncio.sleep(0)

        daemon.sessions.register_hook(WaitingHook())
    trunk = TrunkService(daemon, aaa)
    ipoe = IpoeService(trunk)
    sent: list[bytes] = []
    trunk.send = sent.append  # type: ignore[method-assign,assignment]  # the trunk is never opened
    store_task = daemon.tasks.spawn("store-flush", daemon.store.run())

    async def settle(want: int) -> None:
        for _ in range(10_000):
            if len(sent) >= want and len(daemon.tasks) <= 1:
                return
            await asyncio.sleep(0)
        raise RuntimeError(f"only {len(sent)}/{want} replies; counters {dict(ipoe.server.counters)}")

    discovers = [client_frame(i, MessageType.DISCOVER) for i in range(n)]
    cpu = pcpu = 0.0

    async def timed(frames: list[bytes]) -> None:
        nonlocal cpu, pcpu
        sent.clear()
        c0, p0 = time.thread_time(), time.process_time()
        if profile:
            profile.enable()
        for f in frames:
            trunk.control_frame(f)
        await settle(len(frames))
        if profile:
            profile.disable()
        cpu += time.thread_time() - c0
        pcpu += time.process_time() - p0

    for start in range(0, n, batch):
        idx = range(start, min(n, start + batch))
        await timed([discovers[i] for i in idx])
        offers = [reply_fields(f) for f in sent]
        assert all(o[0] == MessageType.OFFER for o in offers), offers[:2]
        await timed(
            [
                client_frame(i, MessageType.REQUEST, requested=o[1], server_id=o[2])
                for i, o in zip(idx, offers, strict=True)
            ]
        )
        assert all(reply_fields(f)[0] == MessageType.ACK for f in sent)
    active = sum(1 for s in daemon.sessions.table.by_id.values() if s.state.value == "active")
    assert active == n, (active, n, dict(ipoe.server.counters), dict(trunk.counters))
    store_task.cancel()
    await daemon.tasks.close()
    daemon.store.close()
    return {"leases": n, "thread_us_per_lease": cpu / n * 1e6, "process_us_per_lease": pcpu / n * 1e6}


def run_ipoe(n: int, batch: int, profile: cProfile.Profile | None) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="abng-dhcpbench-") as d:
        return asyncio.run(_ipoe(n, batch, profile, Path(d), False))


def run_ipoe_hook(n: int, batch: int, profile: cProfile.Profile | None) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="abng-dhcpbench-") as d:
        return asyncio.run(_ipoe(n, batch, profile, Path(d), True))


MODES: dict[str, Callable[[int, int, cProfile.Profile | None], dict[str, Any]]] = {
    "server": run_server,
    "ipoe": run_ipoe,
    "ipoe-hook": run_ipoe_hook,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mode", choices=(*MODES, "all"), default="all")
    ap.add_argument("-n", type=int, default=5000, help="leases per run")
    ap.add_argument("--outstanding", type=int, default=50, help="leases set up per batch")
    ap.add_argument("--repeat", type=int, default=3, help="runs per mode (the best is reported)")
    ap.add_argument("--profile", action="store_true", help="cProfile the timed parts (one run)")
    ap.add_argument("--sort", default="tottime", help="pstats sort key with --profile")
    ap.add_argument("--profile-out", help="with --profile: also write the stats to PATH.<mode>")
    ap.add_argument("--top", type=int, default=40, help="rows shown with --profile")
    args = ap.parse_args()
    modes = list(MODES) if args.mode == "all" else [args.mode]
    for mode in modes:
        if args.profile:
            prof = cProfile.Profile()
            MODES[mode](args.n, args.outstanding, prof)
            if args.profile_out:
                prof.dump_stats(f"{args.profile_out}.{mode}")
            pstats.Stats(prof, stream=sys.stdout).sort_stats(args.sort).print_stats(args.top)
            continue
        runs = []
        for _ in range(args.repeat):
            gc.collect()
            runs.append(MODES[mode](args.n, args.outstanding, None))
        best = min(runs, key=lambda r: r["thread_us_per_lease"])
        all_us = ", ".join(f"{r['thread_us_per_lease']:.1f}" for r in runs)
        extra = f"  process {best['process_us_per_lease']:.1f} us" if "process_us_per_lease" in best else ""
        print(f"{mode}: {best['thread_us_per_lease']:.1f} us CPU/lease (main thread; runs: {all_us}){extra}")


if __name__ == "__main__":
    main()

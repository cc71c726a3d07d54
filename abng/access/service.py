"""The trunk service: subscriber frames in and out of abngd (issues 4 and 5, userspace path D4).

```
trunk --PacketIO--> Datapath.handle_frame --ToTun--> TUN abng0 --> kernel routing --> upstream
                         | NOT_MINE
                         v
        frames.parse_frame -> Demux.classify -> by EtherType: 0x8863/0x8864 PPPoE, 0x0800 DHCP
```

Session frames of PPPoE sessions already known skip all of that: ``PppoeService.fast_frame``
recognises them by their first bytes (the session's peer MAC, tags, EtherType and session id)
and does what the general path would do with them (the same checks, data path verdict for
IPv4, counters and demux bookkeeping) without building its objects; anything else, or any
frame that fails a check, takes the general path.

One AF_PACKET socket with the userspace filter serves everything; the sans-I/O machines (DHCP
server, PPPoE discovery, one PPPSession per subscriber) are fed frames and ``now`` and report
their next deadline into one :class:`~abng.access.timers.Timers`.  A handler that raises is
counted (``handler_errors``) and the frame dropped; per-session containment (STYLE §5) lives in
the protocol services, which tear down only the session concerned (``nas_error``).

If the trunk cannot be opened (missing interface, no CAP_NET_RAW) abngd still runs: the error
is logged and the open is retried every ``RETRY`` seconds.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import ipaddress
import logging
import os
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from abng.access.bpf import FilterSpec
from abng.access.demux import AccessInterface, Demux, Drop
from abng.access.dhcp.pool import Ipv4Pool
from abng.access.frames import (
    ETH_P_IP,
    ETH_P_PPPOE_DISC,
    ETH_P_PPPOE_SESS,
    DecodeError,
    EthernetFrame,
    parse_frame,
)
from abng.access.packetio import PacketIO
from abng.access.timers import Timers
from abng.core import sched
from abng.core.model import Session
from abng.dataplane.datapath import NOT_MINE, Datapath, Dropped, ToTrunk, ToTun, Verdict
from abng.dataplane.tun import TunDevice, enable_ip_forward, isolate_trunk

if TYPE_CHECKING:
    from abng.aaa.service import AaaService
    from abng.core.daemon import Daemon

log = logging.getLogger(__name__)

RETRY = 5.0
DROP_LOG_INTERVAL = 60.0  # garbage is logged at most once a minute per reason (STYLE §4)
COUNTER_SYNC = 30.0
TUN_NAME = "abng0"
FrameHandler = Callable[[EthernetFrame, AccessInterface, float], None]


def build_pools(cfg: Any) -> dict[str, Ipv4Pool]:
    """``aaa.pools`` -> allocators shared by DHCP and PPPoE (an address is never given twice)."""
    out: dict[str, Ipv4Pool] = {}
    for name, p in cfg.aaa.pools.items():
        first, last = p.range_bounds
        out[name] = Ipv4Pool.from_range(name, str(first), str(last), exclude=[str(p.effective_gateway)])
    return out


def gateways(cfg: Any) -> list[str]:
    gws = {str(p.effective_gateway) for p in cfg.aaa.pools.values()}
    if cfg.dhcp.gateway is not None:
        gws.add(str(cfg.dhcp.gateway))
    return sorted(gws, key=lambda g: int(ipaddress.IPv4Address(g)))


class TrunkService:
    def __init__(self, daemon: Daemon, aaa: AaaService) -> None:
        cfg = daemon.applied
        self.daemon = daemon
        self.aaa = aaa
        self.trunk: str = cfg.interfaces.subscriber_trunk
        self.clock = time.time
        self.timers = Timers(self.clock)
        self.demux = Demux.from_config(self.trunk, cfg.demux)
        self.pools = build_pools(cfg)
        self.gateways = gateways(cfg)
        self.counters: Counter[str] = Counter()
        self.handlers: dict[int, FrameHandler] = {}
        #: a protocol service's shortcut for the frames it recognises at once (PppoeService:
        #: PPP control frames of known sessions), tried before the general path; it returns
        #: False, having done nothing, for any other frame
        self.fast: Callable[[bytes], bool] | None = None
        self.io: PacketIO | None = None
        self.tun: TunDevice | None = None
        self.datapath = Datapath(b"\x00" * 6, self.gateways)
        self.up = asyncio.Event()
        self.error: str | None = None
        self._drop_logged: dict[str, float] = {}
        #: netlink calls for the TUN device, one at a time (one pyroute2 socket, never on the loop)
        self._netlink = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="abng-tun", initializer=sched.background_thread
        )
        #: routes waiting for the next netlink batch, and whether one is in the kernel now
        self._routes: list[tuple[str, int | None, asyncio.Future[None]]] = []
        self._routing = False

    # ---- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        """Open the trunk and the TUN device; on failure retry in the background."""
        if not await self._try_open():
            self.daemon.tasks.spawn("trunk-open", self._retry_open())

    async def _retry_open(self) -> None:
        while True:
            await asyncio.sleep(RETRY)
            if await self._try_open():
                return

    async def _try_open(self) -> bool:
        io = PacketIO(self.trunk, FilterSpec.userspace())
        tun = TunDevice(TUN_NAME)
        try:
            io.open()
            tun.open()
            await asyncio.get_running_loop().run_in_executor(self._netlink, self._kernel_setup, tun)
        except OSError as exc:
            io.close()
            tun.close()
            if self.error != str(exc):
                log.error(
                    "subscriber trunk %s not usable (retrying every %.0f s): %s", self.trunk, RETRY, exc
                )
            self.error = str(exc)
            return False
        self.io, self.tun, self.error = io, tun, None
        self.datapath.trunk_mac = io.mac
        io.start(self.on_frame)
        tun.start(self.on_tun_packet)
        self.timers.set("counters", self.clock() + COUNTER_SYNC, self._sync_counters)
        self.timers.set("demux", self.demux.next_cleanup(self.clock()), self._demux_cleanup)
        self.up.set()
        log.info("subscriber trunk %s open (userspace data path via %s)", self.trunk, tun.name)
        return True

    def _kernel_setup(self, tun: TunDevice) -> None:
        tun.configure([f"{g}/32" for g in self.gateways])
        enable_ip_forward()
        isolate_trunk(self.trunk)

    async def close(self) -> None:
        self.timers.close()
        if self.io is not None:
            self.io.close()
        if self.tun is not None:
            self.tun.close()
        self._netlink.shutdown(wait=False)

    # ---- frames -------------------------------------------------------------------------------
    def send(self, frame: bytes) -> None:
        if self.io is not None:
            self.io.send(frame)

    def on_frame(self, frame: bytes, ifindex: int) -> None:
        """One frame from the trunk: parsed once, then the data path, else the access protocols."""
        fast = self.fast
        if fast is not None and fast(frame):
            return
        try:
            eth = parse_frame(frame)
        except DecodeError as exc:  # counted as the data path counts it
            self.datapath.drops[exc.reason] += 1
            self.drop(f"datapath_{exc.reason}")
            return
        verdict = self.datapath.handle_frame(eth)
        if verdict is NOT_MINE:
            self.control_frame(eth)
        else:
            self.apply(verdict)

    def apply(self, verdict: Verdict) -> None:
        """Carry out a data path verdict other than NOT_MINE."""
        if isinstance(verdict, ToTun):
            if self.tun is not None:
                self.tun.write(verdict.packet)
        elif isinstance(verdict, ToTrunk):
            self.send(verdict.frame)
        elif isinstance(verdict, Dropped):
            self.drop(f"datapath_{verdict.reason}")

    def control_frame(self, frame: bytes | EthernetFrame) -> None:
        """Access protocols: demux, then PPPoE discovery/session or DHCP by EtherType."""
        now = self.clock()
        if isinstance(frame, EthernetFrame):
            eth = frame
        else:
            try:
                eth = parse_frame(frame)
            except DecodeError as exc:
                self.drop(f"drop_{exc.reason}")
                return
        iface = self.demux.classify(eth.tags, now, eth.vids)
        if isinstance(iface, Drop):
            self.drop(f"demux_{iface.reason}")
            return
        if self.demux.has_created():
            for created in self.demux.take_created():
                log.info("access interface %s created (profile %s)", created.name, created.profile)
        etype = eth.ethertype
        handler = self.handlers.get(etype)
        if handler is None or ("dhcp" if etype == ETH_P_IP else "pppoe") not in iface.services:
            self.drop(f"no_service_{etype:04x}")
            return
        try:
            handler(eth, iface, now)
        except Exception:
            self.handler_failed(iface.name)

    def handler_failed(self, iface: str) -> None:
        """Count and log the exception being handled: an access handler failed (frame dropped)."""
        self.counters["handler_errors"] += 1
        log.exception("access handler failed on %s", iface)

    def on_tun_packet(self, packet: bytes) -> None:
        verdict = self.datapath.from_tun(packet)
        if isinstance(verdict, ToTrunk):
            self.send(verdict.frame)
        elif isinstance(verdict, Dropped):
            self.drop(f"tun_{verdict.reason}")

    def drop(self, reason: str) -> None:
        """Count a dropped frame; log the reason at most once per DROP_LOG_INTERVAL."""
        self.counters[reason] += 1
        now = self.clock()
        if now - self._drop_logged.get(reason, 0.0) >= DROP_LOG_INTERVAL:
            self._drop_logged[reason] = now
            log.info(
                "dropping frames: %s (%d so far; next report in %.0f s)",
                reason,
                self.counters[reason],
                DROP_LOG_INTERVAL,
            )

    def register(self, ethertypes: tuple[int, ...], handler: FrameHandler) -> None:
        for et in ethertypes:
            self.handlers[et] = handler

    # ---- routes and counters ------------------------------------------------------------------
    async def add_route(self, ip: str, mtu: int | None = None) -> None:
        """The subscriber's /32 via the TUN device. Routes asked for while a batch is in the
        kernel go together in the next one (one netlink send per batch, not one per session).
        Raises OSError when the kernel refuses the route."""
        if self.tun is None:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._routes.append((ip, mtu, fut))
        if not self._routing:
            self._flush_routes()
        await fut

    def _flush_routes(self) -> None:
        batch, self._routes = self._routes, []
        if self.tun is None:
            for _ip, _mtu, fut in batch:
                if not fut.done():
                    fut.set_result(None)
            return
        items = [(ip, mtu) for ip, mtu, _ in batch]
        try:
            job = asyncio.get_running_loop().run_in_executor(self._netlink, self.tun.add_host_routes, items)
        except RuntimeError as exc:  # executor shut down (closing)
            for _ip, _mtu, fut in batch:
                if not fut.done():
                    fut.set_exception(OSError(f"trunk closed: {exc}"))
            return
        self._routing = True
        job.add_done_callback(functools.partial(self._routes_done, batch))

    def _routes_done(self, batch: list[tuple[str, int | None, asyncio.Future[None]]], job: Any) -> None:
        self._routing = False
        exc: BaseException | None = OSError("route batch cancelled") if job.cancelled() else job.exception()
        errors: list[int] = [] if exc is not None else job.result()
        for n, (ip, _mtu, fut) in enumerate(batch):
            if fut.done():
                continue
            if exc is not None:
                fut.set_exception(exc)
            elif errors[n]:
                fut.set_exception(OSError(errors[n], f"route {ip}/32: {os.strerror(errors[n])}"))
            else:
                fut.set_result(None)
        if self._routes:
            self._flush_routes()

    async def del_route(self, ip: str) -> None:
        if self.tun is not None:
            await asyncio.get_running_loop().run_in_executor(self._netlink, self.tun.del_host_route, ip)

    def take_counters(self, session: Session) -> None:
        """Copy the data path's counters of ``session`` into it (before removal, Interim, Stop)."""
        c = self.datapath.counters(session.ip_address) if session.ip_address else None
        path = self.datapath.path(session.ip_address) if session.ip_address else None
        if c is None or path is None or path.access_interface != session.access_interface:
            return
        self.daemon.sessions.update_counters(session.id, c.in_bytes, c.out_bytes, c.in_packets, c.out_packets)

    async def refresh_counters(self, session: Session) -> None:
        self.take_counters(session)

    def _sync_counters(self, now: float) -> None:
        for s in list(self.daemon.sessions.table):
            self.take_counters(s)
        self.timers.set("counters", now + COUNTER_SYNC, self._sync_counters)

    def _demux_cleanup(self, now: float) -> None:
        mgr = self.daemon.sessions
        for iface in self.demux.expire(now, lambda i: bool(mgr.by_interface(i.name))):
            log.info("access interface %s removed (idle)", iface.name)
        self.timers.set("demux", self.demux.next_cleanup(now), self._demux_cleanup)

    def info(self) -> dict[str, Any]:
        io = self.io.counters if self.io is not None else None
        return {
            "trunk": self.trunk,
            "up": self.io is not None,
            "error": self.error,
            "tun": self.tun.name if self.tun is not None else None,
            "subscribers": len(self.datapath),
            "counters": dict(self.counters),
            "datapath_drops": dict(self.datapath.drops),
            "demux": dict(self.demux.counters),
            "packetio": None if io is None else {k: getattr(io, k) for k in io.__slots__},
            "timers": len(self.timers),
        }


__all__ = ["ETH_P_PPPOE_DISC", "ETH_P_PPPOE_SESS", "TrunkService", "build_pools", "gateways"]

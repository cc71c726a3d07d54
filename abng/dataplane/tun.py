"""TUN device for the userspace data path (D4): subscriber IPv4 packets cross into the kernel here.

`TunDevice(name)` opens /dev/net/tun with IFF_TUN | IFF_NO_PI (raw IPv4 packets, no packet-info
header), non-blocking. `configure(addresses, mtu)` brings it up and addresses it through
pyroute2 (no subprocess). `start(on_packet)` is the asyncio adapter (loop.add_reader; each
wake-up reads up to `batch` packets). `add_host_route(ip)` / `del_host_route(ip)` install the
subscriber's /32 through the TUN device; the generic route management (BGP announcement, CGNAT
tables) lives in abng/dataplane/routes.py.

The device lives in the network namespace of the thread that opens it; netlink goes to
`netns` (a named namespace, for tests) or to the calling thread's namespace. `configure` and
the route calls are synchronous netlink requests: like the rest of the dataplane they run in the
daemon's dataplane worker thread (`asyncio.to_thread` / a one-thread executor), never on the
event loop (pyroute2's sync API refuses to run inside a running loop anyway).
"""

from __future__ import annotations

import asyncio
import fcntl
import ipaddress
import logging
import os
import socket
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from abng.dataplane.qos_wire import NLM_F_ACK, NLM_F_CREATE, NLM_F_REQUEST, NetlinkBatch, Request, nla

log = logging.getLogger(__name__)

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
TUN_PATH = "/dev/net/tun"
MAX_PACKET = 65535
ENOENT_ESRCH = {2, 3}  # route already gone: ENOENT, ESRCH
EEXIST = 17

PacketHandler = Callable[[bytes], None]

# rtnetlink routes (linux/rtnetlink.h)
RTM_NEWROUTE = 24
NLM_F_REPLACE = 0x100
RT_TABLE_MAIN = 254
RTPROT_STATIC = 4
RTN_UNICAST = 1
RTA_DST = 1
RTA_OIF = 4
RTA_METRICS = 8
RTAX_MTU = 2
_RTMSG = struct.Struct("=BBBBBBBBI")


def route_msg(ip: str, oif: int, mtu: int | None = None) -> bytes:
    """RTM_NEWROUTE body for ``ip/32 dev <oif> [mtu M]`` (main table, proto static, scope global)."""
    body = _RTMSG.pack(socket.AF_INET, 32, 0, 0, RT_TABLE_MAIN, RTPROT_STATIC, 0, RTN_UNICAST, 0)
    body += nla(RTA_DST, ipaddress.IPv4Address(ip).packed) + nla(RTA_OIF, struct.pack("=I", oif))
    if mtu is not None:
        body += nla(RTA_METRICS, nla(RTAX_MTU, struct.pack("=I", mtu)))
    return body


@dataclass(slots=True)
class TunCounters:
    rx: int = 0
    tx: int = 0
    rx_bytes: int = 0
    tx_bytes: int = 0
    errors: int = 0
    handler_errors: int = 0


class TunDevice:
    def __init__(self, name: str = "abng0", *, netns: str | None = None, batch: int = 64) -> None:
        if len(name) > 15:
            raise ValueError(f"TUN name {name!r} is longer than 15 characters")
        self.name = name
        self.netns = netns
        self.batch = batch
        self.counters = TunCounters()
        self.ifindex = 0
        self._fd: int | None = None
        self._ipr: Any = None
        self._batch: NetlinkBatch | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def open(self) -> None:
        if self._fd is not None:
            raise RuntimeError(f"TUN {self.name} already open")
        fd = os.open(TUN_PATH, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            ifr = struct.pack("16sH22x", self.name.encode(), IFF_TUN | IFF_NO_PI)
            res = fcntl.ioctl(fd, TUNSETIFF, ifr)
            self.name = res[:16].rstrip(b"\0").decode()
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def configure(self, addresses: Iterable[str] = (), mtu: int = 1500) -> None:
        """Bring the device up with `addresses` ('100.64.0.1/32', ...) and `mtu` (pyroute2)."""
        ipr = self._netlink()
        (self.ifindex,) = ipr.link_lookup(ifname=self.name)
        ipr.link("set", index=self.ifindex, mtu=mtu, state="up")
        for cidr in addresses:
            net = ipaddress.IPv4Interface(cidr)
            try:
                ipr.addr("add", index=self.ifindex, address=str(net.ip), prefixlen=net.network.prefixlen)
            except NetlinkError as exc:
                if exc.code != EEXIST:
                    raise

    def _netlink(self) -> Any:
        if self._ipr is None:
            self._ipr = IPRoute(netns=self.netns) if self.netns else IPRoute()
        return self._ipr

    def close(self) -> None:
        self.stop()
        if self._ipr is not None:
            self._ipr.close()
            self._ipr = None
        if self._batch is not None:
            self._batch.close()
            self._batch = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> TunDevice:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fileno(self) -> int:
        if self._fd is None:
            raise RuntimeError(f"TUN {self.name} is not open")
        return self._fd

    # -- routes ----------------------------------------------------------------------------
    def add_host_route(self, ip: str, mtu: int | None = None) -> None:
        """`ip/32 dev <tun>` (replace: idempotent); `mtu` e.g. 1492 for PPPoE subscribers."""
        kw: dict[str, Any] = {"dst": f"{ip}/32", "oif": self.ifindex}
        if mtu is not None:
            kw["metrics"] = {"mtu": mtu}
        self._netlink().route("replace", **kw)

    def add_host_routes(self, routes: Sequence[tuple[str, int | None]]) -> list[int]:
        """Many `add_host_route`s in one netlink batch (raw rtmsg, one send per 200 routes).

        Returns one errno per route, in order (0 = installed); same routes as pyroute2's
        ``route("replace", dst=ip/32, oif=..., metrics={"mtu": mtu})``: main table, proto static."""
        if self._batch is None:
            self._batch = NetlinkBatch(self.netns)
        flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE
        return self._batch.run(
            [Request(RTM_NEWROUTE, flags, route_msg(ip, self.ifindex, mtu)) for ip, mtu in routes]
        )

    def del_host_route(self, ip: str) -> None:
        try:
            self._netlink().route("del", dst=f"{ip}/32", oif=self.ifindex)
        except NetlinkError as exc:
            if exc.code not in ENOENT_ESRCH:
                raise

    # -- packets ---------------------------------------------------------------------------
    def read(self) -> bytes | None:
        """One IPv4 packet, or None when nothing is waiting. Never blocks."""
        try:
            packet = os.read(self.fileno(), MAX_PACKET)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError as exc:
            self.counters.errors += 1
            log.warning("read on %s failed: %s", self.name, exc)
            return None
        self.counters.rx += 1
        self.counters.rx_bytes += len(packet)
        return packet

    def read_batch(self, limit: int | None = None) -> list[bytes]:
        out: list[bytes] = []
        for _ in range(limit or self.batch):
            packet = self.read()
            if packet is None:
                break
            out.append(packet)
        return out

    def write(self, packet: bytes) -> bool:
        try:
            os.write(self.fileno(), packet)
        except OSError as exc:
            self.counters.errors += 1
            log.debug("write on %s failed: %s", self.name, exc)
            return False
        self.counters.tx += 1
        self.counters.tx_bytes += len(packet)
        return True

    # -- asyncio adapter -------------------------------------------------------------------
    def start(self, on_packet: PacketHandler, loop: asyncio.AbstractEventLoop | None = None) -> None:
        if self._loop is not None:
            raise RuntimeError(f"TUN {self.name} already started")
        self._loop = loop or asyncio.get_running_loop()
        self._loop.add_reader(self.fileno(), self._readable, on_packet)

    def stop(self) -> None:
        if self._loop is not None and self._fd is not None:
            self._loop.remove_reader(self._fd)
        self._loop = None

    def _readable(self, on_packet: PacketHandler) -> None:
        for packet in self.read_batch():
            try:
                on_packet(packet)
            except Exception:
                self.counters.handler_errors += 1
                log.exception("TUN packet handler failed on %s", self.name)


def set_sysctl(path: str, value: str) -> None:
    """Write /proc/sys/<path> (dots in interface names stay as they are in /proc paths)."""
    with open(f"/proc/sys/{path}", "w") as f:
        f.write(value)


def enable_ip_forward() -> None:
    """net.ipv4.ip_forward=1 in the calling thread's namespace (the userspace path routes)."""
    set_sysctl("net/ipv4/ip_forward", "1")


def isolate_trunk(ifname: str) -> None:
    """Keep the kernel's own IPv4/ARP/IPv6 stack off the trunk, so that only the userspace data
    path answers and forwards for subscribers (no duplicate replies): no ARP replies
    (arp_ignore=8), no forwarding of frames received there, strict reverse-path filter (the
    subscriber /32s point at the TUN device, so the kernel drops their packets on the trunk),
    IPv6 off, GRO off (see `set_offload`). AF_PACKET taps still see every frame."""
    set_sysctl(f"net/ipv4/conf/{ifname}/arp_ignore", "8")
    set_sysctl(f"net/ipv4/conf/{ifname}/forwarding", "0")
    set_sysctl(f"net/ipv4/conf/{ifname}/rp_filter", "1")
    set_sysctl(f"net/ipv6/conf/{ifname}/disable_ipv6", "1")
    set_offload(ifname, ETHTOOL_SGRO, False)


ETHTOOL_GGRO = 0x2B
ETHTOOL_SGRO = 0x2C
SIOCETHTOOL = 0x8946


def set_offload(ifname: str, cmd: int, enabled: bool) -> None:
    """Legacy SIOCETHTOOL set (struct ethtool_value) in the calling thread's namespace.

    The userspace data path turns GRO off on the trunk: AF_PACKET taps see frames after GRO, so
    merged 64 KiB TCP super-frames would otherwise reach the datapath instead of wire frames."""
    import ctypes
    import socket

    value = ctypes.create_string_buffer(struct.pack("=II", cmd, 1 if enabled else 0), 8)
    ifr = struct.pack("16sP", ifname.encode(), ctypes.addressof(value))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        fcntl.ioctl(sock.fileno(), SIOCETHTOOL, ifr)


def get_offload(ifname: str, cmd: int = ETHTOOL_GGRO) -> bool:
    import ctypes
    import socket

    value = ctypes.create_string_buffer(struct.pack("=II", cmd, 0), 8)
    ifr = struct.pack("16sP", ifname.encode(), ctypes.addressof(value))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        fcntl.ioctl(sock.fileno(), SIOCETHTOOL, ifr)
    return bool(struct.unpack("=II", value.raw)[1])

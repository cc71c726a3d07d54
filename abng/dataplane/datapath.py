"""Userspace data path (D4): subscriber IPv4 between the trunk (AF_PACKET) and a TUN device.

`Datapath` is the sans-I/O core. Frames from the trunk go in (`handle_frame`, tags inline as
PacketIO delivers them) and IPv4 packets from TUN go in (`from_tun`); what to write where
comes out. The table maps each subscriber IPv4 address to a `SubscriberPath` (tag stack, MAC,
IPoE or PPPoE with its session id):

* IPoE: an IPv4 frame whose source MAC, tag stack and source address match a subscriber path
  is written to TUN (the kernel routes it). Packets from TUN to a subscriber address leave on
  the trunk as Ethernet + tags, destination the subscriber's MAC, source the trunk MAC.
* PPPoE: a session frame (0x8864, code 0) carrying PPP IPv4 (0x0021) for a known session on the
  same MAC and tags goes to TUN; the PPPoE layer may also hand the IPv4 payload in through
  `from_pppoe`. Towards the subscriber: Ethernet + tags + PPPoE session header (version/type
  0x11, code 0, session id, length) + PPP protocol 0x0021 + the packet.
* ARP: requests for a gateway address are answered on every access interface; requests from a
  known subscriber (MAC + tags + sender address) are answered for any other target too
  (proxy ARP), so /32 unnumbered clients reach everything through the BNG. Probes (sender
  0.0.0.0) are answered only for gateway addresses, so DHCP clients' duplicate-address checks
  of their own address stay silent.
* Everything else (PPPoE discovery, LCP/IPCP, DHCP to port 67, unknown sources) is `NOT_MINE`
  for the access protocols to take, or a counted drop.

Per-subscriber packet/byte counters (in = from subscriber, out = to subscriber) feed accounting.
"""

from __future__ import annotations

import enum
import functools
import ipaddress
import struct
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from abng.access.arp import answer_arp, parse_arp
from abng.access.frames import (
    ETH_P_ARP,
    ETH_P_IP,
    ETH_P_PPPOE_SESS,
    MAX_TAGS,
    VLAN_TPIDS,
    DecodeError,
    EthernetFrame,
    VlanTag,
    build_frame,
    parse_frame,
)
from abng.core import ipv4

PPP_IPV4 = 0x0021
PPPOE_VER_TYPE = 0x11
PPPOE_SESSION_CODE = 0x00
_PPPOE_HEADER = struct.Struct("!BBHH")
IPPROTO_UDP = 17
DHCP_SERVER_PORT = 67


class Kind(enum.StrEnum):
    IPOE = "ipoe"
    PPPOE = "pppoe"


_PPPOE = Kind.PPPOE  # module-level: an enum class attribute lookup is slow on CPython 3.11


@dataclass(frozen=True, slots=True)
class SubscriberPath:
    """How to reach one subscriber address on the trunk."""

    tags: tuple[VlanTag, ...]
    mac: bytes
    kind: Kind = Kind.IPOE
    session_id: int = 0
    access_interface: str = ""

    @property
    def vids(self) -> tuple[int, ...]:
        return tuple(t.vid for t in self.tags)


@dataclass(slots=True)
class TrafficCounters:
    in_packets: int = 0
    in_bytes: int = 0
    out_packets: int = 0
    out_bytes: int = 0


@dataclass(frozen=True, slots=True)
class ToTun:
    packet: bytes


@dataclass(frozen=True, slots=True)
class ToTrunk:
    frame: bytes


@dataclass(frozen=True, slots=True)
class Dropped:
    reason: str


class _NotMine:
    def __repr__(self) -> str:
        return "NOT_MINE"


NOT_MINE = _NotMine()
Verdict = ToTun | ToTrunk | Dropped | _NotMine


def pppoe_session_encap(session_id: int, ppp_payload: bytes, protocol: int = PPP_IPV4) -> bytes:
    """PPPoE session payload (RFC 2516 §4): header + PPP protocol + payload."""
    body = struct.pack("!H", protocol) + ppp_payload
    return _PPPOE_HEADER.pack(PPPOE_VER_TYPE, PPPOE_SESSION_CODE, session_id, len(body)) + body


def pppoe_session_decap(payload: bytes) -> tuple[int, int, bytes]:
    """(session id, PPP protocol, PPP payload) of a 0x8864 payload; Ethernet padding removed."""
    if len(payload) < _PPPOE_HEADER.size + 2:
        raise DecodeError("pppoe_short", f"{len(payload)} bytes")
    ver_type, code, session_id, length = _PPPOE_HEADER.unpack_from(payload)
    if ver_type != PPPOE_VER_TYPE or code != PPPOE_SESSION_CODE:
        raise DecodeError("pppoe_header", f"ver/type 0x{ver_type:02x} code 0x{code:02x}")
    if length < 2 or length > len(payload) - _PPPOE_HEADER.size:
        raise DecodeError("pppoe_length", f"{length} > {len(payload) - _PPPOE_HEADER.size}")
    (protocol,) = struct.unpack_from("!H", payload, _PPPOE_HEADER.size)
    return session_id, protocol, payload[_PPPOE_HEADER.size + 2 : _PPPOE_HEADER.size + length]


def walk_tags(frame: bytes) -> tuple[bytes, tuple[int, ...], int, int]:
    """(source MAC, VIDs outermost first, EtherType, payload offset) of `frame`.

    The hot-path twin of abng.access.frames.parse_frame (same walk, same limits and errors,
    checked against it by a fuzz test) that builds no tag objects: a data packet costs one
    tuple instead of a VlanTag per tag."""
    n = len(frame)
    if n < 14:
        raise DecodeError("eth_short", f"{n} bytes")
    off = 12
    ethertype = frame[12] << 8 | frame[13]
    vids: list[int] = []
    while ethertype in VLAN_TPIDS:
        if len(vids) >= MAX_TAGS:
            raise DecodeError("eth_too_many_tags")
        if off + 6 > n:
            raise DecodeError("eth_tag_truncated", f"tag {len(vids)}")
        vids.append((frame[off + 2] << 8 | frame[off + 3]) & 0xFFF)
        off += 4
        ethertype = frame[off] << 8 | frame[off + 1]
    return frame[6:12], tuple(vids), ethertype, off + 2


def ipv4_trim(packet: bytes) -> bytes:
    """The IPv4 packet cut to its total length (drops Ethernet padding); raises on garbage."""
    if len(packet) < 20 or packet[0] >> 4 != 4 or (packet[0] & 0xF) < 5:
        raise DecodeError("ipv4_header")
    (total,) = struct.unpack_from("!H", packet, 2)
    if total < (packet[0] & 0xF) * 4 or total > len(packet):
        raise DecodeError("ipv4_length", f"{total} vs {len(packet)}")
    return packet[:total]


def _is_dhcp_to_server(packet: bytes) -> bool:
    ihl = (packet[0] & 0xF) * 4
    return (
        packet[9] == IPPROTO_UDP
        and len(packet) >= ihl + 4
        and struct.unpack_from("!H", packet, ihl + 2)[0] == DHCP_SERVER_PORT
    )


def _addr(ip: str | int | ipaddress.IPv4Address) -> int:
    if type(ip) is str:
        return _addr_text(ip)
    return ipv4.to_int(ip)


@functools.lru_cache(maxsize=1 << 16)
def _addr_text(ip: str) -> int:
    """Subscriber addresses come back again and again (counters, paths): parsed once."""
    return ipv4.to_int(ip)


class Datapath:
    """See the module docstring. `trunk_mac` is the source MAC of everything we send."""

    def __init__(self, trunk_mac: bytes, gateway_ips: Iterable[str | int] = ()) -> None:
        self.trunk_mac = trunk_mac
        self.gateways = {_addr(ip) for ip in gateway_ips}
        self.drops: Counter[str] = Counter()
        self._paths: dict[int, SubscriberPath] = {}
        self._counters: dict[int, TrafficCounters] = {}
        self._sessions: dict[tuple[bytes, tuple[int, ...], int], int] = {}  # (mac, vids, sid) -> ip

    # -- table -----------------------------------------------------------------------------
    def add_subscriber(self, ip: str | int, path: SubscriberPath) -> None:
        """Install or replace the path for `ip` (counters survive a replace)."""
        key = _addr(ip)
        old = self._paths.get(key)
        if old is not None and old.kind is _PPPOE:
            self._sessions.pop((old.mac, old.vids, old.session_id), None)
        self._paths[key] = path
        if key not in self._counters:
            self._counters[key] = TrafficCounters()
        if path.kind is _PPPOE:
            self._sessions[(path.mac, path.vids, path.session_id)] = key

    def remove_subscriber(self, ip: str | int) -> TrafficCounters | None:
        """Remove `ip`; returns its final counters (for the accounting Stop)."""
        key = _addr(ip)
        path = self._paths.pop(key, None)
        if path is None:
            return None
        if path.kind is Kind.PPPOE:
            self._sessions.pop((path.mac, path.vids, path.session_id), None)
        return self._counters.pop(key)

    def path(self, ip: str | int) -> SubscriberPath | None:
        return self._paths.get(_addr(ip))

    def counters(self, ip: str | int) -> TrafficCounters | None:
        return self._counters.get(_addr(ip))

    def __len__(self) -> int:
        return len(self._paths)

    # -- from the trunk --------------------------------------------------------------------
    def handle_frame(self, frame: bytes | EthernetFrame) -> Verdict:
        try:
            if isinstance(frame, EthernetFrame):
                src, vids, ethertype = frame.src, frame.vids, frame.ethertype
                payload = frame.payload
            else:
                src, vids, ethertype, offset = walk_tags(frame)
                payload = frame[offset:]
            if ethertype == ETH_P_IP:
                return self._ipoe_in(src, vids, payload)
            if ethertype == ETH_P_PPPOE_SESS:
                return self._pppoe_in(src, vids, payload)
            if ethertype == ETH_P_ARP:
                return self._arp(frame if isinstance(frame, EthernetFrame) else parse_frame(frame))
        except DecodeError as exc:
            return self._drop(exc.reason)
        return NOT_MINE

    def _ipoe_in(self, src: bytes, vids: tuple[int, ...], payload: bytes) -> Verdict:
        packet = ipv4_trim(payload)
        if _is_dhcp_to_server(packet):
            return NOT_MINE
        key = int.from_bytes(packet[12:16], "big")
        path = self._paths.get(key)
        if path is None or path.kind is not Kind.IPOE:
            return self._drop("unknown_source")
        if path.mac != src or path.vids != vids:
            return self._drop("spoofed_source")
        return self._in(key, packet)

    def _pppoe_in(self, src: bytes, vids: tuple[int, ...], payload: bytes) -> Verdict:
        session_id, protocol, ppp_payload = pppoe_session_decap(payload)
        if protocol != PPP_IPV4:
            return NOT_MINE  # LCP, IPCP, ... belong to the PPP layer
        key = self._sessions.get((src, vids, session_id))
        if key is None:
            return NOT_MINE  # the PPPoE layer answers unknown sessions (PADT)
        return self.from_pppoe(key, ppp_payload)

    def pppoe_ipv4(self, src: bytes, vids: tuple[int, ...], session_id: int, packet: bytes) -> Verdict:
        """``handle_frame``'s verdict on a PPPoE session frame carrying PPP IPv4 whose PPPoE
        header is already checked (the PPPoE layer's shortcut); `packet` is the PPP payload
        after the protocol field."""
        key = self._sessions.get((src, vids, session_id))
        if key is None:
            return NOT_MINE  # the PPPoE layer answers unknown sessions (PADT)
        try:
            return self.from_pppoe(key, packet)
        except DecodeError as exc:
            return self._drop(exc.reason)

    def from_pppoe(self, ip: str | int, packet: bytes) -> Verdict:
        """IPv4 payload of a PPP frame of the session owning `ip` (handed in by the PPPoE layer)."""
        key = _addr(ip)
        packet = ipv4_trim(packet)
        if int.from_bytes(packet[12:16], "big") != key:
            return self._drop("spoofed_source")
        return self._in(key, packet)

    def _in(self, key: int, packet: bytes) -> ToTun:
        c = self._counters[key]
        c.in_packets += 1
        c.in_bytes += len(packet)
        return ToTun(packet)

    def _arp(self, eth: EthernetFrame) -> Verdict:
        req = parse_arp(eth.payload)
        path = self._paths.get(req.sender_ip) if req.sender_ip else None
        known = (
            path is not None
            and path.kind is Kind.IPOE
            and path.mac == req.sender_mac == eth.src
            and path.vids == eth.vids
        )

        def owned(target: int) -> bool:
            return target in self.gateways or (known and target != req.sender_ip)

        reply = answer_arp(eth, self.trunk_mac, owned)
        return ToTrunk(reply) if reply is not None else self._drop("arp_not_answered")

    def _drop(self, reason: str) -> Dropped:
        self.drops[reason] += 1
        return Dropped(reason)

    # -- from TUN --------------------------------------------------------------------------
    def from_tun(self, packet: bytes) -> Verdict:
        if len(packet) < 20 or packet[0] >> 4 != 4:
            return self._drop("tun_not_ipv4")
        key = int.from_bytes(packet[16:20], "big")
        path = self._paths.get(key)
        if path is None:
            return self._drop("no_subscriber")
        c = self._counters[key]
        c.out_packets += 1
        c.out_bytes += len(packet)
        if path.kind is Kind.PPPOE:
            body = pppoe_session_encap(path.session_id, packet)
            return ToTrunk(build_frame(path.mac, self.trunk_mac, path.tags, ETH_P_PPPOE_SESS, body))
        return ToTrunk(build_frame(path.mac, self.trunk_mac, path.tags, ETH_P_IP, packet))


class FrameSink(Protocol):
    def send(self, frame: bytes) -> bool: ...


class PacketSink(Protocol):
    def write(self, packet: bytes) -> bool: ...


class DatapathIO:
    """Thin glue: trunk frames and TUN packets through a `Datapath`, verdicts written out.

    `on_frame` fits PacketIO.start; frames that are NOT_MINE go to `other(frame, ifindex)` (the
    access protocols: PPPoE discovery and control, DHCP). `on_tun_packet` fits TunDevice.start.
    """

    def __init__(
        self,
        datapath: Datapath,
        trunk: FrameSink,
        tun: PacketSink,
        other: Callable[[bytes, int], None] | None = None,
    ) -> None:
        self.datapath = datapath
        self.trunk = trunk
        self.tun = tun
        self.other = other

    def on_frame(self, frame: bytes, ifindex: int) -> None:
        verdict = self.datapath.handle_frame(frame)
        if isinstance(verdict, ToTun):
            self.tun.write(verdict.packet)
        elif isinstance(verdict, ToTrunk):
            self.trunk.send(verdict.frame)
        elif verdict is NOT_MINE and self.other is not None:
            self.other(frame, ifindex)

    def on_tun_packet(self, packet: bytes) -> None:
        verdict = self.datapath.from_tun(packet)
        if isinstance(verdict, ToTrunk):
            self.trunk.send(verdict.frame)

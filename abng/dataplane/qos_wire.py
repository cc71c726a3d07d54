"""Netlink wire encoding for the per-subscriber tc objects, and a batching sender.

The hot path of shaping (one HTB class and one u32 filter per direction per subscriber, tens of
thousands of them) is encoded here with :mod:`struct` instead of pyroute2's generic ``tc()``:

* HTB classes are sent with ``linklayer ethernet`` in their rate specs, so the kernel needs no
  rate table (``htb_change_class`` only reads ``TCA_HTB_RTAB`` for link-layer-unaware specs) and
  the per-packet overhead and MPU come straight from the rate spec;
* u32 filters go into hash tables (``ht``/``link``/``divisor``), which pyroute2 0.9.7 cannot
  express;
* many messages go out in one ``send`` and their acks are collected by sequence number, errno
  values coming back as data (``0`` means success).

Everything that is set up once per device (root qdiscs, the IFB redirect, links) and every dump
(read back) goes through pyroute2.  This module has no policy: :mod:`abng.dataplane.qos_htb` does.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from pyroute2.netlink.rtnl.tcmsg.common import calc_xmittime

# rtnetlink message types and flags (linux/rtnetlink.h, linux/netlink.h)
RTM_NEWQDISC = 36
RTM_DELQDISC = 37
RTM_NEWTCLASS = 40
RTM_DELTCLASS = 41
RTM_NEWTFILTER = 44
RTM_DELTFILTER = 45
NLMSG_ERROR = 2
NLMSG_DONE = 3
RTM_GETTCLASS = 42
RTM_GETTFILTER = 46
NLM_F_DUMP = 0x300
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
NETLINK_ROUTE = 0
SOL_NETLINK = 270
NETLINK_CAP_ACK = 10
NETLINK_EXT_ACK = 11

TCA_KIND = 1
TCA_OPTIONS = 2
TCA_HTB_PARMS = 1
TCA_HTB_INIT = 2
TCA_HTB_RATE64 = 6
TCA_HTB_CEIL64 = 7
TCA_U32_CLASSID = 1
TCA_U32_HASH = 2
TCA_U32_LINK = 3
TCA_U32_DIVISOR = 4
TCA_U32_SEL = 5
TC_U32_TERMINAL = 1
TC_LINKLAYER_ETHERNET = 1
ETH_P_IP = 0x0800

HTB_MTU = 1600
#: The largest quantum HTB accepts without complaining (sch_htb clamps to this).
HTB_MAX_QUANTUM = 200_000

_NLMSG = struct.Struct("=IHHII")
_TCMSG = struct.Struct("=BxxxiIII")
_NLA = struct.Struct("=HH")
_RATESPEC = struct.Struct("=BBHhHI")
_NLMSG_ERR = struct.Struct("=IHHIIi")  # a netlink header and the errno of an NLMSG_ERROR


def tc_handle(major: int, minor: int) -> int:
    """``major:minor`` as the kernel's 32-bit handle."""
    return ((major & 0xFFFF) << 16) | (minor & 0xFFFF)


def u32_handle(htid: int, bucket: int = 0, node: int = 0) -> int:
    """u32 filter handle ``htid:bucket:node`` (12, 8 and 12 bits)."""
    return ((htid & 0xFFF) << 20) | ((bucket & 0xFF) << 12) | (node & 0xFFF)


def nla(kind: int, payload: bytes) -> bytes:
    length = _NLA.size + len(payload)
    pad = (-length) % 4
    return _NLA.pack(length, kind) + payload + b"\0" * pad


def _kind(name: str) -> bytes:
    return nla(TCA_KIND, name.encode() + b"\0")


def _tcmsg(ifindex: int, handle: int, parent: int, info: int) -> bytes:
    return _TCMSG.pack(socket.AF_UNSPEC, ifindex, handle, parent, info)


def nlmsg(msg_type: int, flags: int, seq: int, body: bytes) -> bytes:
    """Wrap ``body`` in a netlink header (bodies here are always 4-byte aligned)."""
    return _NLMSG.pack(_NLMSG.size + len(body), msg_type, flags, seq, 0) + body


@dataclass(frozen=True, slots=True)
class HtbRate:
    """An HTB class's rate: bits per second plus the link-layer accounting."""

    bps: int
    overhead: int = 0
    mpu: int = 0

    def ratespec(self) -> bytes:
        byte_rate = self.bps // 8
        return _RATESPEC.pack(
            0, TC_LINKLAYER_ETHERNET, self.overhead, 0, self.mpu, min(byte_rate, 0xFFFFFFFF)
        )


def htb_class_options(rate: HtbRate, *, prio: int = 0) -> bytes:
    """``TCA_OPTIONS`` of an HTB class with rate == ceil (a hard per-subscriber limit)."""
    return _htb_class_tail(rate.bps, rate.overhead, rate.mpu, prio)[_KIND_HTB_LEN:]


_KIND_HTB_LEN = 8  # nla(TCA_KIND, b"htb\0")


@lru_cache(maxsize=4096)
def _htb_class_tail(bps: int, overhead: int, mpu: int, prio: int) -> bytes:
    """``TCA_KIND`` "htb" + ``TCA_OPTIONS`` of a class; a handful of distinct rates in practice,
    so each is encoded (with pyroute2's ``calc_xmittime``) once."""
    return _kind("htb") + _htb_class_options(HtbRate(bps, overhead, mpu), prio)


def _htb_class_options(rate: HtbRate, prio: int) -> bytes:
    byte_rate = rate.bps // 8
    burst = byte_rate / 1000 + HTB_MTU  # as tc does: rate / HZ + mtu
    buffer = calc_xmittime(byte_rate, burst)
    quantum = max(HTB_MTU, min(byte_rate // 10, HTB_MAX_QUANTUM))
    spec = rate.ratespec()
    parms = spec + spec + struct.pack("=IIIII", buffer, buffer, quantum, 0, prio)
    attrs = nla(TCA_HTB_PARMS, parms)
    if byte_rate >= 1 << 32:
        attrs += nla(TCA_HTB_RATE64, struct.pack("=Q", byte_rate))
        attrs += nla(TCA_HTB_CEIL64, struct.pack("=Q", byte_rate))
    return nla(TCA_OPTIONS, attrs)


def htb_class_msg(ifindex: int, classid: int, parent: int, rate: HtbRate) -> bytes:
    """Body of RTM_NEWTCLASS: with :func:`create_flags` adds, with :func:`change_flags` changes in place."""
    return htb_class_msg_raw(ifindex, classid, parent, rate.bps, rate.overhead, rate.mpu)


def htb_class_msg_raw(ifindex: int, classid: int, parent: int, bps: int, overhead: int, mpu: int) -> bytes:
    """:func:`htb_class_msg` without an :class:`HtbRate` object (the per-session hot path)."""
    return _TCMSG.pack(0, ifindex, classid, parent, 0) + _htb_class_tail(bps, overhead, mpu, 0)


def htb_qdisc_msg(ifindex: int, handle: int, parent: int, default: int = 0) -> bytes:
    """``tc qdisc add ... parent PARENT handle HANDLE htb default DEFAULT`` (r2q 10)."""
    glob = struct.pack("=IIIII", 3, 10, default, 0, 0)
    return _tcmsg(ifindex, handle, parent, 0) + _kind("htb") + nla(TCA_OPTIONS, nla(TCA_HTB_INIT, glob))


def htb_class_del_msg(ifindex: int, classid: int, parent: int) -> bytes:
    return _tcmsg(ifindex, classid, parent, 0)


def _u32_sel(keys: Sequence[tuple[int, int, int]], *, terminal: bool, hmask: int = 0, hoff: int = 0) -> bytes:
    """``struct tc_u32_sel`` with keys ``(value, mask, offset)`` (host-order ints, bytes offset)."""
    head = struct.pack(
        "=BBBxHHhhI",
        TC_U32_TERMINAL if terminal else 0,
        0,
        len(keys),
        0,
        0,
        0,
        hoff,
        socket.htonl(hmask),
    )
    body = b"".join(
        struct.pack("=IIii", socket.htonl(mask), socket.htonl(value & mask), off, 0)
        for value, mask, off in keys
    )
    return head + body


def filter_info(prio: int) -> int:
    """``tcm_info`` of a filter: priority and protocol (IPv4)."""
    return ((prio & 0xFFFF) << 16) | socket.htons(ETH_P_IP)


def u32_hashtable_msg(ifindex: int, parent: int, prio: int, htid: int, divisor: int) -> bytes:
    """``tc filter add ... prio P handle HT: u32 divisor N``."""
    options = nla(TCA_U32_DIVISOR, struct.pack("=I", divisor))
    return (
        _tcmsg(ifindex, u32_handle(htid), parent, filter_info(prio))
        + _kind("u32")
        + nla(TCA_OPTIONS, options)
    )


def u32_hashlink_msg(
    ifindex: int, parent: int, prio: int, htid: int, offset: int, hmask: int = 0xFF
) -> bytes:
    """``u32 ht 800:: match ip <field> 0/0 hashkey mask HMASK at OFFSET link HT:``.

    The bucket is the octet selected by ``hmask`` in the 32-bit word at ``offset`` (16: IPv4
    destination, 12: source); the kernel shifts it down (``fshift``).
    """
    options = nla(TCA_U32_HASH, struct.pack("=I", u32_handle(0x800)))
    options += nla(TCA_U32_LINK, struct.pack("=I", u32_handle(htid)))
    options += nla(TCA_U32_SEL, _u32_sel([(0, 0, offset)], terminal=False, hmask=hmask, hoff=offset))
    return _tcmsg(ifindex, 0, parent, filter_info(prio)) + _kind("u32") + nla(TCA_OPTIONS, options)


def u32_ip_filter_msg(
    ifindex: int, parent: int, prio: int, handle: int, ip: int, offset: int, classid: int
) -> bytes:
    """A terminal u32 filter in bucket ``handle``: ``match ip dst|src IP/32 flowid CLASSID``."""
    bucket = handle & 0xFFFFF000
    options = nla(TCA_U32_CLASSID, struct.pack("=I", classid))
    options += nla(TCA_U32_HASH, struct.pack("=I", bucket))
    options += nla(TCA_U32_SEL, _u32_sel([(ip, 0xFFFFFFFF, offset)], terminal=True))
    return _tcmsg(ifindex, handle, parent, filter_info(prio)) + _kind("u32") + nla(TCA_OPTIONS, options)


#: :func:`u32_ip_filter_msg` in one pack: tcmsg, TCA_KIND "u32", TCA_OPTIONS { CLASSID, HASH,
#: SEL (terminal, one key) }; every length is a constant.
_U32_IP = struct.Struct("=BxxxiIII HH4s HH HHI HHI HH BBBxHHhhI IIii")
_U32_IP_OPTS = 4 + 8 + 8 + 4 + 16 + 16


def u32_ip_filter_msg_fast(
    ifindex: int, parent: int, info: int, handle: int, ip: int, offset: int, classid: int
) -> bytes:
    """:func:`u32_ip_filter_msg` with ``info`` from :func:`filter_info` (same bytes)."""
    return _U32_IP.pack(
        0, ifindex, handle, parent, info,
        8, TCA_KIND, b"u32\0",
        _U32_IP_OPTS, TCA_OPTIONS,
        8, TCA_U32_CLASSID, classid,
        8, TCA_U32_HASH, handle & 0xFFFFF000,
        36, TCA_U32_SEL, TC_U32_TERMINAL, 0, 1, 0, 0, 0, 0, 0,
        0xFFFFFFFF, _HTONL(ip & 0xFFFFFFFF), offset, 0,
    )  # fmt: skip


_HTONL = socket.htonl


def u32_all_msg(ifindex: int, parent: int, prio: int, handle: int, classid: int) -> bytes:
    """A terminal match-all u32 filter (``match u32 0 0``) in bucket ``handle`` -> ``classid``."""
    bucket = handle & 0xFFFFF000
    options = nla(TCA_U32_CLASSID, struct.pack("=I", classid))
    options += nla(TCA_U32_HASH, struct.pack("=I", bucket))
    options += nla(TCA_U32_SEL, _u32_sel([(0, 0, 0)], terminal=True))
    return _tcmsg(ifindex, handle, parent, filter_info(prio)) + _kind("u32") + nla(TCA_OPTIONS, options)


def tc_dump_msg(ifindex: int, parent: int = 0) -> bytes:
    """Body of a class or filter dump request for one device (filters: under ``parent``)."""
    return _tcmsg(ifindex, 0, parent, 0)


def u32_filter_del_msg(ifindex: int, parent: int, prio: int, handle: int) -> bytes:
    return _tcmsg(ifindex, handle, parent, filter_info(prio)) + _kind("u32")


_KIND_U32 = _kind("u32")


def u32_filter_del_msg_fast(ifindex: int, parent: int, info: int, handle: int) -> bytes:
    """:func:`u32_filter_del_msg` with ``info`` from :func:`filter_info` (same bytes)."""
    return _TCMSG.pack(0, ifindex, handle, parent, info) + _KIND_U32


def iter_attrs(buf: bytes | memoryview, offset: int = 0) -> Iterator[tuple[int, memoryview]]:
    """Netlink attributes from ``offset`` to the end: ``(type without flags, payload)``."""
    view = memoryview(buf)
    while offset + _NLA.size <= len(view):
        length, kind = _NLA.unpack_from(view, offset)
        if length < _NLA.size or offset + length > len(view):
            return
        yield kind & 0x3FFF, view[offset + _NLA.size : offset + length]
        offset += (length + 3) & ~3


def attrs_dict(buf: bytes | memoryview, offset: int = 0) -> dict[int, memoryview]:
    return dict(iter_attrs(buf, offset))


@dataclass(frozen=True, slots=True)
class DumpedClass:
    """An HTB class from a dump: handle, rate in bit/s, overhead and MPU of its rate spec."""

    handle: int
    parent: int
    rate_bps: int
    overhead: int
    mpu: int


def parse_htb_class(body: bytes) -> DumpedClass | None:
    """An RTM_NEWTCLASS dump entry, if it is a well-formed HTB class with parameters."""
    try:
        return _parse_htb_class(body)
    except struct.error:
        return None


def _parse_htb_class(body: bytes) -> DumpedClass | None:
    _fam, _ifindex, handle, parent, _info = _TCMSG.unpack_from(body, 0)
    attrs = attrs_dict(body, _TCMSG.size)
    if bytes(attrs.get(TCA_KIND, b"")).rstrip(b"\0") != b"htb" or TCA_OPTIONS not in attrs:
        return None
    opts = attrs_dict(attrs[TCA_OPTIONS])
    parms = opts.get(TCA_HTB_PARMS)
    if parms is None:
        return None
    _cell, _ll, overhead, _align, mpu, rate = _RATESPEC.unpack_from(parms, 0)
    if TCA_HTB_RATE64 in opts:
        (rate,) = struct.unpack_from("=Q", opts[TCA_HTB_RATE64])
    return DumpedClass(handle, parent, rate * 8, overhead, mpu)


def parse_u32_filter(body: bytes) -> tuple[int, list[tuple[int, int, int]]] | None:
    """An RTM_NEWTFILTER dump entry of a terminal u32 filter: ``(classid, [(value, mask, off)])``."""
    try:
        return _parse_u32_filter(body)
    except struct.error:
        return None


def _parse_u32_filter(body: bytes) -> tuple[int, list[tuple[int, int, int]]] | None:
    attrs = attrs_dict(body, _TCMSG.size)
    if TCA_OPTIONS not in attrs:
        return None
    opts = attrs_dict(attrs[TCA_OPTIONS])
    if TCA_U32_CLASSID not in opts or TCA_U32_SEL not in opts:
        return None
    (classid,) = struct.unpack_from("=I", opts[TCA_U32_CLASSID])
    sel = opts[TCA_U32_SEL]
    nkeys = sel[2]
    keys = []
    for n in range(nkeys):
        mask, val = struct.unpack_from(">II", sel, 16 + 16 * n)
        (off,) = struct.unpack_from("=i", sel, 24 + 16 * n)
        keys.append((val, mask, off))
    return classid, keys


class Request(NamedTuple):
    """One netlink request of a batch."""

    msg_type: int
    flags: int
    body: bytes


#: what :meth:`NetlinkBatch.run` takes: a :class:`Request` or a plain ``(type, flags, body)``
RawRequest = tuple[int, int, bytes]


def create_flags() -> int:
    return NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL


def change_flags() -> int:
    return NLM_F_REQUEST | NLM_F_ACK


class NetlinkBatch:
    """A NETLINK_ROUTE socket that sends requests in batches and returns their errno values.

    Not thread-safe: one owner (the dataplane worker thread).  ``netns`` opens the socket inside
    a named network namespace (tests); the socket stays there for its whole life.
    """

    CHUNK = 200

    def __init__(self, netns: str | None = None) -> None:
        if netns is None:
            self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
        else:
            from pyroute2 import netns as pyr_netns

            self._sock = pyr_netns.create_socket(
                netns, socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE, flags=0
            )
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        self._sock.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
        self._sock.bind((0, 0))
        self._seq = 1
        self._buf = bytearray(1 << 20)
        self._view = memoryview(self._buf)

    def close(self) -> None:
        self._sock.close()

    def dump(self, msg_type: int, body: bytes) -> list[tuple[int, bytes]]:
        """One dump request; every answer's ``(type, body)`` until NLMSG_DONE.  Raises OSError."""
        seq = self._seq
        self._seq += 1
        self._sock.sendall(nlmsg(msg_type, NLM_F_REQUEST | NLM_F_DUMP, seq, body))
        out: list[tuple[int, bytes]] = []
        while True:
            data = self._sock.recv(1 << 20)
            pos = 0
            while pos + _NLMSG.size <= len(data):
                length, kind, _flags, mseq, _pid = _NLMSG.unpack_from(data, pos)
                if length < _NLMSG.size:
                    break
                payload = data[pos + _NLMSG.size : pos + length]
                pos += (length + 3) & ~3
                if mseq != seq:
                    continue
                if kind == NLMSG_DONE:
                    return out
                if kind == NLMSG_ERROR:
                    (err,) = struct.unpack_from("=i", payload)
                    if err:
                        raise OSError(-err, f"netlink dump {msg_type}")
                    continue
                out.append((kind, payload))

    def run(self, requests: Sequence[RawRequest]) -> list[int]:
        """Send every request; return one errno per request (0 = success), in order."""
        result: list[int] = []
        for start in range(0, len(requests), self.CHUNK):
            result.extend(self._run_chunk(requests[start : start + self.CHUNK]))
        return result

    def _run_chunk(self, chunk: Sequence[RawRequest]) -> list[int]:
        first = self._seq
        count = len(chunk)
        self._seq += count
        if self._seq > 0x7FFFFFFF:
            self._seq = 1
        pack, hsize = _NLMSG.pack, _NLMSG.size
        parts: list[bytes] = []
        add = parts.append
        seq = first
        for msg_type, flags, body in chunk:
            add(pack(hsize + len(body), msg_type, flags, seq, 0))
            add(body)
            seq += 1
        self._sock.sendall(b"".join(parts))
        errors: list[int | None] = [None] * count
        missing = count
        buf, view, recv_into = self._buf, self._view, self._sock.recv_into
        unpack_ack = _NLMSG_ERR.unpack_from
        while missing:
            size = recv_into(buf)
            pos = 0
            while pos + _NLMSG_ERR.size <= size:
                length, msg_type, _flags, seq, _pid, err = unpack_ack(view, pos)
                if length < hsize:
                    break
                n = seq - first
                if msg_type == NLMSG_ERROR and 0 <= n < count and errors[n] is None:
                    errors[n] = -err
                    missing -= 1
                pos += (length + 3) & ~3
        return errors  # type: ignore[return-value]  # every entry was set above

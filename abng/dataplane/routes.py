"""Subscriber /32 host routes (reference §6.7), written and read back through netlink.

Every route carries our own routing protocol number (``RTPROT_ABNG`` = 188, shown by ``ip route``
as ``proto 188``), so that ``list_subscriber_routes`` and ``flush_stale`` only ever see and touch
what abngd installed, and FRR can redistribute them by protocol.  Operations are idempotent
(``replace`` to add; a missing route is a successful removal) and return errno values as data.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pyroute2 import IPRoute

from abng.core import ipv4
from abng.dataplane import qos_wire as w

RTPROT_ABNG = 188
MAIN_TABLE = 254
SCOPE_LINK = 253
SCOPE_NOWHERE = 255
RTN_UNICAST = 1
RTM_NEWROUTE, RTM_DELROUTE, RTM_GETROUTE = 24, 25, 26
_RTMSG_SIZE = 12
NLM_F_REPLACE = 0x100
RTA_DST, RTA_OIF, RTA_TABLE = 1, 4, 15
ENOENT, ESRCH, ENODEV = 2, 3, 19


@dataclass(frozen=True, slots=True)
class SubscriberRoute:
    ip: str
    ifindex: int
    ifname: str | None
    table: int


class RouteManager:
    """Add, remove and list subscriber routes; ``netns`` for tests.  One owner thread."""

    def __init__(self, netns: str | None = None, proto: int = RTPROT_ABNG) -> None:
        self._ipr = IPRoute(netns=netns) if netns else IPRoute()
        self._nl = w.NetlinkBatch(netns)
        self._proto = proto

    def close(self) -> None:
        self._nl.close()
        self._ipr.close()

    def _ifindex(self, iface: int | str) -> int | None:
        if isinstance(iface, int):
            return iface
        found = self._ipr.link_lookup(ifname=iface)
        return int(found[0]) if found else None

    def add_subscriber_route(
        self, ip: str | ipaddress.IPv4Address, iface: int | str, table: int = MAIN_TABLE
    ) -> int:
        """Install (or move) ``ip/32 dev iface proto 188 scope link``; return 0 or an errno."""
        return self.add_many([(ip, iface)], table)[0]

    def add_many(
        self, routes: Sequence[tuple[str | ipaddress.IPv4Address, int | str]], table: int = MAIN_TABLE
    ) -> list[int]:
        """Batch of :meth:`add_subscriber_route` (one netlink batch); one errno per route."""
        reqs: list[w.Request] = []
        missing: set[int] = set()
        indexes = {iface: self._ifindex(iface) for iface in {iface for _, iface in routes}}
        for n, (ip, iface) in enumerate(routes):
            index = indexes[iface]
            if index is None:
                missing.add(n)
                index = 0
            body = _rtmsg(ip, table, self._proto, SCOPE_LINK, RTN_UNICAST) + w.nla(
                RTA_OIF, struct.pack("=I", index)
            )
            reqs.append(
                w.Request(RTM_NEWROUTE, w.NLM_F_REQUEST | w.NLM_F_ACK | w.NLM_F_CREATE | NLM_F_REPLACE, body)
            )
        errs = self._nl.run(reqs)
        return [ENODEV if n in missing else e for n, e in enumerate(errs)]

    def remove_subscriber_route(self, ip: str | ipaddress.IPv4Address, table: int = MAIN_TABLE) -> int:
        """Remove our route to ``ip``; an absent route counts as removed."""
        return self.remove_many([ip], table)[0]

    def remove_many(self, ips: Sequence[str | ipaddress.IPv4Address], table: int = MAIN_TABLE) -> list[int]:
        reqs = [
            w.Request(RTM_DELROUTE, w.change_flags(), _rtmsg(ip, table, self._proto, SCOPE_NOWHERE, 0))
            for ip in ips
        ]
        return [0 if e in (ENOENT, ESRCH) else e for e in self._nl.run(reqs)]

    def list_subscriber_routes(self, table: int | None = None) -> list[SubscriberRoute]:
        """Our routes as the kernel holds them (``show routes``), from one raw dump."""
        names = {int(link["index"]): link.get_attr("IFLA_IFNAME") for link in self._ipr.get_links()}
        out = []
        head = struct.pack("=BBBBBBBBI", socket.AF_INET, 0, 0, 0, 0, 0, 0, 0, 0)
        for kind, body in self._nl.dump(RTM_GETROUTE, head):
            if kind != RTM_NEWROUTE or len(body) < _RTMSG_SIZE:
                continue
            _fam, dst_len, _s, _t, rtable, proto, _scope, _type, _flags = struct.unpack_from(
                "=BBBBBBBBI", body
            )
            if proto != self._proto or dst_len != 32:
                continue
            attrs = w.attrs_dict(body, _RTMSG_SIZE)
            if RTA_TABLE in attrs:
                (rtable,) = struct.unpack_from("=I", attrs[RTA_TABLE])
            if table is not None and rtable != table:
                continue
            oif = struct.unpack_from("=I", attrs[RTA_OIF])[0] if RTA_OIF in attrs else 0
            ip = str(ipaddress.IPv4Address(bytes(attrs[RTA_DST])))
            out.append(SubscriberRoute(ip, oif, names.get(oif), rtable))
        return out

    def flush_stale(self, known_ips: Iterable[str | ipaddress.IPv4Address]) -> int:
        """At start-up: remove every route of ours whose address is not a live session's."""
        keep = {str(ipaddress.IPv4Address(ip)) for ip in known_ips}
        removed = 0
        stale: dict[int, list[str]] = {}
        for route in self.list_subscriber_routes():
            if route.ip not in keep:
                stale.setdefault(route.table, []).append(route.ip)
        for table, ips in stale.items():
            removed += sum(1 for e in self.remove_many(ips, table) if e == 0)
        return removed


_RTMSG_DST_TABLE = struct.Struct("=BBBBBBBBI HH4s HHI")


def _rtmsg(ip: str | ipaddress.IPv4Address, table: int, proto: int, scope: int, rtype: int) -> bytes:
    """``struct rtmsg`` for ``ip/32`` plus RTA_DST and RTA_TABLE."""
    return _RTMSG_DST_TABLE.pack(
        socket.AF_INET, 32, 0, 0, min(table, 255), proto, scope, rtype, 0,
        8, RTA_DST, ipv4.packed(ip), 8, RTA_TABLE, table,
    )  # fmt: skip

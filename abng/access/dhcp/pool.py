"""IPv4 address pool: O(1) allocation, sticky per MAC, lazy so that a /8 costs no memory.

Addresses never handed out are taken first, from a cursor walking the range; after that,
released ones from a FIFO (oldest first), so that a MAC coming back finds its old address free
for as long as possible.  Stickiness memory is bounded by the pool size.
Every operation is O(1) amortised; memory grows only with addresses actually used.
"""

from __future__ import annotations

import ipaddress
from collections import deque
from collections.abc import Iterable


class Ipv4Pool:
    def __init__(self, name: str, first: int, last: int, exclude: Iterable[int] = ()) -> None:
        if not 0 <= first <= last <= 0xFFFFFFFF:
            raise ValueError(f"pool {name}: bad range")
        self.name = name
        self.first = first
        self.last = last
        self._exclude = frozenset(e for e in exclude if first <= e <= last)
        self._used: set[int] = set()
        self._cursor = first
        self._free: deque[int] = deque()
        self._in_free: set[int] = set()
        self._sticky: dict[bytes, int] = {}  # mac -> last address it held
        self._owner: dict[int, bytes] = {}  # address -> last mac that held it

    @classmethod
    def from_network(
        cls, name: str, network: str, gateway: str | None = None, exclude: Iterable[str] = ()
    ) -> Ipv4Pool:
        """Every host of ``network`` except network, broadcast (for prefixes < /31) and gateway."""
        net = ipaddress.IPv4Network(network, strict=False)
        first, last = int(net.network_address), int(net.broadcast_address)
        if net.prefixlen < 31:
            first, last = first + 1, last - 1
        ex = [int(ipaddress.IPv4Address(e)) for e in exclude]
        if gateway:
            ex.append(int(ipaddress.IPv4Address(gateway)))
        return cls(name, first, last, ex)

    @classmethod
    def from_range(cls, name: str, start: str, end: str, exclude: Iterable[str] = ()) -> Ipv4Pool:
        return cls(
            name,
            int(ipaddress.IPv4Address(start)),
            int(ipaddress.IPv4Address(end)),
            [int(ipaddress.IPv4Address(e)) for e in exclude],
        )

    def __contains__(self, ip: object) -> bool:
        return isinstance(ip, int) and self.first <= ip <= self.last and ip not in self._exclude

    @property
    def size(self) -> int:
        return self.last - self.first + 1 - len(self._exclude)

    @property
    def in_use(self) -> int:
        return len(self._used)

    def is_free(self, ip: int) -> bool:
        return ip in self and ip not in self._used

    def _take(self, ip: int, mac: bytes | None) -> int:
        self._used.add(ip)
        if mac is not None:
            old = self._owner.get(ip)
            if old is not None and old != mac and self._sticky.get(old) == ip:
                del self._sticky[old]
            prev = self._sticky.get(mac)
            if prev is not None and prev != ip and self._owner.get(prev) == mac:
                del self._owner[prev]
            self._owner[ip] = mac
            self._sticky[mac] = ip
        return ip

    def allocate(self, mac: bytes) -> int | None:
        """A free address, preferring the one ``mac`` held last; ``None`` when exhausted."""
        ip = self._sticky.get(mac)
        if ip is not None and ip not in self._used:
            return self._take(ip, mac)
        while self._cursor <= self.last:
            ip = self._cursor
            self._cursor += 1
            if ip not in self._exclude and ip not in self._used:
                return self._take(ip, mac)
        while self._free:
            ip = self._free.popleft()
            self._in_free.discard(ip)
            if ip not in self._used:
                return self._take(ip, mac)
        return None

    def reserve(self, ip: int, mac: bytes | None = None) -> bool:
        """Take a specific address (RADIUS Framed-IP, restored lease, declined hold)."""
        if ip not in self or ip in self._used:
            return False
        self._take(ip, mac)
        return True

    def release(self, ip: int) -> None:
        if ip not in self._used:
            return
        self._used.discard(ip)
        if ip < self._cursor and ip not in self._in_free:
            self._free.append(ip)
            self._in_free.add(ip)

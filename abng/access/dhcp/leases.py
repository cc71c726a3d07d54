"""Bindings (offered or bound addresses), indexed by client and by address, plus a deadline heap.

A client is identified by ``(access_interface, chaddr)``: the same MAC behind two access
interfaces is two clients.  An address maps to at most one binding: that is the invariant that
keeps one address from ever being given to two MACs.
"""

from __future__ import annotations

import enum
import heapq
import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from abng.access.dhcp.codec import DhcpMessage
from abng.access.dhcp.options import RelayAgentInfo
from abng.access.dhcp.replies import RequestContext
from abng.access.frames import VlanTag

ClientKey = tuple[str, bytes]  # (access_interface, chaddr)


class BindingState(enum.Enum):
    OFFERED = "offered"
    BOUND = "bound"


@dataclass(slots=True)
class Binding:
    key: ClientKey
    ip: int
    state: BindingState
    lease_time: int
    expires_at: float
    pool: str | None
    relay_agent: RelayAgentInfo
    hostname: str | None = None
    client_id: bytes | None = None
    tags: tuple[VlanTag, ...] = ()
    attrs: Mapping[str, object] = field(default_factory=dict)
    generation: int = 0  # bumped on every deadline change; stale heap entries are skipped
    not_after: float | None = None  # Session-Timeout: no lease granted past this time

    @property
    def access_interface(self) -> str:
        return self.key[0]

    @property
    def mac(self) -> bytes:
        return self.key[1]


@dataclass(slots=True)
class PendingAuth:
    """A DISCOVER waiting for AAA (bounded table; no address is held yet)."""

    key: int
    client: ClientKey
    request: DhcpMessage  # the latest DISCOVER: the OFFER answers its xid
    ctx: RequestContext
    relay_agent: RelayAgentInfo
    deadline: float


class TimerKind(enum.Enum):
    BINDING = "binding"  # offer timeout or lease expiry
    AUTH = "auth"  # pending AAA timeout
    HOLD = "hold"  # end of a DECLINE hold


class _Entry(NamedTuple):
    deadline: float
    seq: int
    kind: TimerKind
    ref: object
    generation: int


class Deadlines:
    """A min-heap of deadlines with lazy invalidation (the owner says which entries are live)."""

    def __init__(self) -> None:
        self._heap: list[_Entry] = []
        self._seq = itertools.count()

    def push(self, deadline: float, kind: TimerKind, ref: object, generation: int = 0) -> None:
        heapq.heappush(self._heap, _Entry(deadline, next(self._seq), kind, ref, generation))

    def peek(self) -> _Entry | None:
        return self._heap[0] if self._heap else None

    def pop(self) -> _Entry:
        return heapq.heappop(self._heap)

    def __len__(self) -> int:
        return len(self._heap)


class BindingTable:
    def __init__(self) -> None:
        self._by_key: dict[ClientKey, Binding] = {}
        self._by_ip: dict[int, Binding] = {}

    def get(self, key: ClientKey) -> Binding | None:
        return self._by_key.get(key)

    def by_ip(self, ip: int) -> Binding | None:
        return self._by_ip.get(ip)

    def add(self, binding: Binding) -> None:
        holder = self._by_ip.get(binding.ip)
        if holder is not None and holder.key != binding.key:
            raise ValueError("address already bound to another client")  # our bug if reached
        old = self._by_key.get(binding.key)
        if old is not None:
            self.remove(old)
        self._by_key[binding.key] = binding
        self._by_ip[binding.ip] = binding

    def remove(self, binding: Binding) -> None:
        if self._by_key.get(binding.key) is binding:
            del self._by_key[binding.key]
        if self._by_ip.get(binding.ip) is binding:
            del self._by_ip[binding.ip]

    def __iter__(self) -> Iterator[Binding]:
        return iter(list(self._by_key.values()))

    def __len__(self) -> int:
        return len(self._by_key)


class MacRateLimiter:
    """Per-MAC token bucket with a bounded table (entries that are full again are forgotten)."""

    def __init__(self, burst: int, rate: float, max_entries: int) -> None:
        self.burst = float(burst)
        self.rate = rate
        self.max_entries = max_entries
        self._buckets: dict[bytes, tuple[float, float]] = {}  # mac -> (tokens, last)

    def allow(self, mac: bytes, now: float) -> bool:
        entry = self._buckets.get(mac)
        if entry is None:
            if len(self._buckets) >= self.max_entries:
                self._prune(now)
                if len(self._buckets) >= self.max_entries:
                    return False
            tokens = self.burst
        else:
            tokens = min(self.burst, entry[0] + max(0.0, now - entry[1]) * self.rate)
        if tokens < 1.0:
            self._buckets[mac] = (tokens, now)
            return False
        self._buckets[mac] = (tokens - 1.0, now)
        return True

    def _prune(self, now: float) -> None:
        full_after = self.burst / self.rate if self.rate > 0 else float("inf")
        stale = [m for m, (_, last) in self._buckets.items() if now - last >= full_after]
        for m in stale:
            del self._buckets[m]

    def __len__(self) -> int:
        return len(self._buckets)

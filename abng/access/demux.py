"""VLAN demultiplexer: which access interface a tagged frame belongs to (reference §4.4, §6.1, D5).

Sans-I/O. `Demux.classify(tags, now)` takes the tag stack of a received frame (outermost first,
as abng.access.frames parses it after PacketIO re-inserted the stripped tag) and returns the
`AccessInterface` it belongs to, creating it when a profile allows, or a `Drop` with a reason.

Creation is guarded, in this order, before anything is kept beyond a small bounded table of
candidates: a profile must match every tag; `require_packets` frames must arrive within
`require_window` seconds; a per-profile token bucket enforces `creation_rate_limit`; the
profile's `max_interfaces` is a hard cap. Newly created interfaces are queued for the owner to
drain with `take_created()` (to create kernel VLAN devices, bind PPPoE/DHCP, notify abngd).

`expire(now, has_sessions)` runs the cleanup pass (`next_cleanup()` says when: every 60 s): an
interface with no sessions and no frames for `idle_timeout` seconds is removed; removals are
returned deepest first, and `device_chain()` gives the kernel devices outer to inner so a
backend tears them down in reverse order (C-tag, S-tag, outer).

Names (D5): the logical name is `{trunk}.{outer}.{stag}.{ctag}` with fewer parts for fewer
tags; when it is longer than IFNAMSIZ (15) the kernel name is `kernel_ifname(logical)`, a
deterministic hash-suffixed name, kept beside the logical one.

With the demux disabled the trunk itself is the only access interface (untagged subscribers).
With `untagged` set (demux.untagged) the trunk is also the access interface of untagged frames
while the demux is enabled, so one trunk serves untagged and tagged subscribers together.
"""

from __future__ import annotations

import hashlib
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from abng.access.frames import TPID_8021AD, TPID_8021Q, VlanTag, intern_tag

if TYPE_CHECKING:
    from abng.config.schema_access import Demux as DemuxConfig
    from abng.config.schema_access import DemuxProfile

IFNAMSIZ = 15
CLEANUP_INTERVAL = 60.0
MAX_CANDIDATES = 4096  # unconfirmed tag stacks remembered for require_packets
DEFAULT_SERVICES = ("pppoe", "dhcp")
_TPIDS = {"802.1ad": TPID_8021AD, "802.1q": TPID_8021Q}


def logical_name(trunk: str, vids: Sequence[int]) -> str:
    """`{trunk}.{outer}.{stag}.{ctag}` (D5), fewer parts for fewer tags."""
    return ".".join([trunk, *map(str, vids)])


def kernel_ifname(logical: str) -> str:
    """The kernel name for `logical`: itself when it fits IFNAMSIZ, else a stable short form
    `{trunk[:4]}.{10 hex digits of BLAKE2s(logical)}` (15 characters)."""
    if len(logical) <= IFNAMSIZ:
        return logical
    trunk = logical.split(".", 1)[0]
    digest = hashlib.blake2s(logical.encode(), digest_size=5).hexdigest()
    return f"{trunk[:4]}.{digest}"


@dataclass(frozen=True, slots=True)
class Device:
    """One kernel VLAN device of a chain: `kernel_name` on top of `parent` with `tag`."""

    name: str
    kernel_name: str
    parent: str
    tag: VlanTag


def device_chain(trunk: str, tags: Sequence[VlanTag]) -> list[Device]:
    """The VLAN devices behind an access interface, outermost first (eth1.111, eth1.111.500, ...)."""
    out: list[Device] = []
    parent = trunk
    for depth in range(1, len(tags) + 1):
        name = logical_name(trunk, [t.vid for t in tags[:depth]])
        dev = Device(name, kernel_ifname(name), parent, VlanTag(tags[depth - 1].tpid, tags[depth - 1].vid))
        out.append(dev)
        parent = dev.kernel_name
    return out


@dataclass(frozen=True, slots=True)
class Profile:
    """One demux profile with every limit resolved."""

    name: str
    trunk: str
    outer_vlans: frozenset[int]
    stag_range: tuple[int, int]
    ctag_range: tuple[int, int] | None
    stag_tpid: int = TPID_8021AD
    services: tuple[str, ...] = DEFAULT_SERVICES
    idle_timeout: float = 3600.0
    max_interfaces: int = 50_000
    creation_rate_limit: float = 100.0
    require_packets: int = 2
    require_window: float = 5.0

    @property
    def depth(self) -> int:
        return (1 if self.outer_vlans else 0) + 1 + (1 if self.ctag_range else 0)

    def matches(self, vids: Sequence[int]) -> bool:
        if len(vids) != self.depth:
            return False
        i = 0
        if self.outer_vlans:
            if vids[0] not in self.outer_vlans:
                return False
            i = 1
        if not self.stag_range[0] <= vids[i] <= self.stag_range[1]:
            return False
        return self.ctag_range is None or self.ctag_range[0] <= vids[i + 1] <= self.ctag_range[1]

    @classmethod
    def from_config(cls, p: DemuxProfile) -> Profile:
        """From a profile already resolved against the top-level defaults (`Demux.resolved`)."""
        return cls(
            name=p.name,
            trunk=p.trunk_interface,
            outer_vlans=frozenset(p.outer_vlans),
            stag_range=p.stag_bounds,
            ctag_range=p.ctag_bounds,
            stag_tpid=_TPIDS[p.stag_protocol],
            services=tuple(p.services),
            idle_timeout=float(p.idle_timeout or 3600),
            max_interfaces=p.max_interfaces or 50_000,
            creation_rate_limit=float(p.creation_rate_limit or 100),
            require_packets=p.require_packets or 2,
            require_window=float(p.require_window or 5),
        )


@dataclass(frozen=True, slots=True)
class AccessInterface:
    """An access interface: logical name (API, NAS-Port-Id, Circuit-ID) and kernel name."""

    name: str
    kernel_name: str
    trunk: str
    tags: tuple[VlanTag, ...]
    services: tuple[str, ...]
    profile: str | None
    created: float = 0.0

    @property
    def vids(self) -> tuple[int, ...]:
        return tuple([t.vid for t in self.tags])


@dataclass(frozen=True, slots=True)
class Drop:
    reason: str


class InterfaceBackend(Protocol):
    """What creates/removes the kernel side of access interfaces (abng/dataplane/vlan_devices.py
    for kernels with 802.1Q; `NoDevices` for the userspace data path, which needs none)."""

    def ensure(self, iface: AccessInterface) -> None: ...

    def remove(self, iface: AccessInterface) -> None: ...


class NoDevices:
    """Userspace data path: access interfaces live only in abngd's tables."""

    def ensure(self, iface: AccessInterface) -> None:
        return None

    def remove(self, iface: AccessInterface) -> None:
        return None


@dataclass(slots=True)
class _Bucket:
    rate: float
    tokens: float
    stamp: float

    def take(self, now: float) -> bool:
        self.tokens = min(self.rate, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass(slots=True)
class _Entry:
    iface: AccessInterface
    last_seen: float
    frames: int = 0


@dataclass(slots=True)
class Demux:
    """See the module docstring. `trunk` is the subscriber trunk (interfaces.subscriber_trunk)."""

    trunk: str
    profiles: Sequence[Profile] = ()
    enabled: bool = True
    untagged: bool = False
    services_when_disabled: tuple[str, ...] = DEFAULT_SERVICES
    counters: Counter[str] = field(default_factory=Counter)
    _ifaces: dict[tuple[int, ...], _Entry] = field(default_factory=dict)
    _by_name: dict[str, tuple[int, ...]] = field(default_factory=dict)
    _candidates: OrderedDict[tuple[int, ...], list[float]] = field(default_factory=OrderedDict)
    _buckets: dict[str, _Bucket] = field(default_factory=dict)
    _per_profile: Counter[str] = field(default_factory=Counter)
    _created: list[AccessInterface] = field(default_factory=list)
    _next_cleanup: float | None = None
    _trunk_iface: AccessInterface | None = None

    @classmethod
    def from_config(cls, trunk: str, cfg: DemuxConfig) -> Demux:
        profiles = [Profile.from_config(cfg.resolved(p)) for p in cfg.profiles]
        return cls(trunk=trunk, profiles=profiles, enabled=cfg.enabled, untagged=cfg.untagged)

    @property
    def trunk_interface(self) -> AccessInterface:
        iface = self._trunk_iface  # immutable: one object while trunk and services stay the same
        if iface is None or iface.name != self.trunk or iface.services != self.services_when_disabled:
            iface = AccessInterface(self.trunk, self.trunk, self.trunk, (), self.services_when_disabled, None)
            self._trunk_iface = iface
        return iface

    # -- receive path ------------------------------------------------------------------------
    def classify(
        self, tags: Sequence[VlanTag], now: float, vids: tuple[int, ...] | None = None
    ) -> AccessInterface | Drop:
        """The access interface of a frame with tag stack ``tags`` (``vids``: their VLAN ids,
        when the caller already has them)."""
        if not self.enabled:
            return self.trunk_interface if not tags else self._drop("tagged_demux_disabled")
        if not tags:
            return self.trunk_interface if self.untagged else self._drop("untagged")
        if vids is None:
            vids = tuple([t.vid for t in tags])
        entry = self._ifaces.get(vids)
        if entry is not None:
            entry.last_seen = now
            entry.frames += 1
            return entry.iface
        profile = next((p for p in self.profiles if p.matches(vids)), None)
        if profile is None:
            return self._drop("unknown_vlan")
        if tags[0].tpid != profile.stag_tpid:
            return self._drop("tpid_mismatch")
        if not self._confirmed(vids, profile, now):
            return self._drop("pending")
        if self._per_profile[profile.name] >= profile.max_interfaces:
            return self._drop("max_interfaces")
        bucket = self._buckets.setdefault(
            profile.name, _Bucket(profile.creation_rate_limit, profile.creation_rate_limit, now)
        )
        if not bucket.take(now):
            return self._drop("rate_limited")
        del self._candidates[vids]
        return self._create(profile, tuple(tags), now, vids)

    def seen(self, vids: tuple[int, ...], now: float) -> AccessInterface | None:
        """What ``classify`` returns for a frame with VLAN ids ``vids`` when that is an existing
        access interface (its frame count and last-seen time move on as there); None, with
        nothing done, when ``classify`` would create, drop or need the tags themselves."""
        if not vids:
            return self.trunk_interface if not self.enabled or self.untagged else None
        if not self.enabled:
            return None
        entry = self._ifaces.get(vids)
        if entry is None:
            return None
        entry.last_seen = now
        entry.frames += 1
        return entry.iface

    def _confirmed(self, vids: tuple[int, ...], profile: Profile, now: float) -> bool:
        seen = self._candidates.pop(vids, [])
        seen = [t for t in seen if now - t < profile.require_window]
        seen.append(now)
        self._candidates[vids] = seen  # most recent last
        while len(self._candidates) > MAX_CANDIDATES:
            self._candidates.popitem(last=False)
            self.counters["candidates_evicted"] += 1
        return len(seen) >= profile.require_packets

    def _create(
        self, profile: Profile, tags: tuple[VlanTag, ...], now: float, vids: tuple[int, ...]
    ) -> AccessInterface:
        # PCP/DEI are per frame, not identity; the tags and the tuples are shared objects (the
        # frame's own stack when its PCP/DEI are 0, as they mostly are)
        clean = tuple([intern_tag(t.tpid, t.vid) for t in tags])
        if clean == tags:
            clean = tags
        name = logical_name(self.trunk, vids)
        iface = AccessInterface(
            name, kernel_ifname(name), self.trunk, clean, profile.services, profile.name, now
        )
        self._ifaces[vids] = _Entry(iface, now, 1)
        self._by_name[name] = vids
        self._per_profile[profile.name] += 1
        self._created.append(iface)
        self.counters["created"] += 1
        return iface

    def _drop(self, reason: str) -> Drop:
        self.counters[f"drop_{reason}"] += 1
        return Drop(reason)

    # -- queries and updates ----------------------------------------------------------------
    def has_created(self) -> bool:
        return bool(self._created)

    def take_created(self) -> list[AccessInterface]:
        """Interfaces created since the last call (to create devices, bind services, notify)."""
        out, self._created = self._created, []
        return out

    def lookup(self, name: str) -> AccessInterface | None:
        if not self.enabled or (self.untagged and name == self.trunk):
            return self.trunk_interface if name == self.trunk else None
        vids = self._by_name.get(name)
        return self._ifaces[vids].iface if vids is not None else None

    def touch(self, name: str, now: float) -> None:
        """Traffic seen for `name` elsewhere (e.g. the userspace data path's transmit side)."""
        vids = self._by_name.get(name)
        if vids is not None:
            self._ifaces[vids].last_seen = now

    def interfaces(self) -> list[AccessInterface]:
        return [e.iface for e in self._ifaces.values()]

    def remove(self, name: str) -> AccessInterface | None:
        vids = self._by_name.pop(name, None)
        if vids is None:
            return None
        entry = self._ifaces.pop(vids)
        if entry.iface.profile is not None:
            self._per_profile[entry.iface.profile] -= 1
        self.counters["removed"] += 1
        return entry.iface

    # -- cleanup ----------------------------------------------------------------------------
    def next_cleanup(self, now: float) -> float:
        if self._next_cleanup is None:
            self._next_cleanup = now + CLEANUP_INTERVAL
        return self._next_cleanup

    def expire(self, now: float, has_sessions: Callable[[AccessInterface], bool]) -> list[AccessInterface]:
        """The cleanup pass: remove interfaces idle (no sessions, no frames) for `idle_timeout`.
        Returns them deepest first; the backend tears each chain down C-tag, S-tag, outer."""
        self._next_cleanup = now + CLEANUP_INTERVAL
        timeouts = {p.name: p.idle_timeout for p in self.profiles}
        removed: list[AccessInterface] = []
        for entry in list(self._ifaces.values()):
            iface = entry.iface
            if has_sessions(iface):
                entry.last_seen = now
                continue
            if now - entry.last_seen >= timeouts.get(iface.profile or "", 3600.0):
                self.remove(iface.name)
                removed.append(iface)
        for vids, seen in list(self._candidates.items()):
            if not seen or now - seen[-1] >= max((p.require_window for p in self.profiles), default=5.0):
                del self._candidates[vids]
        removed.sort(key=lambda i: (-len(i.tags), i.vids))
        return removed

    def snapshot(self) -> list[dict[str, object]]:
        """Rows for `show.vlans` / GET /api/v1/interfaces/vlans."""
        rows: list[dict[str, object]] = []
        for entry in sorted(self._ifaces.values(), key=lambda e: e.iface.vids):
            i = entry.iface
            rows.append(
                {
                    "name": i.name,
                    "kernel_name": i.kernel_name,
                    "trunk": i.trunk,
                    "vlans": list(i.vids),
                    "tpids": [f"0x{t.tpid:04x}" for t in i.tags],
                    "profile": i.profile,
                    "services": list(i.services),
                    "created": i.created,
                    "last_seen": entry.last_seen,
                    "frames": entry.frames,
                }
            )
        return rows

    def reconfigure(
        self, profiles: Iterable[Profile], enabled: bool, untagged: bool = False
    ) -> list[AccessInterface]:
        """New profiles: interfaces no profile matches any more are removed and returned."""
        self.profiles = list(profiles)
        self.enabled = enabled
        self.untagged = untagged
        self._buckets.clear()
        self._candidates.clear()
        gone = [
            e.iface
            for e in list(self._ifaces.values())
            if not enabled or not any(p.matches(e.iface.vids) for p in self.profiles)
        ]
        for iface in gone:
            self.remove(iface.name)
        # profile names may have changed: recount
        self._per_profile = Counter(e.iface.profile for e in self._ifaces.values() if e.iface.profile)
        return gone

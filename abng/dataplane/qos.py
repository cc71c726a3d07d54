"""Per-subscriber shaping as intents (STYLE.md §7, reference §6.5, DECISIONS.md D4).

``QosManager`` is what the session layer calls::

    qos = QosManager("htb")                 # or "cake" on kernels with sch_cake
    qos.apply_subscriber(7, "abng-tun", "100.64.0.7", "100mbit", "40mbit", overhead=34, mpu=64)
    qos.change_rate(7, "50mbit", "20mbit")  # in place: change-class / qdisc change
    qos.remove_subscriber(7)                # every class, filter (and CAKE IFB) it created
    qos.installed()                         # read back from the kernel

Every call is idempotent and synchronous (netlink): the daemon runs the manager in its one
dataplane worker thread (``asyncio.to_thread`` / a single-thread executor), since pyroute2 sockets
are not thread-safe.  Kernel errors come back as :class:`QosResult` values (``errno`` 0 is
success); only our own misuse (an unknown backend, a bad rate string) raises.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from abng.config.rates import parse_rate
from abng.core import ipv4

Direction = Literal["down", "up"]
BackendName = Literal["htb", "cake"]

IFNAMSIZ = 15


@dataclass(frozen=True, slots=True)
class ShapeSpec:
    """What one subscriber should get: rates in bps, link-layer overhead and MPU in bytes."""

    key: int | str
    iface: str
    ip: ipaddress.IPv4Address
    rate_down: int
    rate_up: int
    overhead: int = 0
    mpu: int = 0

    @classmethod
    def build(
        cls,
        key: int | str,
        iface: str,
        ip: str | ipaddress.IPv4Address,
        rate_down: int | str,
        rate_up: int | str,
        overhead: int = 0,
        mpu: int = 0,
    ) -> ShapeSpec:
        if not 0 <= overhead <= 256 or not 0 <= mpu <= 256:
            raise ValueError("overhead and mpu must be within 0..256 bytes")
        return cls(key, iface, _v4(ip), parse_rate(rate_down), parse_rate(rate_up), overhead, mpu)


def _v4(ip: str | ipaddress.IPv4Address) -> ipaddress.IPv4Address:
    """``IPv4Address(ip)`` without ``ipaddress``'s per-octet string parsing (abng.core.ipv4)."""
    return ipaddress.IPv4Address(ipv4.to_int(ip)) if isinstance(ip, str) else ipaddress.IPv4Address(ip)


@dataclass(frozen=True, slots=True)
class QosResult:
    """Outcome of one intent: ``errno`` 0 means the kernel now holds what was asked."""

    key: int | str
    errno: int = 0
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.errno == 0


@dataclass(frozen=True, slots=True)
class InstalledShape:
    """One shaping object as read back from the kernel (``show`` commands, tests)."""

    device: str
    direction: Direction
    handle: str  # "1a0:2f" for an HTB class, "root" for a CAKE qdisc
    rate_bps: int
    ip: str | None = None
    overhead: int = 0
    mpu: int = 0


class QosBackend(Protocol):
    def apply_many(self, specs: Sequence[ShapeSpec]) -> list[QosResult]: ...
    def change_many(self, changes: Sequence[tuple[int | str, int, int]]) -> list[QosResult]: ...
    def remove_many(self, keys: Sequence[int | str]) -> list[QosResult]: ...
    def installed(self) -> list[InstalledShape]: ...
    def spec(self, key: int | str) -> ShapeSpec | None: ...
    def ifname(self, ifindex: int) -> str | None: ...
    def release_device(self, name: str) -> int: ...
    def teardown(self) -> None: ...
    def close(self) -> None: ...


def link_name(ipr: Any, ifindex: int) -> str | None:
    """The name of device ``ifindex`` through a pyroute2 ``IPRoute`` (None if there is none):
    the ``ifname`` of both backends."""
    from pyroute2.netlink.exceptions import NetlinkError

    try:
        links = ipr.get_links(ifindex) if ifindex > 0 else []
    except NetlinkError:
        return None
    return str(links[0].get_attr("IFLA_IFNAME")) if links else None


def ifb_name(iface: str) -> str:
    """``ifb-<iface>`` (reference §6.5), shortened deterministically past IFNAMSIZ (D5)."""
    name = f"ifb-{iface}"
    if len(name) <= IFNAMSIZ:
        return name
    digest = hashlib.blake2s(iface.encode()).hexdigest()[:6]
    return f"ifb-{iface[: IFNAMSIZ - 4 - 7]}~{digest}"


class QosManager:
    """Intent API over one backend; see the module docstring."""

    def __init__(
        self, backend: BackendName | QosBackend, *, netns: str | None = None, rtt: str = "20ms"
    ) -> None:
        if backend == "htb":
            from abng.dataplane.qos_htb import HtbBackend

            self._backend: QosBackend = HtbBackend(netns=netns)
        elif backend == "cake":
            from abng.dataplane.qos_cake import CakeBackend

            self._backend = CakeBackend(netns=netns, rtt=rtt)
        elif isinstance(backend, str):
            raise ValueError(f"unknown QoS backend {backend!r}")
        else:
            self._backend = backend

    @property
    def backend(self) -> QosBackend:
        return self._backend

    def apply_subscriber(
        self,
        key: int | str,
        iface: str | int,
        ip: str | ipaddress.IPv4Address,
        rate_down: int | str,
        rate_up: int | str,
        overhead: int = 0,
        mpu: int = 0,
    ) -> QosResult:
        if isinstance(iface, int):
            name = self._backend.ifname(iface)
            if name is None:
                return QosResult(key, 19, f"no device with ifindex {iface}")  # ENODEV
            iface = name
        spec = ShapeSpec.build(key, iface, ip, rate_down, rate_up, overhead, mpu)
        return self._backend.apply_many([spec])[0]

    def apply_many(self, specs: Sequence[ShapeSpec]) -> list[QosResult]:
        return self._backend.apply_many(specs)

    def change_rate(self, key: int | str, rate_down: int | str, rate_up: int | str) -> QosResult:
        return self._backend.change_many([(key, parse_rate(rate_down), parse_rate(rate_up))])[0]

    def change_many(self, changes: Sequence[tuple[int | str, int, int]]) -> list[QosResult]:
        return self._backend.change_many(changes)

    def remove_subscriber(self, key: int | str) -> QosResult:
        return self._backend.remove_many([key])[0]

    def remove_many(self, keys: Sequence[int | str]) -> list[QosResult]:
        return self._backend.remove_many(keys)

    def installed(self) -> list[InstalledShape]:
        return self._backend.installed()

    def spec(self, key: int | str) -> ShapeSpec | None:
        return self._backend.spec(key)

    def release_device(self, iface: str) -> int:
        """Remove everything set up on ``iface`` (HTB: its tree and IFB; CAKE: its subscribers)
        and forget it; also how to recover after the device was re-created.  Returns an errno."""
        return self._backend.release_device(iface)

    def teardown(self) -> None:
        """Remove every shaping object this manager created (shutdown)."""
        self._backend.teardown()

    def close(self) -> None:
        self._backend.close()

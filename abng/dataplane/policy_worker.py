"""The kernel side of the policy service: one object, owned by the dataplane worker process.

:class:`PolicyWorker` turns batches of per-session intents (:class:`Up`, :class:`Change`,
:class:`Down`) into the dataplane managers' batch calls (``QosManager.apply_many`` /
``change_many`` / ``remove_many``, one netlink batch of /32 routes, one nft transaction for the
CGNAT bypass set) and reads the kernel back for ``show.qos`` / ``show.routes``.  Everything here
is synchronous netlink; pyroute2 sockets are not thread-safe and refuse to run inside a running
asyncio loop.  abngd runs it in a child process (:mod:`abng.dataplane.worker_process`, called
from :mod:`abng.dataplane.service`'s one-thread executor); tests and benchmarks may use it directly
from one thread.

Errors are data: each intent gets an :class:`Outcome` (``errno`` 0 = done).  A missing shaping
device (ENODEV) is reported as ``pending``: the service re-applies once the device appears.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from pyroute2 import IPRoute

from abng.core import ipv4
from abng.dataplane import qos_wire as w
from abng.dataplane.cgnat import CgnatConfig, CgnatManager
from abng.dataplane.qos import BackendName, InstalledShape, QosManager, ShapeSpec
from abng.dataplane.routes import MAIN_TABLE, RTPROT_ABNG, RouteManager

log = logging.getLogger(__name__)

ENODEV = 19
RTM_NEWROUTE, RTM_GETROUTE = 24, 26
NLM_F_REPLACE = 0x100
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_METRICS, RTA_TABLE = 1, 4, 5, 8, 15
RTAX_MTU = 2
SCOPE_LINK, RTN_UNICAST = 253, 1
_RTMSG = struct.Struct("=BBBBBBBBI")
PROTOCOLS = {2: "kernel", 3: "boot", 4: "static", RTPROT_ABNG: "abng"}


# Shape, Want and Outcome are NamedTuples (immutable, compared by value, as the frozen
# dataclasses they replace): one Want is built per session on abngd's loop and again in the
# worker process, and one Outcome per intent; a tuple is built in one call, without one
# object.__setattr__ per field.


class Shape(NamedTuple):
    """Rates in bps, overhead and MPU in bytes."""

    down: int
    up: int
    overhead: int = 0
    mpu: int = 0


class Want(NamedTuple):
    """What one session should have in the kernel."""

    key: int
    ip: str
    device: str
    shape: Shape | None = None  # None: not shaped (QoS off, or no rate anywhere)
    bypass: bool = False  # Athena-CGNAT-Bypass
    mtu: int | None = None  # route MTU (PPPoE)


@dataclass(frozen=True, slots=True)
class Up:
    want: Want


@dataclass(frozen=True, slots=True)
class Change:
    want: Want  # the full intent: a rate change in place, or a first shaping / new overhead


@dataclass(frozen=True, slots=True)
class Down:
    want: Want


Op = Up | Change | Down


class Outcome(NamedTuple):
    errno: int = 0
    detail: str = ""
    steered: bool = False
    pending: bool = False  # the device is not there yet: applied later

    @property
    def ok(self) -> bool:
        return self.errno == 0


#: the outcomes of intents done, by (steered, pending): shared, not one per intent
_DONE = {(s, p): Outcome(0, "", s, p) for s in (False, True) for p in (False, True)}


@dataclass(slots=True)
class _Batch:
    results: list[Outcome]
    errors: dict[int, tuple[int, str]] = field(default_factory=dict)
    pending: set[int] = field(default_factory=set)

    def fail(self, n: int, errno: int, detail: str) -> None:
        self.errors.setdefault(n, (errno, detail))


class PolicyWorker:
    """Owns the QoS, route and CGNAT managers; see the module docstring."""

    def __init__(self, backend: BackendName, *, has_vrf: bool, netns: str | None = None) -> None:
        self.netns = netns
        self.qos = QosManager(backend, netns=netns)
        self.routes = RouteManager(netns=netns)
        self.cgnat = CgnatManager(has_vrf=has_vrf, netns=netns)
        self._ipr = IPRoute(netns=netns) if netns else IPRoute()
        self._nl = w.NetlinkBatch(netns)
        self._devices: dict[str, int | None] = {}

    def close(self) -> None:
        for closer in (self.qos.close, self.routes.close, self.cgnat.close, self._nl.close, self._ipr.close):
            try:
                closer()
            except Exception:  # closing sockets at shutdown: nothing left to do about it
                log.debug("close failed", exc_info=True)

    # ---- devices --------------------------------------------------------------------------
    def ifindex(self, name: str) -> int | None:
        if self.netns is None:  # our own namespace: one ioctl (pyroute2's lookup dumps every link)
            try:
                return socket.if_nametoindex(name)
            except (OSError, ValueError):  # no such device; a name the kernel cannot hold
                return None
        found = self._ipr.link_lookup(ifname=name)
        return int(found[0]) if found else None

    def devices_changed(self, names: Iterable[str]) -> list[str]:
        """Devices that appeared, vanished or were re-created since the last look."""
        changed = []
        for name in names:
            now = self.ifindex(name)
            if name in self._devices and self._devices[name] != now:
                changed.append(name)
            self._devices[name] = now
        return changed

    def reapply(self, device: str, wants: Sequence[Want]) -> list[Outcome]:
        """The device was re-created (or appeared): forget its tree, apply everything again."""
        self.qos.release_device(device)
        return self.run([Up(want) for want in wants])

    # ---- intents --------------------------------------------------------------------------
    def run(self, ops: Sequence[Op]) -> list[Outcome]:
        """Apply a batch: removals first (an address may move to a new session), then
        applications, then in-place changes.  One outcome per op, in order."""
        b = _Batch([])
        downs = [(n, op.want) for n, op in enumerate(ops) if isinstance(op, Down)]
        ups = [(n, op.want) for n, op in enumerate(ops) if isinstance(op, Up)]
        changes = [(n, op.want) for n, op in enumerate(ops) if isinstance(op, Change)]
        if downs:
            self._remove(b, downs)
        if ups:
            self._apply(b, ups, routes=True)
        if changes:
            self._change(b, changes)
        out = []
        for n, op in enumerate(ops):
            if n in b.errors:
                errno, detail = b.errors[n]
                out.append(Outcome(errno, detail))
                continue
            steered = False if isinstance(op, Down) else self.cgnat.is_steered(op.want.ip, op.want.bypass)
            out.append(_DONE[steered, n in b.pending])
        return out

    def _remove(self, b: _Batch, items: list[tuple[int, Want]]) -> None:
        numbers = [n for n, _ in items]
        for n, r in zip(numbers, self.qos.remove_many([want.key for _, want in items]), strict=True):
            if not r.ok:
                b.fail(n, r.errno, f"shaping removal: {r.detail}")
        for n, err in zip(numbers, self.routes.remove_many([want.ip for _, want in items]), strict=True):
            if err:
                b.fail(n, err, "route removal refused")
        self._bypass(b, items, remove=True)

    def _apply(self, b: _Batch, items: list[tuple[int, Want]], *, routes: bool) -> None:
        present = {d for d in {want.device for _, want in items} if self.ifindex(d) is not None}
        shaped = []
        for n, want in items:
            if want.device not in present:
                b.pending.add(n)
            elif want.shape is not None:
                shaped.append((n, want))
        specs = [_spec(want) for _, want in shaped]
        for (n, _), r in zip(shaped, self.qos.apply_many(specs) if specs else [], strict=True):
            if r.errno == ENODEV:
                b.pending.add(n)
            elif not r.ok:
                b.fail(n, r.errno, f"shaping refused: {r.detail}")
        unshaped = [want.key for _, want in items if want.shape is None and self.qos.spec(want.key)]
        if unshaped:
            self.qos.remove_many(unshaped)
        if routes:
            self._add_routes(b, items)
            self._bypass(b, items, remove=False)

    def _change(self, b: _Batch, items: list[tuple[int, Want]]) -> None:
        inplace: list[tuple[int, Want]] = []
        other: list[tuple[int, Want]] = []
        for n, want in items:
            old = self.qos.spec(want.key)
            s = want.shape
            same = old is not None and s is not None and (old.overhead, old.mpu) == (s.overhead, s.mpu)
            if same and old is not None and s is not None and (old.rate_down, old.rate_up) == (s.down, s.up):
                continue  # already so in the kernel
            (inplace if same else other).append((n, want))
        changes = [(want.key, want.shape.down, want.shape.up) for _, want in inplace if want.shape]
        for (n, _), r in zip(inplace, self.qos.change_many(changes) if changes else [], strict=True):
            if not r.ok:
                b.fail(n, r.errno, f"rate change refused: {r.detail}")
        if other:
            self._apply(b, other, routes=False)

    def _add_routes(self, b: _Batch, items: list[tuple[int, Want]]) -> None:
        reqs: list[w.RawRequest] = []
        sent: list[int] = []
        indexes = {d: self.ifindex(d) for d in {want.device for _, want in items}}
        for n, want in items:
            index = indexes[want.device]
            if index is None:
                b.pending.add(n)
                continue
            reqs.append(route_request(want.ip, index, want.mtu))
            sent.append(n)
        for n, err in zip(sent, self._nl.run(reqs), strict=True):
            if err:
                b.fail(n, err, "route refused")

    def _bypass(self, b: _Batch, items: list[tuple[int, Want]], *, remove: bool) -> None:
        ips = [want.ip for _, want in items if remove or want.bypass]
        if not ips:
            return
        try:
            if remove:
                self.cgnat.update_bypass(remove=ips)
            else:
                self.cgnat.update_bypass(add=ips)
        except Exception as exc:  # nft refused the batch: every session of it failed
            for n, _ in items:
                b.fail(n, 5, f"CGNAT bypass set: {exc}")  # EIO

    # ---- configuration --------------------------------------------------------------------
    def cgnat_apply(self, old: CgnatConfig | None, new: CgnatConfig, bypass: Sequence[str]) -> None:
        """Converge CGNAT to ``new`` (``old`` None: start-up) with the sessions' bypass set."""
        if new.enabled:
            if old is None or self.cgnat.config is None:
                self.cgnat.ensure(new)
            else:
                self.cgnat.apply_change(old, new)
            self.cgnat.update_bypass(add=bypass)
        else:
            self.cgnat.disable()

    def steered(self, wants: Sequence[Want]) -> list[bool]:
        return [self.cgnat.is_steered(want.ip, want.bypass) for want in wants]

    def flush_stale_routes(self, keep: Iterable[str]) -> int:
        return self.routes.flush_stale(keep)

    def shutdown(self) -> None:
        """Remove shaping trees and IFBs (the TUN device goes with its owner)."""
        self.qos.teardown()

    # ---- read back ------------------------------------------------------------------------
    def installed(self) -> list[InstalledShape]:
        return self.qos.installed()

    def host_routes(self, tables: Iterable[int] = (MAIN_TABLE,)) -> list[dict[str, Any]]:
        """Every /32 IPv4 route in ``tables`` as the kernel holds it."""
        wanted = set(tables)
        names = {int(link["index"]): link.get_attr("IFLA_IFNAME") for link in self._ipr.get_links()}
        out = []
        head = _RTMSG.pack(socket.AF_INET, 0, 0, 0, 0, 0, 0, 0, 0)
        for kind, body in self._nl.dump(RTM_GETROUTE, head):
            if kind != RTM_NEWROUTE or len(body) < _RTMSG.size:
                continue
            _f, dst_len, _s, _t, table, proto, _sc, rtype, _fl = _RTMSG.unpack_from(body)
            attrs = w.attrs_dict(body, _RTMSG.size)
            if RTA_TABLE in attrs:
                (table,) = struct.unpack_from("=I", attrs[RTA_TABLE])
            if dst_len != 32 or table not in wanted or rtype != RTN_UNICAST or RTA_DST not in attrs:
                continue
            oif = struct.unpack_from("=I", attrs[RTA_OIF])[0] if RTA_OIF in attrs else 0
            gw = str(ipaddress.IPv4Address(bytes(attrs[RTA_GATEWAY]))) if RTA_GATEWAY in attrs else None
            out.append(
                {
                    "destination": f"{ipaddress.IPv4Address(bytes(attrs[RTA_DST]))}/32",
                    "gateway": gw,
                    "interface": names.get(oif),
                    "protocol": PROTOCOLS.get(proto, str(proto)),
                    "table": table,
                }
            )
        return out


#: rtmsg + RTA_DST + RTA_TABLE + RTA_OIF of :func:`route_request` in one pack
_ROUTE = struct.Struct("=BBBBBBBBI HH4s HHI HHI")
_ROUTE_MTU = struct.Struct("=HH HHI")  # RTA_METRICS { RTAX_MTU }
_ROUTE_FLAGS = w.NLM_F_REQUEST | w.NLM_F_ACK | w.NLM_F_CREATE | NLM_F_REPLACE


def route_request(ip: str, ifindex: int, mtu: int | None) -> w.RawRequest:
    """``ip/32 dev <ifindex> proto 188 scope link [mtu M]`` as a replace (idempotent)."""
    body = _ROUTE.pack(
        socket.AF_INET, 32, 0, 0, MAIN_TABLE, RTPROT_ABNG, SCOPE_LINK, RTN_UNICAST, 0,
        8, RTA_DST, ipv4.packed(ip), 8, RTA_TABLE, MAIN_TABLE, 8, RTA_OIF, ifindex,
    )  # fmt: skip
    if mtu is not None:
        body += _ROUTE_MTU.pack(12, RTA_METRICS, 8, RTAX_MTU, mtu)
    return (RTM_NEWROUTE, _ROUTE_FLAGS, body)


def _spec(want: Want) -> ShapeSpec:
    assert want.shape is not None
    s = want.shape
    return ShapeSpec.build(want.key, want.device, want.ip, s.down, s.up, s.overhead, s.mpu)

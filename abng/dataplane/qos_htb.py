"""HTB + IFB shaping backend (D4 userspace dataplane; every kernel has HTB, u32, IFB and mirred).

Per shaped device ``DEV`` (the TUN device of the userspace path, or any egress device toward
subscribers) and its one shared IFB ``ifb-DEV`` (upload; ingress qdisc on DEV, u32 match-all,
``mirred egress redirect``)::

    DEV / IFB   root htb 1: default 0              unclassified traffic is not shaped
                1:1 .. 1:100                       256 shard classes (no limit), leaf htb S:
                filters 1: prio 1: ht 2: divisor 256, 800:: hashkey = last IP octet b -> 2:b:
                           2:b:1 match-all -> 1:(b+1)
    shard S:    htb S: default 0                   (S = SHARD_MAJORS[last octet], 100: .. 210:)
                filter prio 10: ht 2: divisor 256, 800:: hashkey = third IP octet -> 2:
                S:<minor>   one class per subscriber, rate = ceil, leaf pfifo (kernel default)
                2:<3rd octet>:<node>  u32 match ip dst (DEV) / src (IFB) = subscriber -> S:<minor>

The address is matched at IP header offset 16 (destination) on DEV and 12 (source) on the IFB.
Sharding over 256 inner HTB qdiscs is there for speed: the kernel's cost of adding or deleting
a class grows with the number of classes on its qdisc (``tc_bind_tclass`` walks them), which
made 10,000 classes on one qdisc take 10 s.  Limits per device and direction: 65,534 classes
per shard (16.7 M), 4,095 u32 nodes per (shard, third octet) bucket, so 1,048,320 subscribers
per shard; a /10 pool spreads evenly.  Down and up classes of a session share one minor id.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from abng.dataplane import qos_wire as w
from abng.dataplane.qos import Direction, InstalledShape, QosResult, ShapeSpec, ifb_name, link_name

SHARDS = 256


def _qdisc_hash_bucket(handle: int) -> int:
    """The kernel's ``hash_32(handle, 4)``: the bucket of ``dev->qdisc_hash`` a qdisc lands in."""
    return ((handle * 0x61C88647) & 0xFFFFFFFF) >> 28


#: Shard qdisc majors: from 0x100 up, skipping those that hash into bucket 0 of the device's
#: qdisc table, where every class's invisible default pfifo (handle 0) lives; a lookup of a
#: shard qdisc there would walk all of them on each class or filter change.
SHARD_MAJORS: tuple[int, ...] = tuple(m for m in range(0x100, 0x400) if _qdisc_hash_bucket(m << 16) != 0)[
    :SHARDS
]
_MAJOR_SET = frozenset(SHARD_MAJORS)
ROOT = w.tc_handle(1, 0)
HT = 2
OFF_DST = 16
OFF_SRC = 12
MAX_MINOR = 0xFFFE
MAX_NODE = 0xFFF
UNLIMITED = w.HtbRate(400_000_000_000)
CREATE = w.create_flags()
CHANGE = w.change_flags()
NEWTCLASS, NEWTFILTER = w.RTM_NEWTCLASS, w.RTM_NEWTFILTER
DELTCLASS, DELTFILTER = w.RTM_DELTCLASS, w.RTM_DELTFILTER
INFO10 = w.filter_info(10)


class IdPool:
    """Integers ``lo..hi``: the lowest never-used one first, then released ones."""

    def __init__(self, lo: int, hi: int) -> None:
        self._next, self._hi = lo, hi
        self._free: list[int] = []

    def take(self) -> int | None:
        if self._free:
            return self._free.pop()
        if self._next > self._hi:
            return None
        self._next += 1
        return self._next - 1

    def give(self, value: int) -> None:
        self._free.append(value)


@dataclass(slots=True)
class _Device:
    name: str
    ifindex: int
    ifb: str
    ifb_index: int
    minors: list[IdPool] = field(default_factory=lambda: [IdPool(1, MAX_MINOR) for _ in range(SHARDS)])
    nodes: dict[tuple[int, int], IdPool] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Slot:
    """Where one subscriber's objects live."""

    spec: ShapeSpec
    dev: _Device
    shard: int
    minor: int
    node: int

    @property
    def bucket(self) -> int:
        return (int(self.spec.ip) >> 8) & 0xFF

    @property
    def parent(self) -> int:
        return w.tc_handle(SHARD_MAJORS[self.shard], 0)

    @property
    def classid(self) -> int:
        return w.tc_handle(SHARD_MAJORS[self.shard], self.minor)

    @property
    def fhandle(self) -> int:
        return w.u32_handle(HT, self.bucket, self.node)


def _first_error(errs: Sequence[int], ignore: tuple[int, ...] = ()) -> int:
    for e in errs:
        if e and e not in ignore:
            return e
    return 0


ENOENT = 2


class HtbBackend:
    """See the module docstring.  ``netns`` runs everything inside that namespace (tests)."""

    def __init__(self, netns: str | None = None, ifb_qlen: int = 1000) -> None:
        self._ipr = IPRoute(netns=netns) if netns else IPRoute()
        self._nl = w.NetlinkBatch(netns)
        self._ifb_qlen = ifb_qlen
        self._devices: dict[str, _Device] = {}
        self._slots: dict[int | str, _Slot] = {}

    def close(self) -> None:
        self._nl.close()
        self._ipr.close()

    # -- devices ---------------------------------------------------------------------------
    def _device(self, name: str) -> _Device:
        dev = self._devices.get(name)
        if dev is None:
            dev = self._setup_device(name)
            self._devices[name] = dev
        return dev

    def _lookup(self, name: str) -> int | None:
        found = self._ipr.link_lookup(ifname=name)
        return int(found[0]) if found else None

    def _setup_device(self, name: str) -> _Device:
        ifindex = self._lookup(name)
        if ifindex is None:
            raise LookupError(name)
        ifb = ifb_name(name)
        ifb_index = self._lookup(ifb)
        if ifb_index is None:
            self._ipr.link("add", ifname=ifb, kind="ifb", txqlen=self._ifb_qlen)
            ifb_index = self._lookup(ifb)
            assert ifb_index is not None
        self._ipr.link("set", index=ifb_index, state="up")
        for index in (ifindex, ifb_index):
            self._reset_root(index)
            self._build_tree(index, OFF_DST if index == ifindex else OFF_SRC)
        self._ipr.tc("add", "ingress", ifindex, 0xFFFF0000)
        action = {"kind": "mirred", "direction": "egress", "action": "redirect", "ifindex": ifb_index}
        self._ipr.tc(
            "add-filter", "u32", ifindex, parent=0xFFFF0000, prio=1, protocol=w.ETH_P_IP,
            target=0x1, keys=["0x0/0x0+0"], action=action,
        )  # fmt: skip
        return _Device(name, ifindex, ifb, ifb_index)

    def _reset_root(self, index: int) -> None:
        for kind, handle in (("htb", ROOT), ("ingress", 0xFFFF0000)):
            try:
                self._ipr.tc("del", kind, index, handle)
            except NetlinkError as exc:
                if exc.code not in (ENOENT, 22):  # nothing there, or the default qdisc
                    raise

    def _build_tree(self, index: int, offset: int) -> None:
        self._ipr.tc("add", "htb", index, ROOT, default=0)
        create = w.create_flags()
        reqs = [
            w.Request(w.RTM_NEWTFILTER, create, w.u32_hashtable_msg(index, ROOT, 1, HT, 256)),
            w.Request(w.RTM_NEWTFILTER, create, w.u32_hashlink_msg(index, ROOT, 1, HT, offset, 0xFF)),
        ]
        for k in range(SHARDS):
            shard = w.tc_handle(SHARD_MAJORS[k], 0)
            classid = w.tc_handle(1, k + 1)
            reqs.append(w.Request(w.RTM_NEWTCLASS, create, w.htb_class_msg(index, classid, ROOT, UNLIMITED)))
            reqs.append(w.Request(w.RTM_NEWQDISC, create, w.htb_qdisc_msg(index, shard, classid)))
            msg = w.u32_all_msg(index, ROOT, 1, w.u32_handle(HT, k, 1), classid)
            reqs.append(w.Request(w.RTM_NEWTFILTER, create, msg))
            reqs.append(w.Request(w.RTM_NEWTFILTER, create, w.u32_hashtable_msg(index, shard, 10, HT, 256)))
            msg = w.u32_hashlink_msg(index, shard, 10, HT, offset, 0xFF00)
            reqs.append(w.Request(w.RTM_NEWTFILTER, create, msg))
        err = _first_error(self._nl.run(reqs))
        if err:
            raise OSError(err, f"building the HTB tree on ifindex {index}")

    def release_device(self, name: str) -> int:
        """Forget ``name`` and remove what set-up created: root and ingress qdiscs (with every
        class and filter under them) and the IFB.  Its subscribers are dropped from the state.
        Also the way to recover after the device was deleted and re-created.  Returns an errno."""
        dev = self._devices.pop(name, None)
        if dev is None:
            return 0
        for key in [k for k, slot in self._slots.items() if slot.dev is dev]:
            del self._slots[key]
        try:
            if self._lookup(name) == dev.ifindex:
                self._reset_root(dev.ifindex)
            ifb = self._lookup(dev.ifb)
            if ifb is not None:
                self._ipr.link("del", index=ifb)
        except NetlinkError as exc:
            return int(exc.code)
        return 0

    def teardown(self) -> None:
        """:meth:`release_device` for every device (daemon shutdown)."""
        for name in list(self._devices):
            self.release_device(name)

    # -- intents ---------------------------------------------------------------------------
    def ifname(self, ifindex: int) -> str | None:
        """The name of device ``ifindex`` (``apply_subscriber`` accepts either)."""
        return link_name(self._ipr, ifindex)

    def spec(self, key: int | str) -> ShapeSpec | None:
        slot = self._slots.get(key)
        return slot.spec if slot else None

    def apply_many(self, specs: Sequence[ShapeSpec]) -> list[QosResult]:
        results: dict[int, QosResult] = {}
        todo: list[tuple[int, _Slot]] = []
        changes: list[tuple[int | str, int, int]] = []
        for i, spec in enumerate(specs):
            old = self._slots.get(spec.key)
            if old is not None:
                same_place = (old.spec.iface, old.spec.ip, old.spec.overhead, old.spec.mpu) == (
                    spec.iface, spec.ip, spec.overhead, spec.mpu,
                )  # fmt: skip
                if same_place:
                    changes.append((spec.key, spec.rate_down, spec.rate_up))
                    results[i] = QosResult(spec.key)
                    continue
                self.remove_many([spec.key])
            try:
                slot = self._allocate(spec)
            except LookupError:
                results[i] = QosResult(spec.key, 19, f"no such device {spec.iface}")  # ENODEV
                continue
            if slot is None:
                results[i] = QosResult(spec.key, 28, "no free class id or filter node")  # ENOSPC
                continue
            todo.append((i, slot))
        if changes:
            for r in self.change_many(changes):
                if not r.ok:
                    idx = next(i for i, s in enumerate(specs) if s.key == r.key)
                    results[idx] = r
        reqs: list[w.RawRequest] = []
        for _, slot in todo:
            reqs += self._add_requests(slot)
        errs = self._nl.run(reqs) if reqs else []
        for n, (i, slot) in enumerate(todo):
            err = errs[4 * n] or errs[4 * n + 1] or errs[4 * n + 2] or errs[4 * n + 3]
            if err:
                self._undo(slot)
                results[i] = QosResult(slot.spec.key, err, "kernel refused a class or filter")
            else:
                self._slots[slot.spec.key] = slot
                results[i] = QosResult(slot.spec.key)
        return [results[i] for i in range(len(specs))]

    def _allocate(self, spec: ShapeSpec) -> _Slot | None:
        dev = self._devices.get(spec.iface) or self._device(spec.iface)
        ip = int(spec.ip)
        shard = ip & 0xFF
        minor = dev.minors[shard].take()
        if minor is None:
            return None
        where = (shard, (ip >> 8) & 0xFF)
        pool = dev.nodes.get(where)
        if pool is None:
            pool = dev.nodes[where] = IdPool(1, MAX_NODE)
        node = pool.take()
        if node is None:
            dev.minors[shard].give(minor)
            return None
        return _Slot(spec, dev, shard, minor, node)

    def _release(self, slot: _Slot) -> None:
        slot.dev.minors[slot.shard].give(slot.minor)
        slot.dev.nodes[(slot.shard, slot.bucket)].give(slot.node)

    def _add_requests(self, slot: _Slot) -> list[w.RawRequest]:
        """Down class, down filter, up class, up filter (in this order: see ``apply_many``)."""
        s, dev = slot.spec, slot.dev
        ip = int(s.ip)
        major = SHARD_MAJORS[slot.shard] << 16
        classid = major | slot.minor
        fhandle = (HT << 20) | (((ip >> 8) & 0xFF) << 12) | slot.node
        cls, fil = w.htb_class_msg_raw, w.u32_ip_filter_msg_fast
        return [
            (NEWTCLASS, CREATE, cls(dev.ifindex, classid, major, s.rate_down, s.overhead, s.mpu)),
            (NEWTFILTER, CREATE, fil(dev.ifindex, major, INFO10, fhandle, ip, OFF_DST, classid)),
            (NEWTCLASS, CREATE, cls(dev.ifb_index, classid, major, s.rate_up, s.overhead, s.mpu)),
            (NEWTFILTER, CREATE, fil(dev.ifb_index, major, INFO10, fhandle, ip, OFF_SRC, classid)),
        ]

    def _del_requests(self, slot: _Slot) -> list[w.RawRequest]:
        """Down filter, down class, up filter, up class."""
        dev = slot.dev
        major = SHARD_MAJORS[slot.shard] << 16
        classid = major | slot.minor
        fhandle = (HT << 20) | (((int(slot.spec.ip) >> 8) & 0xFF) << 12) | slot.node
        fdel, cdel = w.u32_filter_del_msg_fast, w.htb_class_del_msg
        return [
            (DELTFILTER, CHANGE, fdel(dev.ifindex, major, INFO10, fhandle)),
            (DELTCLASS, CHANGE, cdel(dev.ifindex, classid, major)),
            (DELTFILTER, CHANGE, fdel(dev.ifb_index, major, INFO10, fhandle)),
            (DELTCLASS, CHANGE, cdel(dev.ifb_index, classid, major)),
        ]

    def _undo(self, slot: _Slot) -> None:
        self._nl.run(self._del_requests(slot))
        self._release(slot)

    def change_many(self, changes: Sequence[tuple[int | str, int, int]]) -> list[QosResult]:
        reqs: list[w.Request] = []
        known: list[tuple[int, _Slot, int, int]] = []
        results: dict[int, QosResult] = {}
        for i, (key, down, up) in enumerate(changes):
            slot = self._slots.get(key)
            if slot is None:
                results[i] = QosResult(key, ENOENT, "no such subscriber")
                continue
            s = slot.spec
            for index, rate in ((slot.dev.ifindex, down), (slot.dev.ifb_index, up)):
                msg = w.htb_class_msg(index, slot.classid, slot.parent, w.HtbRate(rate, s.overhead, s.mpu))
                reqs.append(w.Request(w.RTM_NEWTCLASS, w.change_flags(), msg))
            known.append((i, slot, down, up))
        errs = self._nl.run(reqs)
        for n, (i, slot, down, up) in enumerate(known):
            err = _first_error(errs[2 * n : 2 * n + 2])
            if not err:
                spec = slot.spec
                new = ShapeSpec(spec.key, spec.iface, spec.ip, down, up, spec.overhead, spec.mpu)
                self._slots[spec.key] = _Slot(new, slot.dev, slot.shard, slot.minor, slot.node)
            results[i] = QosResult(slot.spec.key, err)
        return [results[i] for i in range(len(changes))]

    def remove_many(self, keys: Sequence[int | str]) -> list[QosResult]:
        slots = [self._slots.pop(k, None) for k in keys]
        present = [s for s in slots if s is not None]
        reqs: list[w.RawRequest] = []
        for slot in present:
            reqs += self._del_requests(slot)
        errs = self._nl.run(reqs) if reqs else []
        by_key: dict[int | str, int] = {}
        for n, slot in enumerate(present):
            by_key[slot.spec.key] = _first_error(errs[4 * n : 4 * n + 4], ignore=(ENOENT,))
            self._release(slot)
        return [QosResult(k, by_key.get(k, 0)) for k in keys]

    # -- read back -------------------------------------------------------------------------
    def installed(self) -> list[InstalledShape]:
        """Every subscriber class on our devices, dumped from the kernel with its matched IP."""
        out: list[InstalledShape] = []
        for dev in self._devices.values():
            sides: tuple[tuple[int, str, Direction, int], ...] = (
                (dev.ifindex, dev.name, "down", OFF_DST),
                (dev.ifb_index, dev.ifb, "up", OFF_SRC),
            )
            for index, name, direction, offset in sides:
                ips = self._filter_ips(index, offset)
                for kind, body in self._nl.dump(w.RTM_GETTCLASS, w.tc_dump_msg(index)):
                    cls = w.parse_htb_class(body) if kind == w.RTM_NEWTCLASS else None
                    if cls is None or cls.handle >> 16 not in _MAJOR_SET:
                        continue  # the shard classes under 1:
                    handle = f"{cls.handle >> 16:x}:{cls.handle & 0xFFFF:x}"
                    ip = ips.get(cls.handle)
                    out.append(
                        InstalledShape(name, direction, handle, cls.rate_bps, ip, cls.overhead, cls.mpu)
                    )
        return out

    def _filter_ips(self, index: int, offset: int) -> dict[int, str]:
        found: dict[int, str] = {}
        for major in SHARD_MAJORS:
            for _kind, body in self._nl.dump(w.RTM_GETTFILTER, w.tc_dump_msg(index, w.tc_handle(major, 0))):
                parsed = w.parse_u32_filter(body)
                if parsed is None:
                    continue
                classid, keys = parsed
                for value, mask, off in keys:
                    if mask == 0xFFFFFFFF and off == offset:
                        found[classid] = str(ipaddress.IPv4Address(value))
        return found

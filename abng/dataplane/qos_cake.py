"""CAKE + IFB shaping backend (D4 kernel dataplane: one PPP or VLAN device per subscriber).

Per subscriber interface ``IF`` (reference §6.5)::

    IF          root cake bandwidth <down> overhead <o> mpu <m> rtt <rtt>
                     ack-filter split-gso diffserv4 nat nowash
    IF          ingress ffff: + u32 match-all, action mirred egress redirect dev ifb-IF
    ifb-IF      root cake bandwidth <up> (same options); the name is shortened past 15 characters

A rate change is ``tc qdisc change`` on both roots (never replace: it drops packets).  Removal
deletes the IFB (the kernel removes its qdisc) and both qdiscs of IF.

What the kernel is asked is built as data (:func:`apply_plan`, :func:`change_plan`,
:func:`remove_plan`), so that it can be checked on kernels without sch_cake; :class:`CakeBackend`
runs those plans through pyroute2.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from abng.dataplane.qos import Direction, InstalledShape, QosResult, ShapeSpec, ifb_name, link_name

INGRESS = 0xFFFF0000
ETH_P_ALL = 0x0003
ENOENT, ENODEV = 2, 19


@dataclass(frozen=True, slots=True)
class TcOp:
    """One pyroute2 call: ``ipr.link(command, ifname=..., **args)`` or ``ipr.tc(command, kind, IF, ...)``."""

    api: str  # "link" or "tc"
    command: str
    ifname: str
    kind: str = ""
    handle: int = 0
    args: tuple[tuple[str, Any], ...] = ()


def rtt_us(rtt: str) -> int:
    """``"20ms"`` / ``"500us"`` / ``"1s"`` -> microseconds (CAKE's unit)."""
    text = rtt.strip().lower()
    for unit, factor in (("ms", 1_000), ("us", 1), ("s", 1_000_000)):
        if text.endswith(unit):
            return int(float(text[: -len(unit)]) * factor)
    return int(text)


def cake_args(bps: int, overhead: int, mpu: int, rtt: str) -> tuple[tuple[str, Any], ...]:
    """``bandwidth B overhead O mpu M rtt R ack-filter split-gso diffserv4 nat nowash``."""
    return (
        ("bandwidth", bps),
        ("overhead", overhead),
        ("mpu", mpu),
        ("rtt", rtt_us(rtt)),
        ("ack_filter", True),
        ("split_gso", 1),
        ("diffserv_mode", "diffserv4"),
        ("nat", 1),
        ("wash", 0),
    )


def apply_plan(spec: ShapeSpec, rtt: str) -> list[TcOp]:
    ifb = ifb_name(spec.iface)
    redirect = {"kind": "mirred", "direction": "egress", "action": "redirect", "ifname": ifb}
    return [
        TcOp("link", "add", ifb, "ifb", args=(("txqlen", 1000),)),
        TcOp("link", "set", ifb, args=(("state", "up"),)),
        TcOp("tc", "add", spec.iface, "cake", 0, cake_args(spec.rate_down, spec.overhead, spec.mpu, rtt)),
        TcOp("tc", "add", spec.iface, "ingress", INGRESS),
        TcOp(
            "tc",
            "add-filter",
            spec.iface,
            "u32",
            0,
            (
                ("parent", INGRESS),
                ("prio", 1),
                ("protocol", ETH_P_ALL),
                ("target", 1),
                ("keys", ("0x0/0x0+0",)),
                ("action", redirect),
            ),
        ),
        TcOp("tc", "add", ifb, "cake", 0, cake_args(spec.rate_up, spec.overhead, spec.mpu, rtt)),
    ]


def change_plan(spec: ShapeSpec, rtt: str) -> list[TcOp]:
    return [
        TcOp("tc", "change", spec.iface, "cake", 0, cake_args(spec.rate_down, spec.overhead, spec.mpu, rtt)),
        TcOp(
            "tc",
            "change",
            ifb_name(spec.iface),
            "cake",
            0,
            cake_args(spec.rate_up, spec.overhead, spec.mpu, rtt),
        ),
    ]


def remove_plan(spec: ShapeSpec) -> list[TcOp]:
    return [
        TcOp("link", "del", ifb_name(spec.iface)),
        TcOp("tc", "del", spec.iface, "ingress", INGRESS),
        TcOp("tc", "del", spec.iface, "cake", 0),
    ]


class CakeBackend:
    """Runs the plans above (needs sch_cake and IFB: see :mod:`abng.dataplane.detect`)."""

    def __init__(self, netns: str | None = None, rtt: str = "20ms") -> None:
        self._ipr = IPRoute(netns=netns) if netns else IPRoute()
        self._rtt = rtt
        self._specs: dict[int | str, ShapeSpec] = {}

    def close(self) -> None:
        self._ipr.close()

    def ifname(self, ifindex: int) -> str | None:
        """The name of device ``ifindex`` (``apply_subscriber`` accepts either)."""
        return link_name(self._ipr, ifindex)

    def spec(self, key: int | str) -> ShapeSpec | None:
        return self._specs.get(key)

    def _run(self, ops: Sequence[TcOp], ignore: tuple[int, ...] = ()) -> int:
        for op in ops:
            try:
                args = dict(op.args)
                if op.api == "link":
                    if op.kind:
                        args["kind"] = op.kind
                    if op.command != "add":
                        found = self._ipr.link_lookup(ifname=op.ifname)
                        if not found:
                            raise NetlinkError(ENODEV)
                        args["index"] = found[0]
                    else:
                        args["ifname"] = op.ifname
                    self._ipr.link(op.command, **args)
                else:
                    found = self._ipr.link_lookup(ifname=op.ifname)
                    if not found:
                        raise NetlinkError(ENODEV)
                    if "action" in args and "ifname" in args["action"]:
                        action = dict(args["action"])
                        action["ifindex"] = self._ipr.link_lookup(ifname=action.pop("ifname"))[0]
                        args["action"] = action
                    if "keys" in args:
                        args["keys"] = list(args["keys"])
                    self._ipr.tc(op.command, op.kind, found[0], op.handle, **args)
            except NetlinkError as exc:
                if exc.code not in ignore:
                    return int(exc.code)
        return 0

    def release_device(self, name: str) -> int:
        """Remove the shaping of every subscriber on ``name`` (each has its own device)."""
        keys = [k for k, spec in self._specs.items() if spec.iface == name]
        return next((r.errno for r in self.remove_many(keys) if r.errno), 0)

    def teardown(self) -> None:
        self.remove_many(list(self._specs))

    def apply_many(self, specs: Sequence[ShapeSpec]) -> list[QosResult]:
        out = []
        for spec in specs:
            old = self._specs.get(spec.key)
            if old is not None and (old.iface, old.ip) == (spec.iface, spec.ip):
                err = self._run(change_plan(spec, self._rtt))
            else:
                if old is not None:
                    self._run(remove_plan(old), ignore=(ENOENT, ENODEV, 22))
                err = self._run(apply_plan(spec, self._rtt))
                if err:
                    self._run(remove_plan(spec), ignore=(ENOENT, ENODEV, 22))
            if not err:
                self._specs[spec.key] = spec
            out.append(QosResult(spec.key, err))
        return out

    def change_many(self, changes: Sequence[tuple[int | str, int, int]]) -> list[QosResult]:
        out = []
        for key, down, up in changes:
            old = self._specs.get(key)
            if old is None:
                out.append(QosResult(key, ENOENT, "no such subscriber"))
                continue
            new = ShapeSpec(key, old.iface, old.ip, down, up, old.overhead, old.mpu)
            err = self._run(change_plan(new, self._rtt))
            if not err:
                self._specs[key] = new
            out.append(QosResult(key, err))
        return out

    def remove_many(self, keys: Sequence[int | str]) -> list[QosResult]:
        out = []
        for key in keys:
            old = self._specs.pop(key, None)
            err = self._run(remove_plan(old), ignore=(ENOENT, ENODEV, 22)) if old else 0
            out.append(QosResult(key, err))
        return out

    def installed(self) -> list[InstalledShape]:
        out = []
        for spec in self._specs.values():
            sides: tuple[tuple[str, Direction], ...] = ((spec.iface, "down"), (ifb_name(spec.iface), "up"))
            for name, direction in sides:
                found = self._ipr.link_lookup(ifname=name)
                if not found:
                    continue
                for msg in self._ipr.get_qdiscs(found[0]):
                    if msg.get_attr("TCA_KIND") != "cake":
                        continue
                    opts = msg.get_attr("TCA_OPTIONS")
                    rate = (opts.get_attr("TCA_CAKE_BASE_RATE64") or 0) * 8 if opts else 0
                    out.append(
                        InstalledShape(name, direction, "root", rate, str(spec.ip), spec.overhead, spec.mpu)
                    )
        return out

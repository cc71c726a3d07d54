"""CGNAT steering (reference §6.6, configuration §4.9).

When ``cgnat.enabled``, traffic from subscriber addresses inside ``source_range`` is marked with
``fwmark`` and routed by its own table towards an external CGNAT appliance::

    ip link add <vrf_name> type vrf table <vrf_table>     (only where the kernel has VRF)
    ip link set <vrf_name> up; ip link set <handoff_interface> master <vrf_name>
    ip rule add fwmark <fwmark> table <vrf_table>          (priority 1000 + table)
    ip route replace default via <handoff_gateway> dev <handoff_interface> table <vrf_table>
    table inet abng_cgnat {
        set bypass { type ipv4_addr; }                    (Athena-CGNAT-Bypass = 1 sessions)
        chain prerouting { type filter hook prerouting priority mangle;
                           ip saddr <source_range> ip saddr != @bypass meta mark set <fwmark> }
    }

Without VRF (this project's CI kernel) the table is a plain routing table and the handoff
interface stays where it is.  Everything is idempotent: :meth:`CgnatManager.ensure` converges to
a configuration, :meth:`disable` removes everything that was created, :meth:`apply_change`
moves from one configuration to another.  Sessions only touch the ``bypass`` set, in batches.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from abng.dataplane import nft

TABLE = "abng_cgnat"
FAMILY = "inet"
ENOENT, ESRCH, EEXIST = 2, 3, 17


@dataclass(frozen=True, slots=True)
class CgnatConfig:
    """The ``cgnat`` configuration section (§4.9)."""

    enabled: bool = False
    vrf_name: str = "cgnat"
    vrf_table: int = 100
    handoff_interface: str | None = None
    handoff_gateway: str | None = None
    source_range: str = "100.64.0.0/10"
    fwmark: int | str = 0x64

    @property
    def mark(self) -> int:
        return self.fwmark if isinstance(self.fwmark, int) else int(self.fwmark, 0)

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.source_range, strict=False)

    @property
    def rule_priority(self) -> int:
        return 1000 + self.vrf_table


@dataclass(frozen=True, slots=True)
class CgnatState:
    """What the kernel holds, read back (``show`` and tests)."""

    rule: bool
    default_route: str | None
    vrf: bool
    nft_table: bool
    bypass: frozenset[str]


def nft_ruleset(cfg: CgnatConfig, bypass: Iterable[str]) -> list[dict[str, Any]]:
    """The whole ``inet abng_cgnat`` table as one nft JSON transaction (replaces any old one)."""
    table = {"family": FAMILY, "name": TABLE}
    net = cfg.network
    match_range = {
        "match": {
            "op": "==",
            "left": {"payload": {"protocol": "ip", "field": "saddr"}},
            "right": {"prefix": {"addr": str(net.network_address), "len": net.prefixlen}},
        }
    }
    not_bypassed = {
        "match": {"op": "!=", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": "@bypass"}
    }
    set_mark = {"mangle": {"key": {"meta": {"key": "mark"}}, "value": cfg.mark}}
    cmds: list[dict[str, Any]] = [
        {"add": {"table": table}},
        {"delete": {"table": table}},
        {"add": {"table": table}},
        {"add": {"set": {"family": FAMILY, "table": TABLE, "name": "bypass", "type": "ipv4_addr"}}},
        {
            "add": {
                "chain": {
                    "family": FAMILY,
                    "table": TABLE,
                    "name": "prerouting",
                    "type": "filter",
                    "hook": "prerouting",
                    "prio": -150,
                    "policy": "accept",
                }
            }
        },
        {
            "add": {
                "rule": {
                    "family": FAMILY,
                    "table": TABLE,
                    "chain": "prerouting",
                    "expr": [match_range, not_bypassed, set_mark],
                }
            }
        },
    ]
    elements = sorted(bypass)
    if elements:
        cmds.append(
            {"add": {"element": {"family": FAMILY, "table": TABLE, "name": "bypass", "elem": elements}}}
        )
    return cmds


class CgnatManager:
    """See the module docstring.  ``has_vrf`` comes from :mod:`abng.dataplane.detect`."""

    def __init__(self, *, has_vrf: bool, netns: str | None = None) -> None:
        self._ipr = IPRoute(netns=netns) if netns else IPRoute()
        self._netns = netns
        self._has_vrf = has_vrf
        self._cfg: CgnatConfig | None = None
        self._bypass: set[str] = set()

    def close(self) -> None:
        self._ipr.close()

    @property
    def config(self) -> CgnatConfig | None:
        return self._cfg

    # -- per session -----------------------------------------------------------------------
    def is_steered(self, ip: str | ipaddress.IPv4Address, bypass: bool) -> bool:
        """``vrf_steered`` of a session: CGNAT on, address in ``source_range``, no bypass."""
        cfg = self._cfg
        if cfg is None or not cfg.enabled or bypass:
            return False
        return ipaddress.IPv4Address(ip) in cfg.network

    def session_up(self, ip: str, bypass: bool) -> bool:
        """Record a session; a bypassed in-range address joins the ``bypass`` set.  Returns
        ``vrf_steered``."""
        self.update_bypass(add=[ip] if bypass else [])
        return self.is_steered(ip, bypass)

    def session_down(self, ip: str) -> None:
        self.update_bypass(remove=[ip])

    def update_bypass(self, add: Iterable[str] = (), remove: Iterable[str] = ()) -> None:
        """One nft transaction for a batch of bypass changes (only in-range addresses matter)."""
        cfg = self._cfg
        if cfg is None or not cfg.enabled:
            return
        net = cfg.network
        adds = sorted({str(ip) for ip in add if ipaddress.IPv4Address(ip) in net} - self._bypass)
        dels = sorted({str(ip) for ip in remove} & self._bypass)
        where = {"family": FAMILY, "table": TABLE, "name": "bypass"}
        cmds: list[dict[str, Any]] = []
        if adds:
            cmds.append({"add": {"element": {**where, "elem": adds}}})
        if dels:
            cmds.append({"delete": {"element": {**where, "elem": dels}}})
        nft.run_nft(cmds, netns=self._netns)
        self._bypass.update(adds)
        self._bypass.difference_update(dels)

    # -- configuration ---------------------------------------------------------------------
    def ensure(self, cfg: CgnatConfig) -> None:
        """Converge the kernel to ``cfg`` (disabled: remove everything)."""
        if not cfg.enabled:
            if self._cfg is not None:
                self.disable()
            return
        if cfg.handoff_interface is None or cfg.handoff_gateway is None:
            raise ValueError("cgnat.enabled needs handoff_interface and handoff_gateway")
        handoff = self._index(cfg.handoff_interface)
        if handoff is None:
            raise LookupError(f"cgnat handoff_interface {cfg.handoff_interface} does not exist")
        if self._has_vrf:
            vrf = self._index(cfg.vrf_name)
            if vrf is None:
                self._ipr.link("add", ifname=cfg.vrf_name, kind="vrf", vrf_table=cfg.vrf_table)
                vrf = self._index(cfg.vrf_name)
            self._ipr.link("set", index=vrf, state="up")
            self._ipr.link("set", index=handoff, master=vrf)
        if not self._rule_present(cfg):
            self._ipr.rule(
                "add", fwmark=cfg.mark, fwmask=0xFFFFFFFF, table=cfg.vrf_table, priority=cfg.rule_priority
            )
        self._ipr.route(
            "replace", dst="0.0.0.0/0", gateway=cfg.handoff_gateway, oif=handoff, table=cfg.vrf_table
        )
        nft.run_nft(nft_ruleset(cfg, self._bypass), netns=self._netns)
        self._cfg = cfg

    def disable(self) -> None:
        """Remove the rule, the table's routes, the nft table and the VRF device we created."""
        cfg = self._cfg
        if cfg is None:
            return
        while self._rule_present(cfg):
            self._ipr.rule(
                "del", fwmark=cfg.mark, fwmask=0xFFFFFFFF, table=cfg.vrf_table, priority=cfg.rule_priority
            )
        for route in self._ipr.get_routes(table=cfg.vrf_table):
            try:
                self._ipr.route(
                    "del", dst="0.0.0.0/0", table=cfg.vrf_table, gateway=route.get_attr("RTA_GATEWAY")
                )
            except NetlinkError as exc:
                if exc.code not in (ENOENT, ESRCH):
                    raise
        if nft.list_json(["table", FAMILY, TABLE], netns=self._netns):
            nft.run_nft([{"delete": {"table": {"family": FAMILY, "name": TABLE}}}], netns=self._netns)
        if self._has_vrf:
            vrf = self._index(cfg.vrf_name)
            if vrf is not None:
                self._ipr.link("del", index=vrf)
        self._cfg = None
        self._bypass.clear()

    def apply_change(self, old: CgnatConfig, new: CgnatConfig) -> None:
        """Move from ``old`` to ``new``: nothing when equal, else tear down and converge."""
        if old == new and self._cfg == new:
            return
        if self._cfg is not None and (not new.enabled or _structural(old) != _structural(new)):
            bypass = set(self._bypass)
            self.disable()
            self._bypass = bypass if new.enabled else set()
        self.ensure(new)

    # -- read back -------------------------------------------------------------------------
    def state(self) -> CgnatState:
        cfg = self._cfg or CgnatConfig()
        gw = None
        for route in self._ipr.get_routes(table=cfg.vrf_table):
            if route["dst_len"] == 0 and route.get_attr("RTA_TABLE") == cfg.vrf_table:
                gw = route.get_attr("RTA_GATEWAY")
        elements: set[str] = set()
        found = nft.list_json(["set", FAMILY, TABLE, "bypass"], netns=self._netns)
        for item in found:
            if "set" in item:
                elements.update(str(e) for e in item["set"].get("elem", []))
        has_table = bool(nft.list_json(["table", FAMILY, TABLE], netns=self._netns))
        vrf = self._has_vrf and self._index(cfg.vrf_name) is not None
        return CgnatState(self._rule_present(cfg), gw, vrf, has_table, frozenset(elements))

    def _index(self, name: str) -> int | None:
        found = self._ipr.link_lookup(ifname=name)
        return int(found[0]) if found else None

    def _rule_present(self, cfg: CgnatConfig) -> bool:
        for rule in self._ipr.get_rules(family=2):
            if rule.get_attr("FRA_FWMARK") == cfg.mark and rule.get_attr("FRA_TABLE") == cfg.vrf_table:
                return True
        return False


def _structural(cfg: CgnatConfig) -> tuple[object, ...]:
    return (
        cfg.vrf_name,
        cfg.vrf_table,
        cfg.handoff_interface,
        cfg.handoff_gateway,
        cfg.source_range,
        cfg.mark,
    )

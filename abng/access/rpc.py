"""Access RPC methods: ``show.vlans`` (the demux's access interfaces) and ``show.interfaces``
(the kernel's links with the role abng gives them).  ``request.subscriber.disconnect_interface``
is core's (abng/core/methods.py): it terminates every session of an access interface with
``admin_reset``, and the access disconnectors put that on the wire (PADT, lease dropped).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from abng.core.rpc import Connection

if TYPE_CHECKING:
    from abng.access.service import TrunkService


def vlan_row(row: dict[str, Any], sessions: int) -> dict[str, Any]:
    vids = list(row["vlans"])  # type: ignore[arg-type]
    outer = vids[0] if len(vids) == 3 else None
    stag = vids[-2] if len(vids) >= 2 else (vids[0] if vids else None)
    ctag = vids[-1] if len(vids) >= 2 else None
    return {
        "name": row["name"],
        "kernel_name": row["kernel_name"],
        "trunk": row["trunk"],
        "outer": outer,
        "stag": stag,
        "ctag": ctag,
        "vlans": vids,
        "tpids": row["tpids"],
        "profile": row["profile"],
        "services": row["services"],
        "sessions": sessions,
        "created_at": row["created"],
        "last_seen": row["last_seen"],
        "frames": row["frames"],
    }


def link_rows(roles: dict[str, str]) -> list[dict[str, Any]]:
    """Kernel links (pyroute2; runs in a worker thread)."""
    from pyroute2 import IPRoute

    rows: list[dict[str, Any]] = []
    with IPRoute() as ipr:
        addrs: dict[int, list[str]] = {}
        for a in ipr.get_addr():
            addrs.setdefault(a["index"], []).append(f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}")
        for link in ipr.get_links():
            name = link.get_attr("IFLA_IFNAME")
            info = link.get_attr("IFLA_LINKINFO")
            kind = info.get_attr("IFLA_INFO_KIND") if info is not None else None
            stats = link.get_attr("IFLA_STATS64") or {}
            rows.append(
                {
                    "name": name,
                    "index": link["index"],
                    "kind": kind or "device",
                    "role": roles.get(name, "other"),
                    "state": str(link.get_attr("IFLA_OPERSTATE") or "UNKNOWN").lower(),
                    "mac": link.get_attr("IFLA_ADDRESS"),
                    "mtu": link.get_attr("IFLA_MTU"),
                    "addresses": addrs.get(link["index"], []),
                    "rx_bytes": stats.get("rx_bytes", 0),
                    "tx_bytes": stats.get("tx_bytes", 0),
                    "rx_packets": stats.get("rx_packets", 0),
                    "tx_packets": stats.get("tx_packets", 0),
                }
            )
    return rows


def install(trunk: TrunkService) -> None:
    d = trunk.daemon
    mgr = d.sessions

    async def show_vlans(params: dict[str, Any], conn: Connection) -> Any:
        if not trunk.demux.enabled:
            iface = trunk.demux.trunk_interface
            row = {
                "name": iface.name,
                "kernel_name": iface.kernel_name,
                "trunk": iface.trunk,
                "vlans": [],
                "tpids": [],
                "profile": None,
                "services": list(iface.services),
                "created": None,
                "last_seen": None,
                "frames": None,
            }
            return [vlan_row(row, len(mgr.by_interface(iface.name)))]
        return [vlan_row(r, len(mgr.by_interface(str(r["name"])))) for r in trunk.demux.snapshot()]

    async def show_interfaces(params: dict[str, Any], conn: Connection) -> Any:
        cfg = d.applied.interfaces
        roles = {
            cfg.management: "management",
            cfg.subscriber_trunk: "subscriber_trunk",
            cfg.upstream: "upstream",
        }
        if cfg.cgnat_handoff:
            roles[cfg.cgnat_handoff] = "cgnat_handoff"
        if trunk.tun is not None:
            roles[trunk.tun.name] = "subscriber_tun"
        return await asyncio.to_thread(link_rows, roles)

    async def show_access(params: dict[str, Any], conn: Connection) -> Any:
        return trunk.info()

    d.rpc.register("show.vlans", show_vlans)
    d.rpc.register("show.interfaces", show_interfaces)
    d.rpc.register("show.access", show_access)

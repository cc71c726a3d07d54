"""``show.qos``, ``show.qos.profiles`` and ``show.routes``: what the kernel really holds.

Each call dumps the kernel once in the dataplane worker process (HTB classes and u32 filters,
/32 routes) and joins the result with the session table; nothing is answered from memory alone.
Shapes of the docs/rpc.md contract:

* ``show.qos``: ``[{session_id, username, interface, rate_down, rate_up, overhead_profile,
  backend, installed, overhead, mpu}]`` (rates in bps as read from the kernel; shaping objects
  without a session are listed with ``session_id`` null: a leak would show here);
* ``show.qos.profiles``: ``{default, profiles: {name: {overhead, mpu, rtt}}, in_use: {name: n}}``
  (``in_use`` counts installed download classes by their overhead/MPU);
* ``show.routes``: ``[{destination, gateway, interface, protocol, table, session_id}]``: every
  /32 route of abngd (proto 188) or towards a session's address, plus the CGNAT default route.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Any

from abng.core.rpc import Connection
from abng.dataplane.cgnat import CgnatConfig, CgnatState
from abng.dataplane.qos import InstalledShape
from abng.dataplane.routes import MAIN_TABLE

if TYPE_CHECKING:
    from abng.core.daemon import Daemon
    from abng.dataplane.service import PolicyService
    from abng.dataplane.worker_process import WorkerProcess


def qos_items(svc: PolicyService, installed: list[InstalledShape]) -> list[dict[str, Any]]:
    by_ip: dict[str, dict[str, InstalledShape]] = defaultdict(dict)
    for shape in installed:
        if shape.ip is not None:
            by_ip[shape.ip][shape.direction] = shape
    backend = svc.info().get("qos", {}).get("backend")
    profiles = svc.daemon.applied.qos
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for s in svc.daemon.sessions.table:
        want = svc.applied.get(s.id)
        if want is None or want.shape is None or s.ip_address is None:
            continue
        found = by_ip.get(s.ip_address, {})
        seen.add(s.ip_address)
        down, up = found.get("down"), found.get("up")
        out.append(
            {
                "session_id": s.id,
                "username": s.username,
                "ip_address": s.ip_address,
                "interface": want.device,
                "rate_down": down.rate_bps if down else None,
                "rate_up": up.rate_bps if up else None,
                "overhead_profile": s.overhead_profile or profiles.default_overhead_profile,
                "overhead": down.overhead if down else None,
                "mpu": down.mpu if down else None,
                "backend": backend,
                "installed": down is not None and up is not None,
            }
        )
    for ip, found in sorted(by_ip.items()):
        if ip in seen:
            continue
        down, up = found.get("down"), found.get("up")
        any_shape = down or up
        assert any_shape is not None
        out.append(
            {
                "session_id": None,
                "username": None,
                "ip_address": ip,
                "interface": any_shape.device,
                "rate_down": down.rate_bps if down else None,
                "rate_up": up.rate_bps if up else None,
                "overhead_profile": None,
                "overhead": any_shape.overhead,
                "mpu": any_shape.mpu,
                "backend": backend,
                "installed": True,
            }
        )
    return out


def read_routes(worker: WorkerProcess) -> tuple[CgnatConfig | None, list[dict[str, Any]], CgnatState | None]:
    """In the executor: the CGNAT configuration, the /32 routes of the tables concerned and the
    CGNAT state (None with CGNAT off)."""
    cg = worker.cgnat_config()
    tables = (MAIN_TABLE,) if cg is None else (MAIN_TABLE, cg.vrf_table)
    return cg, worker.host_routes(tables), None if cg is None else worker.cgnat_state()


def install(d: Daemon, svc: PolicyService) -> None:
    async def show_qos(params: dict[str, Any], conn: Connection) -> Any:
        installed = await svc.query(lambda w: w.installed())
        return [] if installed is None else qos_items(svc, installed)

    async def show_qos_profiles(params: dict[str, Any], conn: Connection) -> Any:
        qos = d.applied.qos.model_dump(mode="json")
        profiles: dict[str, Any] = qos.get("overhead_profiles", {})
        counts: Counter[tuple[int, int]] = Counter()
        for shape in await svc.query(lambda w: w.installed()) or []:
            if shape.direction == "down":
                counts[(shape.overhead, shape.mpu)] += 1
        in_use = {}
        for name, p in profiles.items():
            in_use[name] = counts.pop((int(p["overhead"]), int(p["mpu"])), 0)
        return {"default": qos.get("default_overhead_profile"), "profiles": profiles, "in_use": in_use}

    async def show_routes(params: dict[str, Any], conn: Connection) -> Any:
        found = await svc.query(read_routes)
        if found is None:
            return []
        cg, routes, state = found
        out = []
        for r in routes:
            ip = r["destination"].split("/", 1)[0]
            s = d.sessions.by_ip(ip)
            if s is None and r["protocol"] != "abng":
                continue
            out.append({**r, "session_id": s.id if s is not None else None})
        if cg is not None and state is not None and state.default_route is not None:
            out.append(
                {
                    "destination": "0.0.0.0/0",
                    "gateway": state.default_route,
                    "interface": cg.handoff_interface,
                    "protocol": "cgnat",
                    "table": cg.vrf_table,
                    "session_id": None,
                }
            )
        return out

    d.rpc.register("show.qos", show_qos)
    d.rpc.register("show.qos.profiles", show_qos_profiles)
    d.rpc.register("show.routes", show_routes)

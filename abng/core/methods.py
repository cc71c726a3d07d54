"""Session, system and monitor RPC methods (docs/rpc.md).  Config methods: config_rpc.py."""

from __future__ import annotations

import asyncio
import json
import platform
import socket
import sys
from typing import TYPE_CHECKING, Any

import abng
from abng.core import errors as E
from abng.core import params as P
from abng.core.events import EventName
from abng.core.model import Session, TerminateReason
from abng.core.rpc import Connection, Encoded

if TYPE_CHECKING:
    from abng.core.daemon import Daemon

#: Methods whose subsystem does not exist yet: name -> (subsystem, message).  A subsystem that
#: arrives registers the real handler with ``daemon.rpc.register`` and replaces the stub.
UNAVAILABLE = {
    "show.interfaces": ("dataplane", "interface listing needs the dataplane, not yet implemented"),
    "show.vlans": ("demux", "the VLAN demux is not yet implemented"),
    "show.routes": ("dataplane", "subscriber routes need the dataplane, not yet implemented"),
    "show.bgp": ("bgp", "BGP (FRR integration) is not yet implemented"),
    "show.qos": ("qos", "per-subscriber QoS needs the dataplane, not yet implemented"),
    "request.radius.test": ("aaa", "RADIUS (AAA) is not wired into abngd yet"),
}


#: Longer lists are rendered in a worker thread so the loop keeps serving other clients.
BIG_LIST = 2000


def _render(items: list[Session], view: str, count: int | None) -> bytes:
    """JSON of a session list, built 1,000 sessions at a time so the intermediate dicts never
    all exist at once (runs in a thread: reads fields of a snapshot list only)."""
    parts: list[bytes] = []
    for i in range(0, len(items), 1000):
        chunk = items[i : i + 1000]
        dicts = [s.to_rpc() for s in chunk] if view == "rpc" else [s.to_rest() for s in chunk]
        parts.append(json.dumps(dicts, separators=(",", ":")).encode()[1:-1])
    body = b"[" + b",".join(parts) + b"]"
    if view == "rpc":
        return body
    return b'{"sessions":' + body + b',"count":' + str(count).encode() + b"}"


def hostname(d: Daemon) -> str:
    if d.applied is not None:
        return str(d.applied.system.hostname)
    return socket.gethostname()


def versions() -> dict[str, str]:
    return {"version": abng.__version__, "python": sys.version.split()[0], "kernel": platform.release()}


def install(d: Daemon) -> None:
    reg = d.rpc.register
    mgr = d.sessions
    for name, (subsystem, message) in UNAVAILABLE.items():
        d.rpc.register_unavailable(name, subsystem, message)

    async def show_subscribers(params: dict[str, Any], conn: Connection) -> Any:
        filters, limit, offset = P.list_filters(params)
        items, _ = mgr.list(filters, limit, offset)
        if len(items) > BIG_LIST:
            return Encoded(await asyncio.to_thread(_render, items, "rpc", None))
        return [s.to_rpc() for s in items]

    async def subscribers_list(params: dict[str, Any], conn: Connection) -> Any:
        filters, limit, offset = P.list_filters(params)
        items, count = mgr.list(filters, limit, offset)
        if len(items) > BIG_LIST:
            return Encoded(await asyncio.to_thread(_render, items, "rest", count))
        return {"sessions": [s.to_rest() for s in items], "count": count}

    async def subscribers_get(params: dict[str, Any], conn: Connection) -> Any:
        return mgr.get(P.req_int(params, "session_id")).to_rest_detail()

    async def subscribers_summary(params: dict[str, Any], conn: Connection) -> Any:
        return mgr.summary()

    async def subscribers_history(params: dict[str, Any], conn: Connection) -> Any:
        limit = P.opt_int(params, "limit", minimum=0)
        hist = list(mgr.history)
        hist = hist[len(hist) - limit :] if limit is not None else hist  # limit 0: none, as in lists
        return [{**s.to_rpc(), "reason": str(s.reason), "ended_at": s.ended_at} for s in reversed(hist)]

    async def disconnect(params: dict[str, Any], conn: Connection) -> Any:
        sid = P.req_int(params, "session_id")
        mgr.get(sid)  # -32001 when unknown
        await mgr.terminate(sid, TerminateReason.ADMIN_RESET)
        return {"session_id": sid, "disconnected": True}

    async def disconnect_interface(params: dict[str, Any], conn: Connection) -> Any:
        name = P.req_str(params, "interface")
        ids = [s.id for s in mgr.by_interface(name)]
        for sid in ids:
            await mgr.terminate(sid, TerminateReason.ADMIN_RESET)
        return {"interface": name, "disconnected": ids, "count": len(ids)}

    async def change_rate(params: dict[str, Any], conn: Connection) -> Any:
        sid = P.req_int(params, "session_id")
        down, up = P.rate(params, "rate_down"), P.rate(params, "rate_up")
        if down is None and up is None:
            raise E.invalid_params("give rate_down and/or rate_up")
        source = P.opt_str(params, "source", ("api", "cli", "radius_coa")) or "api"
        s = await mgr.change_rate(sid, down, up, source)
        return {"session_id": s.id, "rate_down": s.rate_down, "rate_up": s.rate_up}

    async def show_system(params: dict[str, Any], conn: Connection) -> Any:
        return {
            **versions(),
            "hostname": hostname(d),
            "uptime": int(d.clock() - d.started_at),
            "started_at": int(d.started_at),
            "sessions": mgr.summary(),
            "dataplane": d.dataplane.info(),
        }

    async def system_version(params: dict[str, Any], conn: Connection) -> Any:
        return {**versions(), "hostname": hostname(d)}

    async def system_health(params: dict[str, Any], conn: Connection) -> Any:
        return {
            "status": "ok",
            "uptime": int(d.clock() - d.started_at),
            "sessions": mgr.summary(),
            "dataplane": {"backend": d.dataplane.info().get("backend")},
        }

    async def monitor_subscribe(params: dict[str, Any], conn: Connection) -> Any:
        events = params.get("events")
        names: frozenset[str] | None = None
        if events is not None:
            known = {e.value for e in EventName}
            if not isinstance(events, list) or not all(isinstance(e, str) and e in known for e in events):
                msg = f"events must be a list of: {', '.join(sorted(known))}"
                raise E.invalid_params(msg, [{"path": "events", "message": msg}])
            names = frozenset(events) or None
        conn.subscribe(d.bus, names)
        return {"subscribed": True, "events": sorted(names) if names else sorted(e.value for e in EventName)}

    async def metrics_get(params: dict[str, Any], conn: Connection) -> Any:
        states: dict[str, int] = {"starting": 0, "active": 0, "terminating": 0}
        for s in mgr.table:
            states[s.state.value] += 1
        stats = dict(mgr.stats)
        return {
            "uptime": int(d.clock() - d.started_at),
            "sessions": mgr.summary(),
            "sessions_by_state": states,
            "sessions_opened": stats.get("opened", 0),
            "sessions_activated": stats.get("activated", 0),
            "sessions_terminated": {
                k.split(".", 1)[1]: v for k, v in stats.items() if k.startswith("terminated.")
            },
            "hook_errors": stats.get("hook_errors", 0),
            "rate_changes": stats.get("rate_changes", 0),
            "history": len(mgr.history),
            "rpc": {**d.rpc.stats, "connections": len(d.rpc.connections), "subscribers": d.bus.subscribers},
            "events_published": d.bus.published,
            "store": {
                "flushes": d.store.flushes,
                "rows_written": d.store.rows_written,
                "pending": d.store.pending,
            },
            "config_generation": d.applied_generation,
        }

    reg("show.subscribers", show_subscribers, mutating=False)
    reg("subscribers.list", subscribers_list, mutating=False)
    reg("subscribers.get", subscribers_get, mutating=False)
    reg("subscribers.summary", subscribers_summary, mutating=False)
    reg("subscribers.history", subscribers_history, mutating=False)
    reg("request.subscriber.disconnect", disconnect, mutating=True)
    reg("request.subscriber.disconnect_interface", disconnect_interface, mutating=True)
    reg("request.subscriber.rate", change_rate, mutating=True)
    reg("show.system", show_system, mutating=False)
    reg("system.version", system_version, mutating=False)
    reg("system.health", system_health, mutating=False)
    reg("monitor.subscribe", monitor_subscribe, mutating=False)
    reg("metrics.get", metrics_get, mutating=False)

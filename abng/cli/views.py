"""What each ``show`` command looks like: RPC results (docs/rpc.md) in, text lines out."""

from __future__ import annotations

from typing import Any

import yaml

from abng.cli.render import Column, cell, detail, rates, size, table, timestamp, uptime
from abng.cli.tokens import quote
from abng.config.rates import RateError, human_rate, parse_rate


def _rate(value: Any) -> str:
    """bps (int) or a rate string (D10) for people."""
    if isinstance(value, str):
        try:
            value = parse_rate(value)
        except RateError:
            return str(value)
    return human_rate(value if isinstance(value, int) else None)


def _features(value: Any) -> Any:
    """``{"htb": true, "cake": false}`` -> ``"htb, ..."``; lists pass."""
    if isinstance(value, dict):
        return ", ".join(k for k, v in value.items() if v) or "-"
    return value


SUBSCRIBER_COLUMNS = (
    Column("ID", "id", ">", shrink=False),
    Column("Type", "type", shrink=False, drop=3),
    Column("Username", "username", min_width=8),
    Column("IP address", "ip_address", shrink=False),
    Column("Interface", "interface", min_width=9, drop=1),
    Column("Down", "down", ">", shrink=False),
    Column("Up", "up", ">", shrink=False),
    Column("State", "state", min_width=6, drop=4),
    Column("Uptime", "uptime", ">", shrink=False, drop=2),
)


def subscribers(result: dict[str, Any], now: float, width: int) -> list[str]:
    rows = [
        {**s, "down": human_rate(s.get("rate_down")), "up": human_rate(s.get("rate_up")),
         "uptime": uptime(now - s["started_at"]) if s.get("started_at") else "-"}
        for s in result.get("sessions", [])
    ]  # fmt: skip
    if not rows:
        return ["No subscribers."]
    return [*table(SUBSCRIBER_COLUMNS, rows, width), f"Total: {result.get('count', len(rows))}"]


def subscribers_summary(result: dict[str, Any]) -> list[str]:
    return detail(
        [("Total", result.get("total")), ("PPPoE", result.get("pppoe")), ("DHCP", result.get("dhcp"))], 0
    )


def subscriber_detail(s: dict[str, Any]) -> list[str]:
    head = f"Session {s.get('id')}  {s.get('type')}  {s.get('state')}"
    return [head, *detail([
        ("Username", s.get("username")),
        ("MAC address", s.get("mac_address")),
        ("IP address", s.get("ip_address")),
        ("Gateway", s.get("gateway")),
        ("Access interface", s.get("access_interface")),
        ("PPP interface", s.get("ppp_interface")),
        ("Rate down / up", rates(s.get("rate_down_bps"), s.get("rate_up_bps"))),
        ("Overhead profile", s.get("overhead_profile")),
        ("VRF steered", s.get("vrf_steered")),
        ("Acct-Session-Id", s.get("acct_session_id")),
        ("Started", timestamp(s.get("started_at"))),
        ("Uptime", uptime(s.get("uptime"))),
        ("Bytes in / out", f"{size(s.get('bytes_in'))} / {size(s.get('bytes_out'))}"),
        ("Packets in / out", f"{s.get('packets_in', 0)} / {s.get('packets_out', 0)}"),
        ("Session timeout", s.get("session_timeout")),
        ("Idle timeout", s.get("idle_timeout")),
        ("Lease time", s.get("lease_time")),
    ])]  # fmt: skip


def version(v: dict[str, Any]) -> list[str]:
    return detail([("Hostname", v.get("hostname")), ("abng", v.get("version")),
                   ("Python", v.get("python")), ("Kernel", v.get("kernel"))], 0)  # fmt: skip


def system(s: dict[str, Any]) -> list[str]:
    sessions = s.get("sessions") or {}
    dp = s.get("dataplane") or {}
    counts = f"{sessions.get('total', 0)} (PPPoE {sessions.get('pppoe', 0)}, DHCP {sessions.get('dhcp', 0)})"
    backend = cell(dp.get("backend")) + (f" ({dp['status']})" if dp.get("status") else "")
    return detail([
        ("Hostname", s.get("hostname")),
        ("Version", s.get("version")),
        ("Started", timestamp(s.get("started_at"))),
        ("Uptime", uptime(s.get("uptime"))),
        ("Sessions", counts),
        ("Dataplane", backend),
        ("Features", _features(dp.get("features"))),
        ("Python", s.get("python")),
        ("Kernel", s.get("kernel")),
    ], 0)  # fmt: skip


def interfaces(items: list[dict[str, Any]], width: int) -> list[str]:
    cols = (Column("Name", "name", min_width=6), Column("Kind", "kind"), Column("Role", "role"),
            Column("State", "state"), Column("MAC", "mac", shrink=False), Column("MTU", "mtu", ">"),
            Column("Addresses", "addresses", min_width=9), Column("RX", "rx", ">", shrink=False),
            Column("TX", "tx", ">", shrink=False))  # fmt: skip
    rows = [{**i, "rx": size(i.get("rx_bytes")), "tx": size(i.get("tx_bytes"))} for i in items]
    return table(cols, rows, width) if rows else ["No interfaces."]


def vlans(items: list[dict[str, Any]], now: float, width: int) -> list[str]:
    cols = (Column("Name", "name", min_width=8), Column("Trunk", "trunk"), Column("S-tag", "stag", ">"),
            Column("C-tag", "ctag", ">"), Column("Profile", "profile"), Column("Services", "services"),
            Column("Sessions", "sessions", ">", shrink=False),
            Column("Idle", "idle", ">", shrink=False))  # fmt: skip
    rows = [{**v, "idle": uptime(now - v["last_seen"]) if v.get("last_seen") else "-"} for v in items]
    return table(cols, rows, width) if rows else ["No VLAN interfaces."]


def routes(items: list[dict[str, Any]], width: int) -> list[str]:
    cols = (Column("Destination", "destination", shrink=False), Column("Gateway", "gateway"),
            Column("Interface", "interface", min_width=9), Column("Protocol", "protocol"),
            Column("Table", "table"), Column("Session", "session_id", ">"))  # fmt: skip
    return table(cols, items, width) if items else ["No routes."]


def bgp_summary(b: dict[str, Any], width: int) -> list[str]:
    head = f"BGP {'enabled' if b.get('enabled') else 'disabled'}, local AS {cell(b.get('asn'))}, "
    head += f"router ID {cell(b.get('router_id'))}"
    cols = (
        Column("Neighbor", "address", shrink=False),
        Column("Remote AS", "remote_as", ">"),
        Column("State", "state"),
        Column("Up/Down", "up", ">"),
        Column("Prefixes", "prefixes_received", ">"),
    )
    rows = [{**n, "up": uptime(n.get("uptime"))} for n in b.get("neighbors", [])]
    return [head, *(table(cols, rows, width) if rows else ["No neighbors."])]


def qos(items: list[dict[str, Any]], width: int) -> list[str]:
    cols = (Column("Session", "session_id", ">", shrink=False), Column("Username", "username", min_width=8),
            Column("Interface", "interface", min_width=9), Column("Down", "down", ">", shrink=False),
            Column("Up", "up", ">", shrink=False), Column("Overhead", "overhead_profile"),
            Column("Backend", "backend"), Column("Installed", "installed"))  # fmt: skip
    rows = [{**q, "down": _rate(q.get("rate_down")), "up": _rate(q.get("rate_up"))} for q in items]
    return table(cols, rows, width) if rows else ["No shaped subscribers."]


def configuration(data: Any, path: list[str]) -> list[str]:
    """YAML, as in running-config.yaml; a section is shown under its own key."""
    if data is None or data == {}:
        return ["(empty)"] if not path else [f"{'.'.join(path)}: (not set)"]
    if path:
        data = {path[-1]: data}
    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)
    return text.rstrip("\n").split("\n")


def set_commands(data: Any, path: list[str]) -> list[str]:
    """Configuration as the ``set`` commands that would rebuild it (``| display set``)."""
    out: list[str] = []

    def walk(value: Any, here: list[str]) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                walk(sub, [*here, str(key)])
        elif isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
            for i, sub in enumerate(value):
                walk(sub, [*here, str(i)])
        elif isinstance(value, list):
            out.extend(" ".join(["set", *here, _word(v)]) for v in value)
        else:
            out.append(" ".join(["set", *here, _word(value)]))

    walk(data, list(path))
    return out


def _word(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return quote("" if value is None else str(value))


def event(e: dict[str, Any]) -> str:
    """One line per ``monitor.subscribe`` notification."""
    name, data = str(e.get("event", "?")), e.get("data") or {}
    if name in ("session_up", "session_down"):
        parts = [f"id={data.get('id')}", f"type={data.get('type')}", f"user={data.get('username')}",
                 f"ip={cell(data.get('ip_address'))}", f"interface={data.get('interface')}"]  # fmt: skip
        if name == "session_up":
            parts.append(f"rate={data.get('speed_down')}/{data.get('speed_up')}")
        else:
            parts.append(f"reason={data.get('reason')}")
    elif name == "rate_change":
        parts = [f"id={data.get('session_id')}", f"user={data.get('username')}",
                 f"rate={rates(data.get('rate_down'), data.get('rate_up'))}",
                 f"source={data.get('source')}"]  # fmt: skip
    elif name == "config_commit":
        parts = [
            f"generation={data.get('generation')}",
            f"changes={','.join(data.get('changes') or []) or '-'}",
        ]
    else:
        parts = [f"{k}={cell(v)}" for k, v in data.items()]
    return f"{e.get('timestamp', '')} {name:<13} " + " ".join(parts)

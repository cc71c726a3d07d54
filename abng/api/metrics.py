"""Prometheus text for ``/metrics`` (reference §6.8): abngd's ``athenabng_*`` values plus the
API's own counters.  No usernames, MACs or addresses ever become labels.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: name (without prefix) -> (type, help)
ABNGD_METRICS: dict[str, tuple[str, str]] = {
    "sessions_total": ("gauge", "Active subscriber sessions"),
    "sessions_pppoe": ("gauge", "Active PPPoE sessions"),
    "sessions_dhcp": ("gauge", "Active DHCP (IPoE) sessions"),
    "sessions_created_total": ("counter", "Sessions created since abngd started"),
    "sessions_terminated_total": ("counter", "Sessions terminated since abngd started"),
    "qos_sessions": ("gauge", "Sessions with shaping applied"),
    "qos_qdiscs": ("gauge", "Shaping qdiscs installed"),
    "cgnat_sessions": ("gauge", "Sessions steered into the CGNAT VRF"),
    "cgnat_pool_utilization": ("gauge", "CGNAT source range utilization in percent"),
    "vlan_interfaces": ("gauge", "Dynamic VLAN interfaces"),
    "vlan_creation_rate": ("gauge", "Dynamic VLAN interfaces created per second"),
    "uptime_seconds": ("gauge", "Seconds since abngd started"),
}
PREFIX = "athenabng_"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _fmt(value: float) -> str:
    return str(int(value)) if value == int(value) and abs(value) < 1e15 else repr(value)


def from_fallback(summary: dict[str, Any], system: dict[str, Any]) -> dict[str, Any]:
    """Values when abngd has no ``metrics.get``: computed from the summary and show.system."""
    return {
        "sessions_total": summary.get("total"),
        "sessions_pppoe": summary.get("pppoe"),
        "sessions_dhcp": summary.get("dhcp"),
        "uptime_seconds": system.get("uptime"),
        "version": system.get("version"),
    }


def normalize(values: dict[str, Any]) -> dict[str, Any]:
    """Accept flat ``{sessions_total: ..}`` values or abngd's nested ``metrics.get`` result."""
    clean = {(k[len(PREFIX) :] if k.startswith(PREFIX) else k): v for k, v in values.items()}
    sessions = clean.get("sessions")
    if isinstance(sessions, dict):
        for key in ("total", "pppoe", "dhcp"):
            clean.setdefault(f"sessions_{key}", sessions.get(key))
    if "sessions_opened" in clean:
        clean.setdefault("sessions_created_total", clean["sessions_opened"])
    terminated = clean.get("sessions_terminated")
    if isinstance(terminated, dict):
        nums = [_num(v) for v in terminated.values()]
        clean.setdefault("sessions_terminated_total", sum(n for n in nums if n is not None))
    elif _num(terminated) is not None:
        clean.setdefault("sessions_terminated_total", terminated)
    if "uptime" in clean:
        clean.setdefault("uptime_seconds", clean["uptime"])
    return clean


def render_abngd(values: dict[str, Any]) -> list[str]:
    clean = normalize(values)
    lines: list[str] = []
    for name, (kind, help_text) in ABNGD_METRICS.items():
        value = _num(clean.get(name))
        if value is None:
            continue
        lines += [f"# HELP {PREFIX}{name} {help_text}", f"# TYPE {PREFIX}{name} {kind}"]
        lines.append(f"{PREFIX}{name} {_fmt(value)}")
    version = clean.get("version") or clean.get("version_info")
    if isinstance(version, str):
        lines += [
            f"# HELP {PREFIX}version_info abngd version",
            f"# TYPE {PREFIX}version_info gauge",
            f'{PREFIX}version_info{{version="{_escape(version)}"}} 1',
        ]
    return lines


class ApiCounters:
    """Request and login-failure counters of this API process."""

    def __init__(self) -> None:
        self.requests: Counter[tuple[str, str, int]] = Counter()
        self.login_failures: Counter[str] = Counter()

    def render(self) -> list[str]:
        lines = [
            "# HELP athenabng_api_requests_total HTTP requests served by abng-api",
            "# TYPE athenabng_api_requests_total counter",
        ]
        for (method, route, status), n in sorted(self.requests.items()):
            lines.append(
                f'athenabng_api_requests_total{{method="{_escape(method)}",route="{_escape(route)}",'
                f'status="{status}"}} {n}'
            )
        lines += [
            "# HELP athenabng_api_login_failures_total Failed logins by reason",
            "# TYPE athenabng_api_login_failures_total counter",
        ]
        for reason in ("bad_credentials", "locked", "busy"):
            lines.append(
                f'athenabng_api_login_failures_total{{reason="{reason}"}} {self.login_failures[reason]}'
            )
        return lines


def render(abngd_values: dict[str, Any] | None, api: ApiCounters, extra: dict[str, float]) -> str:
    lines = render_abngd(abngd_values) if abngd_values is not None else []
    up = 1 if abngd_values is not None else 0
    lines += ["# HELP athenabng_api_abngd_up Whether abngd answered", "# TYPE athenabng_api_abngd_up gauge"]
    lines.append(f"athenabng_api_abngd_up {up}")
    lines += api.render()
    for name, value in sorted(extra.items()):
        lines += [f"# TYPE {name} counter", f"{name} {_fmt(value)}"]
    return "\n".join(lines) + "\n"

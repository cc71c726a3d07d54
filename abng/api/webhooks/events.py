"""abngd events -> webhook payloads (reference §3.4, D8, D9, D11).

``session.up`` and ``session.down`` carry exactly the documented fields, built from the
``Session.to_rpc()`` item in the event; ``session.rate_change`` is ours.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from abng.config.rates import RateError, parse_rate

EVENT_NAMES = ("session.up", "session.down", "session.rate_change")
_RPC_TO_HOOK = {
    "session_up": "session.up",
    "session_down": "session.down",
    "rate_change": "session.rate_change",
}
_REST_TYPE = {"pppoe": "PPPoE", "dhcp": "DHCP"}


def iso_seconds(value: Any) -> str:
    """ISO-8601 UTC with Z and whole seconds, from an ISO string or epoch; now if unusable."""
    when: datetime | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        when = datetime.fromtimestamp(value, UTC)
    elif isinstance(value, str):
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            when = None
        if when is not None and when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
    if when is None:
        when = datetime.now(UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _bps(value: Any) -> int | None:
    if value is None:
        return None
    try:
        return parse_rate(value)
    except RateError:
        return None


def payload(event: dict[str, Any]) -> dict[str, Any] | None:
    """Webhook body for an abngd event (``{event, timestamp, data}``), or None if not one."""
    name = _RPC_TO_HOOK.get(str(event.get("event")))
    data = event.get("data")
    if name is None or not isinstance(data, dict):
        return None
    ts = iso_seconds(event.get("timestamp"))
    if name == "session.up":
        body = {
            "id": data.get("id"),
            "type": _REST_TYPE.get(str(data.get("type")).lower(), data.get("type")),
            "username": data.get("username"),
            "ip_address": data.get("ip_address"),
            "interface": data.get("interface"),  # to_rpc(): the access interface (D9)
        }
    elif name == "session.down":
        body = {"id": data.get("id"), "username": data.get("username"), "reason": data.get("reason")}
    else:
        body = {
            "id": data.get("session_id", data.get("id")),
            "username": data.get("username"),
            "rate_down": _bps(data.get("rate_down", data.get("speed_down"))),
            "rate_up": _bps(data.get("rate_up", data.get("speed_up"))),
            "source": data.get("source"),
        }
    return {"event": name, "timestamp": ts, "data": body}

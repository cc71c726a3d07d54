"""Checked access to JSON-RPC ``params`` (bad input is -32602, never an exception from deep code)."""

from __future__ import annotations

from typing import Any

from abng.core.errors import invalid_params

#: Largest integer any param may hold (the JSON-safe range): ids, limits and offsets beyond it
#: are -32602, not an overflow deep inside (``islice``, SQLite).
INT_LIMIT = 2**53 - 1


def opt_int(params: dict[str, Any], name: str, *, minimum: int | None = None) -> int | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_params(f"'{name}' must be an integer", [{"path": name, "message": "not an integer"}])
    if minimum is not None and value < minimum:
        raise invalid_params(f"'{name}' must be >= {minimum}", [{"path": name, "message": "too small"}])
    if abs(value) > INT_LIMIT:
        raise invalid_params(f"'{name}' must be <= {INT_LIMIT}", [{"path": name, "message": "too large"}])
    return value


def req_int(params: dict[str, Any], name: str, *, minimum: int | None = None) -> int:
    value = opt_int(params, name, minimum=minimum)
    if value is None:
        raise invalid_params(f"'{name}' is required", [{"path": name, "message": "required"}])
    return value


def opt_str(params: dict[str, Any], name: str, choices: tuple[str, ...] | None = None) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid_params(f"'{name}' must be a string", [{"path": name, "message": "not a string"}])
    if choices is not None and value.lower() not in choices:
        msg = f"must be one of {', '.join(choices)}"
        raise invalid_params(f"'{name}' {msg}", [{"path": name, "message": msg}])
    return value.lower() if choices is not None else value


def req_str(params: dict[str, Any], name: str) -> str:
    value = opt_str(params, name)
    if not value:
        raise invalid_params(f"'{name}' is required", [{"path": name, "message": "required"}])
    return value


def opt_bool(params: dict[str, Any], name: str, default: bool) -> bool:
    value = params.get(name, default)
    if not isinstance(value, bool):
        raise invalid_params(f"'{name}' must be true or false", [{"path": name, "message": "not a boolean"}])
    return value


def rate(params: dict[str, Any], name: str) -> int | str | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        msg = "must be bps or a rate string"
        raise invalid_params(f"'{name}' {msg}", [{"path": name, "message": msg}])
    return value


def list_filters(params: dict[str, Any]) -> tuple[dict[str, Any], int | None, int]:
    """The filters shared by ``show.subscribers`` and ``subscribers.list``."""
    filters = {
        "type": opt_str(params, "type", ("pppoe", "dhcp")),
        "username": opt_str(params, "username"),
        "ip": opt_str(params, "ip"),
        "interface": opt_str(params, "interface"),
        "state": opt_str(params, "state", ("starting", "active", "terminating")),
    }
    limit = opt_int(params, "limit", minimum=0)
    offset = opt_int(params, "offset", minimum=0) or 0
    return filters, limit, offset

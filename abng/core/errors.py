"""JSON-RPC error codes and the exception that carries them (docs/rpc.md).

Shared by the server (:mod:`abng.core.rpc`) and the client (:mod:`abng.core.rpcclient`), so a
handler raises exactly what a client receives.
"""

from __future__ import annotations

from typing import Any

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
NOT_FOUND = -32001
INVALID_STATE = -32002
UNAVAILABLE = -32003
CONFIG_INVALID = -32010
CONFIG_BUSY = -32011

MESSAGES = {
    PARSE_ERROR: "Parse error",
    INVALID_REQUEST: "Invalid Request",
    METHOD_NOT_FOUND: "Method not found",
    INVALID_PARAMS: "Invalid params",
    INTERNAL_ERROR: "Internal error",
    NOT_FOUND: "Not found",
    INVALID_STATE: "Invalid state",
    UNAVAILABLE: "Subsystem not available",
    CONFIG_INVALID: "Configuration invalid",
    CONFIG_BUSY: "Configuration busy",
}


class RpcError(Exception):
    """A JSON-RPC error object: raised by handlers, raised again by clients."""

    def __init__(self, code: int, message: str | None = None, data: Any = None) -> None:
        self.code = code
        self.message = message if message is not None else MESSAGES.get(code, "Error")
        self.data = data
        super().__init__(f"{self.code}: {self.message}")

    def to_json(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            err["data"] = self.data
        return err

    @classmethod
    def from_json(cls, err: Any) -> RpcError:
        if not isinstance(err, dict):
            return cls(INTERNAL_ERROR, f"malformed error object: {err!r}")
        code = err.get("code")
        msg = err.get("message")
        return cls(
            code if isinstance(code, int) else INTERNAL_ERROR,
            msg if isinstance(msg, str) else None,
            err.get("data"),
        )


def not_found(what: str, ident: Any) -> RpcError:
    return RpcError(NOT_FOUND, f"{what} {ident} not found", {"what": what, "id": ident})


def unavailable(subsystem: str, message: str | None = None) -> RpcError:
    return RpcError(
        UNAVAILABLE,
        message or f"subsystem '{subsystem}' is not available in this abngd",
        {"subsystem": subsystem},
    )


def invalid_params(message: str, issues: list[dict[str, str]] | None = None) -> RpcError:
    return RpcError(INVALID_PARAMS, message, issues)

"""RPC errors and abngd outages -> HTTP answers, in one place (D12, issue 3).

-32001 -> 404 naming what was not found; -32602 / -32010 -> 422 with the errors list;
-32003 -> 503; -32002 / -32011 -> 409; abngd not answering -> 503; anything else -> 502.
An unexpected exception is a 500 with a request id and no details.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from starlette.exceptions import HTTPException as StarletteHTTPException

from abng.api.backend import AbngdUnavailable
from abng.api.responses import json_response
from abng.core import errors as rpc
from abng.core.errors import RpcError

log = logging.getLogger("abng.api")


def _issues(data: Any) -> list[dict[str, Any]]:
    items = data.get("errors") if isinstance(data, dict) else data
    out: list[dict[str, Any]] = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict):
            path = str(item.get("path", ""))
            loc: list[str] = [p for p in path.replace(" ", ".").split(".") if p]
            out.append({"loc": ["config", *loc], "msg": str(item.get("message", "")), "type": "value_error"})
    return out


def rpc_to_http(exc: RpcError) -> tuple[int, Any]:
    code, msg, data = exc.code, exc.message, exc.data
    if code == rpc.NOT_FOUND:
        if isinstance(data, dict) and "what" in data:
            return 404, f"{str(data['what']).capitalize()} {data.get('id')} not found"
        return 404, msg
    if code in (rpc.INVALID_PARAMS, rpc.CONFIG_INVALID):
        issues = _issues(data)
        return 422, issues or [{"loc": ["body"], "msg": msg, "type": "value_error"}]
    if code == rpc.UNAVAILABLE:
        return 503, msg
    if code in (rpc.INVALID_STATE, rpc.CONFIG_BUSY):
        return 409, msg
    return 502, f"abngd error: {msg}"


async def _on_rpc_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RpcError)
    status, detail = rpc_to_http(exc)
    return json_response({"detail": detail}, status)


async def _on_unavailable(request: Request, exc: Exception) -> Response:
    return json_response({"detail": "abngd is not reachable"}, 503, {"Retry-After": "5"})


async def _on_crash(request: Request, exc: Exception) -> Response:
    rid = getattr(request.state, "request_id", "-")
    log.error("request %s: unexpected %s", rid, type(exc).__name__, exc_info=exc)
    return json_response({"detail": f"Internal error (request id {rid})"}, 500)


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:  # an undecodable body: invalid input like any other (D12)
        detail = [{"loc": ["body"], "msg": str(exc.detail), "type": "body_invalid"}]
        return json_response({"detail": detail}, 422)
    return await http_exception_handler(request, exc)


def install(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(RpcError, _on_rpc_error)
    app.add_exception_handler(AbngdUnavailable, _on_unavailable)
    app.add_exception_handler(Exception, _on_crash)

"""/api/v1/health (public) and /api/v1/system/* (reference §3.2 #2, #10-18; D17, D18, D20)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Body, Query, Request, Response

from abng.api.context import acting, get_ctx
from abng.api.guard import RoleRouter
from abng.api.models import (
    Anything,
    CommitRequest,
    ConfigDeleteRequest,
    ConfigSetRequest,
    Health,
    RollbackRequest,
)
from abng.api.pump import refresh_users
from abng.api.responses import Envelope, json_response, ok

health_router = RoleRouter(prefix="/api/v1", tags=["health"])
router = RoleRouter(prefix="/api/v1/system", tags=["system"])
_DOC = {200: {"model": Envelope[Anything]}}


@health_router.get(
    "/health",
    role="public",
    response_model=None,
    responses={200: {"model": Health}, 503: {"model": Health}},
    summary="Liveness (public, no data)",
)
async def public_health(request: Request) -> Response:
    if get_ctx(request).abngd.reachable:
        return json_response({"status": "ok"})
    return json_response({"status": "unavailable"}, 503)


@router.get("/version", role="operator", response_model=None, responses=_DOC, summary="Versions")
async def version(request: Request) -> Response:
    return ok(await get_ctx(request).abngd.call("system.version"))


@router.get("/health", role="operator", response_model=None, responses=_DOC, summary="Uptime and counts")
async def system_health(request: Request) -> Response:
    return ok(await get_ctx(request).abngd.call("system.health"))


@router.get(
    "/config", role="operator", response_model=None, responses=_DOC, summary="Configuration (redacted)"
)
async def show_config(
    request: Request, source: Annotated[Literal["running", "candidate"], Query()] = "running"
) -> Response:
    return ok(await get_ctx(request).abngd.call("config.show", {"source": source}))


@router.get(
    "/config/compare", role="operator", response_model=None, responses=_DOC, summary="Candidate vs running"
)
async def compare(request: Request) -> Response:
    return ok(await get_ctx(request).abngd.call("config.compare"))


async def _mutate(request: Request, method: str, params: dict[str, Any]) -> Response:
    request.state.audit = {"rpc": method, **params}
    ctx = get_ctx(request)
    result = await ctx.abngd.call(method, acting(request, dict(params)))
    return ok(result)


@router.post(
    "/config/set", role="admin", response_model=None, responses=_DOC, summary="Set a candidate value"
)
async def config_set(body: ConfigSetRequest, request: Request) -> Response:
    return await _mutate(request, "config.set", {"path": body.path, "value": body.value})


@router.post(
    "/config/delete", role="admin", response_model=None, responses=_DOC, summary="Delete a candidate key"
)
async def config_delete(body: ConfigDeleteRequest, request: Request) -> Response:
    return await _mutate(request, "config.delete", {"path": body.path})


@router.post(
    "/config/commit", role="admin", response_model=None, responses=_DOC, summary="Commit the candidate"
)
async def config_commit(request: Request, body: Annotated[CommitRequest | None, Body()] = None) -> Response:
    req = body or CommitRequest()
    params: dict[str, Any] = {"check": req.check}
    if req.comment is not None:
        params["comment"] = req.comment
    response = await _mutate(request, "config.commit", params)
    await refresh_users(get_ctx(request))  # our own commit: users take effect before we answer
    return response


@router.post(
    "/config/rollback",
    role="admin",
    response_model=None,
    responses=_DOC,
    summary="Load archive n as candidate",
)
async def config_rollback(body: RollbackRequest, request: Request) -> Response:
    return await _mutate(request, "config.rollback", {"n": body.n})


@router.post(
    "/config/discard", role="admin", response_model=None, responses=_DOC, summary="Discard candidate changes"
)
async def config_discard(request: Request) -> Response:
    return await _mutate(request, "config.discard", {})

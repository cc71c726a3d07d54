"""/api/v1/subscribers (reference §3.2 #4-9; D8-D10, D15)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Path, Query, Request, Response
from pydantic import IPvAnyAddress

from abng.api.context import acting, get_ctx
from abng.api.guard import RoleRouter
from abng.api.models import Anything, InterfaceRequest, RateRequest, SubscriberList, Summary
from abng.api.responses import Envelope, ErrorBody, ok

router = RoleRouter(prefix="/api/v1/subscribers", tags=["subscribers"])

SessionId = Annotated[int, Path(ge=1, le=2**63 - 1, description="session id")]
_404 = {404: {"model": ErrorBody, "description": "No such session"}}


@router.get(
    "",
    role="operator",
    response_model=None,
    responses={200: {"model": Envelope[SubscriberList]}},
    summary="List sessions (filters and paging optional)",
)
async def list_subscribers(
    request: Request,
    type: Annotated[Literal["pppoe", "dhcp"] | None, Query()] = None,
    username: Annotated[str | None, Query(max_length=256)] = None,
    ip: Annotated[IPvAnyAddress | None, Query()] = None,
    interface: Annotated[str | None, Query(max_length=128)] = None,
    state: Annotated[Literal["starting", "active", "terminating"] | None, Query()] = None,
    limit: Annotated[int | None, Query(ge=0, le=1_000_000)] = None,
    offset: Annotated[int | None, Query(ge=0, le=1_000_000_000)] = None,
) -> Response:
    params: dict[str, Any] = {
        "type": type,
        "username": username,
        "ip": str(ip) if ip is not None else None,
        "interface": interface,
        "state": state,
        "limit": limit,
        "offset": offset,
    }
    result = await get_ctx(request).abngd.call(
        "subscribers.list", {k: v for k, v in params.items() if v is not None}
    )
    return ok(result)


@router.get(
    "/summary",
    role="operator",
    response_model=None,
    responses={200: {"model": Envelope[Summary]}},
    summary="Session counts",
)
async def summary(request: Request) -> Response:
    return ok(await get_ctx(request).abngd.summary())


@router.post(
    "/disconnect-by-interface",
    role="admin",
    response_model=None,
    responses={200: {"model": Envelope[Anything]}, **_404},
    summary="Disconnect every session on an access interface",
)
async def disconnect_by_interface(body: InterfaceRequest, request: Request) -> Response:
    request.state.audit = {"interface": body.interface}
    ctx = get_ctx(request)
    result = await ctx.abngd.call(
        "request.subscriber.disconnect_interface", acting(request, {"interface": body.interface})
    )
    ctx.abngd.invalidate()
    return ok(result)


@router.get(
    "/{id}",
    role="operator",
    response_model=None,
    responses={200: {"model": Envelope[Anything]}, **_404},
    summary="One session in detail",
)
async def get_subscriber(id: SessionId, request: Request) -> Response:
    return ok(await get_ctx(request).abngd.call("subscribers.get", {"session_id": id}))


@router.delete(
    "/{id}",
    role="admin",
    response_model=None,
    responses={200: {"model": Envelope[Anything]}, **_404},
    summary="Disconnect a session (reason admin_reset)",
)
async def disconnect(id: SessionId, request: Request) -> Response:
    request.state.audit = {"session_id": id}
    ctx = get_ctx(request)
    result = await ctx.abngd.call("request.subscriber.disconnect", acting(request, {"session_id": id}))
    ctx.abngd.invalidate()
    return ok(result)


@router.put(
    "/{id}/rate",
    role="admin",
    response_model=None,
    responses={200: {"model": Envelope[Anything]}, **_404},
    summary="Change a session's shaping rates",
)
async def change_rate(id: SessionId, body: RateRequest, request: Request) -> Response:
    params: dict[str, Any] = {"session_id": id}
    if body.rate_down is not None:
        params["rate_down"] = body.rate_down
    if body.rate_up is not None:
        params["rate_up"] = body.rate_up
    request.state.audit = dict(params)
    return ok(await get_ctx(request).abngd.call("request.subscriber.rate", acting(request, params)))

"""/api/v1/interfaces, /qos, /routing (reference §3.2 #19-23); lists page with limit/offset."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request, Response

from abng.api.context import get_ctx
from abng.api.guard import RoleRouter
from abng.api.models import Anything
from abng.api.responses import Envelope, ok, page

router = RoleRouter(prefix="/api/v1", tags=["network"])
_DOC = {200: {"model": Envelope[Anything]}}
Limit = Annotated[int | None, Query(ge=0, le=1_000_000)]
Offset = Annotated[int | None, Query(ge=0, le=1_000_000_000)]


async def _listing(
    request: Request, method: str, key: str, limit: int | None, offset: int | None
) -> Response:
    items: Any = await get_ctx(request).abngd.call(method)
    items = items if isinstance(items, list) else []
    return ok({key: page(items, limit, offset), "count": len(items)})


@router.get("/interfaces", role="operator", response_model=None, responses=_DOC, summary="Network interfaces")
async def interfaces(request: Request, limit: Limit = None, offset: Offset = None) -> Response:
    return await _listing(request, "show.interfaces", "interfaces", limit, offset)


@router.get(
    "/interfaces/vlans", role="operator", response_model=None, responses=_DOC, summary="Dynamic VLANs"
)
async def vlans(request: Request, limit: Limit = None, offset: Offset = None) -> Response:
    return await _listing(request, "show.vlans", "vlans", limit, offset)


@router.get("/qos", role="operator", response_model=None, responses=_DOC, summary="Sessions with shaping")
async def qos(request: Request, limit: Limit = None, offset: Offset = None) -> Response:
    return await _listing(request, "show.qos", "sessions", limit, offset)


@router.get(
    "/qos/profiles", role="operator", response_model=None, responses=_DOC, summary="Overhead profiles"
)
async def qos_profiles(request: Request) -> Response:
    return ok(await get_ctx(request).abngd.call("show.qos.profiles"))


@router.get(
    "/routing/bgp/summary", role="operator", response_model=None, responses=_DOC, summary="BGP neighbors"
)
async def bgp_summary(request: Request) -> Response:
    return ok(await get_ctx(request).abngd.call("show.bgp"))

"""/api/v1/webhooks (reference §3.2 #24-26, §3.4; D16): admin only, persisted."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import HTTPException, Path, Query, Request, Response

from abng.api.context import get_ctx
from abng.api.guard import RoleRouter
from abng.api.models import WebhookList, WebhookOut, WebhookRequest
from abng.api.responses import Envelope, ErrorBody, ok, page
from abng.api.webhooks.store import WebhookLimit

router = RoleRouter(prefix="/api/v1/webhooks", tags=["webhooks"])
HookId = Annotated[str, Path(min_length=1, max_length=64)]


@router.post(
    "",
    role="admin",
    response_model=None,
    status_code=200,
    responses={200: {"model": Envelope[WebhookOut]}, 409: {"model": ErrorBody}},
    summary="Register a webhook",
)
async def register(body: WebhookRequest, request: Request) -> Response:
    u = urlsplit(body.url)
    request.state.audit = {"url": f"{u.scheme}://{u.hostname}{u.path}", "events": body.events}
    store = get_ctx(request).webhooks
    try:
        hook = await asyncio.to_thread(store.add, body.url, list(body.events), body.secret, int(time.time()))
    except WebhookLimit as exc:
        raise HTTPException(409, str(exc)) from None
    request.state.audit["id"] = hook.id
    return ok(hook.public())


@router.get(
    "",
    role="admin",
    response_model=None,
    responses={200: {"model": Envelope[WebhookList]}},
    summary="List webhooks",
)
async def list_webhooks(
    request: Request,
    limit: Annotated[int | None, Query(ge=0, le=1000)] = None,
    offset: Annotated[int | None, Query(ge=0, le=1000)] = None,
) -> Response:
    hooks = await asyncio.to_thread(get_ctx(request).webhooks.all)
    items = [h.public() for h in hooks]
    return ok({"webhooks": page(items, limit, offset), "count": len(items)})


@router.delete(
    "/{id}",
    role="admin",
    response_model=None,
    responses={200: {"model": Envelope[dict[str, str | bool]]}, 404: {"model": ErrorBody}},
    summary="Delete a webhook",
)
async def delete(id: HookId, request: Request) -> Response:
    request.state.audit = {"id": id}
    if not await asyncio.to_thread(get_ctx(request).webhooks.delete, id):
        raise HTTPException(404, f"Webhook {id} not found")
    return ok({"id": id, "deleted": True})

"""GET /metrics: Prometheus text, public (D17), no per-subscriber labels."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from abng.api import metrics
from abng.api.backend import AbngdUnavailable
from abng.api.context import get_ctx
from abng.api.guard import RoleRouter
from abng.core.errors import METHOD_NOT_FOUND, RpcError

router = RoleRouter(tags=["metrics"])


async def _version(request: Request) -> Any:
    state = request.app.state
    if getattr(state, "abngd_version", None) is None:
        info = await get_ctx(request).abngd.call("system.version")
        state.abngd_version = info.get("version") if isinstance(info, dict) else None
    return state.abngd_version


async def _abngd_values(request: Request) -> dict[str, Any] | None:
    abngd = get_ctx(request).abngd
    try:
        try:
            values = await abngd.call("metrics.get")
            if isinstance(values, dict) and "version" not in values:
                values = {**values, "version": await _version(request)}
        except RpcError as exc:
            if exc.code != METHOD_NOT_FOUND:
                raise
            values = metrics.from_fallback(await abngd.summary(), await abngd.call("show.system"))
    except (RpcError, AbngdUnavailable):
        return None
    return values if isinstance(values, dict) else None


@router.get(
    "/metrics",
    role="public",
    response_model=None,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format 0.0.4"}},
    summary="Prometheus metrics",
)
async def get_metrics(request: Request) -> Response:
    ctx = get_ctx(request)
    extra: dict[str, float] = {}
    if ctx.dispatcher is not None:
        extra = {f"athenabng_api_webhook_{k}_total": float(v) for k, v in ctx.dispatcher.stats.items()}
    text = metrics.render(await _abngd_values(request), ctx.counters, extra)
    return Response(text, media_type=metrics.CONTENT_TYPE)

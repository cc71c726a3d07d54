"""The FastAPI application, built around an :class:`ApiContext` handed over at start-up."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from abng import __version__
from abng.api import errors
from abng.api.context import ApiContext
from abng.api.guard import RoleRouter, check_routes
from abng.api.middleware import ApiMiddleware
from abng.api.pump import run_events, run_refresh
from abng.api.routers import auth, metrics, network, subscribers, system, webhooks
from abng.api.webhooks.delivery import Dispatcher, acquire_delivery_lock
from abng.core.tasks import TaskSet

log = logging.getLogger("abng.api")

ROUTERS: list[RoleRouter] = [
    auth.router,
    system.health_router,
    subscribers.router,
    system.router,
    network.router,
    webhooks.router,
    metrics.router,
]

DESCRIPTION = """REST API of abng (AthenaBNG-compatible). Get a token with POST /api/v1/auth/login and
send it as `Authorization: Bearer <token>`. `x-abng-role` on each operation says who may call it."""


def create_app(ctx: ApiContext) -> FastAPI:
    check_routes(ROUTERS)
    tasks = TaskSet("abng-api")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        lock_fd = acquire_delivery_lock(ctx.settings.run_dir / "abng-api-webhooks.lock")
        if lock_fd is not None:
            ctx.dispatcher = Dispatcher(ctx.webhooks, ctx.settings.webhooks)
            await ctx.dispatcher.start()
        tasks.spawn("events", run_events(ctx))
        tasks.spawn("users-refresh", run_refresh(ctx))
        try:
            yield
        finally:
            await tasks.close(grace=1.0)
            if ctx.dispatcher is not None:
                await ctx.dispatcher.close()
            if lock_fd is not None:
                os.close(lock_fd)

    app = FastAPI(
        title="abng REST API",
        version=__version__,
        description=DESCRIPTION,
        docs_url="/api/docs",
        redoc_url="/api/redoc",
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
        max_body_size=ctx.settings.max_body,
    )
    app.state.ctx = ctx
    for router in ROUTERS:
        app.include_router(router)
    errors.install(app)
    app.add_middleware(ApiMiddleware, ctx=ctx)
    return app

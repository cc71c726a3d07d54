"""abngd's event stream, consumed by the API.

* ``config_commit`` -> re-read ``auth.users`` at once (D14: removals and downgrades apply now);
* session events -> drop the cached summary, and hand them to the webhook dispatcher when this
  process delivers.

The stream is re-opened with backoff when abngd goes away; users are re-read on every
(re)connect and every ``REFRESH_PERIOD`` seconds as a safety net.
"""

from __future__ import annotations

import asyncio
import logging

from abng.api.auth.users import parse_users
from abng.api.backend import AbngdUnavailable
from abng.api.context import ApiContext
from abng.core.errors import RpcError

log = logging.getLogger("abng.api.events")

EVENTS = ["session_up", "session_down", "rate_change", "config_commit"]
SESSION_EVENTS = frozenset({"session_up", "session_down", "rate_change"})
REFRESH_PERIOD = 10.0


async def refresh_users(ctx: ApiContext) -> None:
    result = await ctx.abngd.call("auth.users")
    generation, users = parse_users(result)
    ctx.users.replace(generation, users)
    if ctx.users.wanted_dummy_cost() != ctx.users.dummy_cost:
        await asyncio.to_thread(ctx.users.ensure_dummy)


async def run_events(ctx: ApiContext) -> None:
    backoff = 0.2
    while True:
        try:
            stream = ctx.abngd.subscribe(EVENTS)
            await refresh_users(ctx)
            async for event in stream:
                backoff = 0.2
                name = event.get("event")
                if name == "config_commit":
                    await refresh_users(ctx)
                elif name in SESSION_EVENTS:
                    ctx.abngd.sessions_changed()
                    if ctx.dispatcher is not None:
                        ctx.dispatcher.submit(event)
        except (OSError, ConnectionError, ValueError, RpcError, AbngdUnavailable) as exc:
            ctx.abngd.reachable = False
            log.warning("abngd event stream lost (%s); retrying in %.1f s", type(exc).__name__, backoff)
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, 5.0)


async def run_refresh(ctx: ApiContext) -> None:
    while True:
        await asyncio.sleep(REFRESH_PERIOD)
        try:
            await refresh_users(ctx)
        except (RpcError, AbngdUnavailable) as exc:
            log.debug("users refresh failed: %s", exc)

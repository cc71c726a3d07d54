"""POST /api/v1/auth/login (seed page; D13 failures, lockout and limits)."""

from __future__ import annotations

import asyncio
import logging
import time

from fastapi import Request, Response

from abng.api.auth.lockout import Locked
from abng.api.auth.passwords import Busy, check_password
from abng.api.context import get_ctx
from abng.api.guard import RoleRouter
from abng.api.models import LoginRequest, TokenResponse
from abng.api.responses import ErrorBody, json_response

log = logging.getLogger("abng.api.auth")
router = RoleRouter(prefix="/api/v1/auth", tags=["auth"])

BAD_CREDENTIALS = "Incorrect username or password"
TOO_MANY = "Too many failed login attempts; try again later"
BUSY = "Too many login attempts in progress; try again shortly"


async def _too_many(delay: float, detail: str, retry_after: int) -> Response:
    """429, answered after ``delay``: a client that keeps hammering a locked name, a blocked
    address or a full bcrypt queue gets at most one answer per second per connection, so a
    storm costs the API next to nothing (the event loop just waits)."""
    if delay > 0:
        await asyncio.sleep(delay)
    return json_response({"detail": detail}, 429, {"Retry-After": str(retry_after)})


@router.post(
    "/login",
    role="public",
    response_model=None,
    summary="Get a bearer token",
    responses={
        200: {"model": TokenResponse},
        401: {"model": ErrorBody, "description": BAD_CREDENTIALS},
        422: {"description": "Invalid input"},
        429: {"model": ErrorBody, "description": "Locked out or rate limited (see Retry-After)"},
    },
)
async def login(body: LoginRequest, request: Request) -> Response:
    ctx = get_ctx(request)
    client = request.client.host if request.client else "-"
    rid = getattr(request.state, "request_id", None)
    username, password = body.username, body.password

    def work() -> tuple[str, Locked | list[Locked] | str]:
        now = time.time()
        locked = ctx.guard.check(username, client, now)
        if locked is not None:
            return "locked", locked
        user = ctx.users.get(username)
        if not ctx.users.dummy_hash:
            ctx.users.ensure_dummy()
        if check_password(password, user.password_hash if user else None, ctx.users.dummy_hash):
            assert user is not None
            ctx.guard.success(username)
            return "ok", user.role
        return "failed", ctx.guard.failure(username, client, time.time())

    audit = {"user": username, "client": client, "request_id": rid}
    known = ctx.guard.cached(username, client, time.time())
    if known is not None:
        ctx.counters.login_failures["locked"] += 1
        ctx.audit.record("login", **audit, status=429, result=f"locked_{known.kind}")
        return await _too_many(ctx.settings.login.tarpit, TOO_MANY, known.retry_after)
    try:
        outcome, info = await ctx.checker.run(work)
    except Busy:
        ctx.counters.login_failures["busy"] += 1
        ctx.audit.record("login", **audit, status=429, result="busy")
        return await _too_many(ctx.settings.login.tarpit, BUSY, 1)
    if outcome == "ok":
        assert isinstance(info, str)
        token = ctx.tokens.issue(username, info)
        ctx.audit.record("login", **audit, role=info, status=200, result="ok")
        return json_response({"access_token": token, "token_type": "bearer"})
    if outcome == "locked":
        assert isinstance(info, Locked)
        ctx.counters.login_failures["locked"] += 1
        ctx.audit.record("login", **audit, status=429, result=f"locked_{info.kind}")
        return await _too_many(0.0, TOO_MANY, info.retry_after)
    assert isinstance(info, list)
    ctx.counters.login_failures["bad_credentials"] += 1
    ctx.audit.record("login", **audit, status=401, result="bad_credentials")
    for lock in info:
        log.warning("login lockout: %s locked for %d s", lock.kind, lock.retry_after)
        ctx.audit.record("lockout", **audit, kind=lock.kind, seconds=lock.retry_after)
    return json_response({"detail": BAD_CREDENTIALS}, 401, {"WWW-Authenticate": "Bearer"})

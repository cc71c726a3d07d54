"""One pure-ASGI middleware: request ids, request counters and the audit of mutating calls.

Every response carries ``X-Request-ID`` (the client's, when it sent a sane one).  Counters
are labelled by method, route template (never the raw path) and status.  Every request that
is not GET/HEAD/OPTIONS is written to the audit log with who, from where, what and the result;
logins are audited by their route with more detail.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from abng.api.context import ApiContext

_RID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_READ_ONLY = frozenset({"GET", "HEAD", "OPTIONS"})
LOGIN_PATH = "/api/v1/auth/login"


def _template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class ApiMiddleware:
    def __init__(self, app: ASGIApp, ctx: ApiContext) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                candidate = value.decode("latin-1")
                rid = candidate if _RID_RE.match(candidate) else ""
                break
        rid = rid or uuid.uuid4().hex
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = rid
        status = 500
        rid_header = (b"x-request-id", rid.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), rid_header]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            method = scope["method"]
            template = _template(scope)
            self.ctx.counters.requests[(method, template, status)] += 1
            if scope["path"] == LOGIN_PATH:
                if status == 422:  # refused before the login route ran: still an attempt
                    client = scope.get("client")
                    self.ctx.audit.record(
                        "login", request_id=rid, client=client[0] if client else None, status=422,
                        result="invalid_request",
                    )  # fmt: skip
            elif method not in _READ_ONLY:
                self._audit(scope, state, method, template, status, rid)

    def _audit(
        self, scope: Scope, state: dict[str, Any], method: str, template: str, status: int, rid: str
    ) -> None:
        principal = state.get("principal")
        client = scope.get("client")
        self.ctx.audit.record(
            "call",
            request_id=rid,
            user=getattr(principal, "username", None),
            role=getattr(principal, "role", None),
            client=client[0] if client else None,
            method=method,
            path=scope["path"],
            route=template,
            params=state.get("audit"),
            status=status,
            result="ok" if status < 400 else "error",
        )

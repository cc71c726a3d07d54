"""Deny by default: a route cannot be registered without saying who may call it.

:class:`RoleRouter` replaces ``add_api_route`` and the verb decorators with versions whose
``role`` argument is required (``"public"``, ``"operator"`` or ``"admin"``).  For a protected
role it adds the :class:`~abng.api.auth.dependency.Bearer` dependency and documents 401, 403,
422, 429 and 503.  Plain Starlette routes and websockets cannot be added at all.
:func:`check_routes` re-verifies every route of the routers at start-up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.routing import APIRoute

from abng.api.auth.dependency import BY_ROLE, Bearer
from abng.api.responses import ErrorBody

PUBLIC = "public"
ROLES = (PUBLIC, "operator", "admin")
ROLE_KEY = "x-abng-role"

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "Missing, malformed, expired or unknown token"},
    403: {"model": ErrorBody, "description": "Admin role required"},
    422: {"description": "Invalid input"},
    429: {"model": ErrorBody, "description": "Too many requests (see Retry-After)"},
    503: {"model": ErrorBody, "description": "abngd or the subsystem is not available"},
}

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


class RoleRouter(APIRouter):
    def add_api_route(  # type: ignore[override]
        self, path: str, endpoint: Callable[..., Any], *, role: str, **kwargs: Any
    ) -> None:
        if role not in ROLES:
            raise ValueError(f"route {path}: role must be one of {ROLES}, not {role!r}")
        dependencies = list(kwargs.pop("dependencies", None) or [])
        responses = dict(kwargs.pop("responses", None) or {})
        extra = dict(kwargs.pop("openapi_extra", None) or {})
        extra[ROLE_KEY] = role
        if role != PUBLIC:
            dependencies.insert(0, Depends(BY_ROLE[role]))
            for code, spec in _ERRORS.items():
                responses.setdefault(code, spec)
        super().add_api_route(
            path, endpoint, dependencies=dependencies, responses=responses, openapi_extra=extra, **kwargs
        )

    def api_route(self, path: str, *, role: str, **kwargs: Any) -> Decorator:  # type: ignore[override]
        def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
            self.add_api_route(path, func, role=role, **kwargs)
            return func

        return decorator

    def get(self, path: str, *, role: str, **kwargs: Any) -> Decorator:  # type: ignore[override]
        return self.api_route(path, role=role, methods=["GET"], **kwargs)

    def post(self, path: str, *, role: str, **kwargs: Any) -> Decorator:  # type: ignore[override]
        return self.api_route(path, role=role, methods=["POST"], **kwargs)

    def put(self, path: str, *, role: str, **kwargs: Any) -> Decorator:  # type: ignore[override]
        return self.api_route(path, role=role, methods=["PUT"], **kwargs)

    def delete(self, path: str, *, role: str, **kwargs: Any) -> Decorator:  # type: ignore[override]
        return self.api_route(path, role=role, methods=["DELETE"], **kwargs)

    def patch(self, path: str, *, role: str, **kwargs: Any) -> Decorator:  # type: ignore[override]
        return self.api_route(path, role=role, methods=["PATCH"], **kwargs)

    def add_route(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("RoleRouter: plain routes bypass the role rule; use add_api_route(role=...)")

    def add_api_websocket_route(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("RoleRouter: websocket routes are not supported")


def check_routes(routers: Iterable[APIRouter]) -> int:
    """Raise if any route lacks a role or its guard; return how many routes were checked."""
    count = 0
    for router in routers:
        if not isinstance(router, RoleRouter):
            raise TypeError(f"{router!r} is not a RoleRouter")
        for route in router.routes:
            if not isinstance(route, APIRoute):
                raise TypeError(f"route {route!r} is not an APIRoute")
            role = (route.openapi_extra or {}).get(ROLE_KEY)
            guards = [d.dependency for d in route.dependencies if isinstance(d.dependency, Bearer)]
            if role not in ROLES or (role != PUBLIC and [g.role for g in guards] != [role]):
                raise TypeError(f"route {route.path} has no role rule")
            count += 1
    return count

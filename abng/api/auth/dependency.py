"""The one authentication dependency (``async def``, MACHINE §4) and the role rule (D12, D14).

``Bearer("operator")`` admits any valid user, ``Bearer("admin")`` only admins.  The user named
by ``sub`` must exist in the running config now; the effective role is the lower of the
token's and the config's, so a downgrade or removal takes effect at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import HTTPException, Request
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.security.base import SecurityBase

from abng.api.auth.tokens import InvalidToken
from abng.api.auth.users import ROLE_RANK

if TYPE_CHECKING:
    from abng.api.context import ApiContext

UNAUTHORIZED = "Could not validate credentials"
FORBIDDEN = "Admin role required"
_WWW = {"WWW-Authenticate": "Bearer"}


@dataclass(frozen=True, slots=True)
class Principal:
    username: str
    role: str


def unauthorized() -> HTTPException:
    return HTTPException(status_code=401, detail=UNAUTHORIZED, headers=_WWW)


class Bearer(SecurityBase):
    def __init__(self, role: str) -> None:
        if role not in ROLE_RANK:
            raise ValueError(f"unknown role {role!r}")
        self.role = role
        self.rank = ROLE_RANK[role]
        self.model = HTTPBearerModel(bearerFormat="JWT")
        self.scheme_name = "bearer"

    async def __call__(self, request: Request) -> Principal:
        header = request.headers.get("authorization")
        if header is None:
            raise unauthorized()
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise unauthorized()
        ctx: ApiContext = request.app.state.ctx
        try:
            claims = ctx.tokens.verify(token)
        except InvalidToken:
            raise unauthorized() from None
        user = ctx.users.get(claims.sub)
        if user is None:
            raise unauthorized()
        role = claims.role if ROLE_RANK[claims.role] <= ROLE_RANK[user.role] else user.role
        principal = Principal(user.username, role)
        request.state.principal = principal
        if ROLE_RANK[role] < self.rank:
            raise HTTPException(status_code=403, detail=FORBIDDEN)
        return principal


OPERATOR = Bearer("operator")
ADMIN = Bearer("admin")
BY_ROLE = {"operator": OPERATOR, "admin": ADMIN}

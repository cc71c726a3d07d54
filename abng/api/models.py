"""Request bodies and documented response shapes (reference §3.2; the bodies the docs left out
are our choice, see docs/api.md).  Unknown fields are refused (422)."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator, model_validator

from abng.api.webhooks.events import EVENT_NAMES
from abng.api.webhooks.signing import secret_key
from abng.config.rates import RateError, parse_rate


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginRequest(Strict):
    username: Annotated[str, Field(min_length=1, max_length=256)]
    password: Annotated[str, Field(max_length=1024)]


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105


Rate = Annotated[int | str, Field(description="bps as an integer, or '<number>(kbit|mbit|gbit)'")]


class RateRequest(Strict):
    rate_down: Rate | None = None
    rate_up: Rate | None = None

    @field_validator("rate_down", "rate_up")
    @classmethod
    def _rate(cls, value: int | str | None) -> int | None:
        if value is None:
            return None
        try:
            return parse_rate(value)
        except RateError as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _one(self) -> RateRequest:
        if self.rate_down is None and self.rate_up is None:
            raise ValueError("give rate_down, rate_up or both")
        return self


InterfaceName = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:@-]+$")]


class InterfaceRequest(Strict):
    interface: InterfaceName


ConfigPath = Annotated[
    str
    | Annotated[
        list[Annotated[str, Field(min_length=1, max_length=128)]], Field(min_length=1, max_length=32)
    ],
    Field(description='"routing bgp asn" (CLI style), "routing.bgp.asn", or ["routing","bgp","asn"]'),
]


def _path_ok(value: str | list[str]) -> str | list[str]:
    if isinstance(value, str) and not (0 < len(value.strip()) <= 512):
        raise ValueError("path must be 1..512 characters")
    return value


class ConfigSetRequest(Strict):
    path: ConfigPath
    value: JsonValue

    _check = field_validator("path")(_path_ok)


class ConfigDeleteRequest(Strict):
    path: ConfigPath

    _check = field_validator("path")(_path_ok)


class RollbackRequest(Strict):
    n: Annotated[int, Field(ge=0, le=49)]


class CommitRequest(Strict):
    comment: Annotated[str | None, Field(max_length=256)] = None
    check: bool = False


class WebhookRequest(Strict):
    url: Annotated[str, Field(min_length=1, max_length=2048)]
    events: Annotated[list[Literal["session.up", "session.down", "session.rate_change"]], Field(min_length=1)]
    secret: Annotated[str | None, Field(min_length=8, max_length=256)] = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("url must be an http:// or https:// URL with a host")
        if any(c.isspace() for c in value):
            raise ValueError("url must not contain spaces")
        try:
            _ = parts.port
        except ValueError:
            raise ValueError("url has an invalid port") from None
        return value

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str]) -> list[str]:
        assert all(v in EVENT_NAMES for v in value)
        return list(dict.fromkeys(value))

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: str | None) -> str | None:
        if value is not None:
            secret_key(value)  # raises ValueError for a bad whsec_ value
        return value


# ---- documented response shapes (OpenAPI only; routes return ready JSON) -------------------
class SubscriberItem(BaseModel):
    id: int
    type: Literal["PPPoE", "DHCP"]
    username: str
    ip_address: str | None
    interface: str
    rate_down: int | None
    rate_up: int | None
    state: str
    started_at: int


class SubscriberList(BaseModel):
    sessions: list[SubscriberItem]
    count: int = Field(description="sessions matching the filters (before limit/offset)")


class Summary(BaseModel):
    total: int
    pppoe: int
    dhcp: int


class WebhookOut(BaseModel):
    id: str
    url: str
    events: list[str]
    signed: bool


class WebhookList(BaseModel):
    webhooks: list[WebhookOut]
    count: int


class Health(BaseModel):
    status: str


Anything = dict[str, Any]

"""The success envelope ``{"status":"ok","data":...}`` (D12), serialized once, fast.

Routes return :func:`ok` (a ready ``Response``) so FastAPI does not re-encode large lists;
their OpenAPI shapes are declared with :func:`envelope` models.
"""

from __future__ import annotations

import json
from typing import Any, Generic, Literal, TypeVar

from fastapi import Response
from pydantic import BaseModel

T = TypeVar("T")


class Envelope(BaseModel, Generic[T]):
    status: Literal["ok"] = "ok"
    data: T


class ErrorBody(BaseModel):
    detail: str


_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def ok(data: Any, status_code: int = 200) -> Response:
    body = _dumps({"status": "ok", "data": data}).encode()
    return Response(content=body, status_code=status_code, media_type="application/json")


def json_response(obj: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        content=_dumps(obj).encode(), status_code=status_code, media_type="application/json", headers=headers
    )


def page(items: list[Any], limit: int | None, offset: int | None) -> list[Any]:
    """D15 paging for lists abngd returns whole."""
    start = offset or 0
    return items[start : start + limit] if limit is not None else items[start:]

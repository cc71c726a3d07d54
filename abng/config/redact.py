"""Secret redaction (DECISIONS.md D20): every value the schema marks ``secret`` becomes
``"********"`` wherever configuration leaves abngd.

Driven by the schema (``field(..., secret=True)``).  Keys the schema does not know (a config
that does not validate yet, e.g. a candidate being edited) are masked when their name looks
secret, so that an invalid candidate never leaks either.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from abng.config.introspect import type_node
from abng.config.types import SECRET_MASK

_SECRETISH = re.compile(r"secret|password|passwd|community|token|private", re.IGNORECASE)


def _is_secret(info: Any) -> bool:
    extra = info.json_schema_extra
    return isinstance(extra, dict) and bool(extra.get("secret"))


def redact(data: Any) -> Any:
    """Return a deep copy of a configuration dict (or a Config model) with secrets masked."""
    if isinstance(data, BaseModel):
        data = data.model_dump(mode="json")
    from abng.config.schema import Config

    return _walk(data, {"kind": "object", "model": Config})


def redact_section(data: Any, tokens: list[str]) -> Any:
    """Redact a sub-tree found at ``tokens`` (e.g. ``show configuration radius``)."""
    from abng.config.introspect import PathError, node_at

    try:
        node = node_at(tokens)
    except PathError:
        node = {"kind": "unknown"}
    return _walk(data, node)


def _walk(value: Any, node: dict[str, Any]) -> Any:
    kind = node.get("kind")
    if kind == "object" and isinstance(value, dict):
        model: type[BaseModel] = node["model"]
        out: dict[str, Any] = {}
        for key, item in value.items():
            info = model.model_fields.get(key)
            if info is None:
                out[key] = _mask(item) if _SECRETISH.search(str(key)) else _walk(item, {"kind": "unknown"})
            elif _is_secret(info):
                out[key] = _mask(item)
            else:
                out[key] = _walk(item, type_node(info.annotation))
        return out
    if kind == "list" and isinstance(value, list):
        return [_walk(v, node["item"]) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: _walk(v, node["item"]) for k, v in value.items()}
    if isinstance(value, dict):
        return {
            k: _mask(v) if _SECRETISH.search(str(k)) else _walk(v, {"kind": "unknown"})
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_walk(v, {"kind": "unknown"}) for v in value]
    return value


def _mask(value: Any) -> Any:
    if value is None or value == "":
        return value
    return SECRET_MASK


def redact_pair(old: Any, new: Any) -> tuple[Any, Any]:
    """Both configurations redacted for a diff (``config.compare``): a secret that differs
    between them reads ``"******** (changed)"`` on the new side, so the change shows without
    the value."""
    red_old, red_new = redact(old), redact(new)
    raw_old, raw_new = dict(_leaves(old)), dict(_leaves(new))
    for path, value in _leaves(red_new):
        if value == SECRET_MASK and raw_old.get(path) != raw_new.get(path):
            _put(red_new, path, f"{SECRET_MASK} (changed)")
    return red_old, red_new


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in _leaves(v, (*path, k))]
    if isinstance(value, list):
        return [leaf for i, v in enumerate(value) for leaf in _leaves(v, (*path, i))]
    return [(path, value)]


def _put(tree: Any, path: tuple[Any, ...], value: Any) -> None:
    for key in path[:-1]:
        tree = tree[key]
    tree[path[-1]] = value

"""Schema introspection for the CLI (completion, ``?`` help) and the API (STYLE.md §8).

Every node of the configuration tree is described by a plain dict:

``{"path", "kind", "description", "default", "required", "nullable", "secret", "enum", ...}``

``kind`` is one of ``object`` (has ``children``), ``list`` and ``map`` (have ``item``), or a leaf
kind: ``bool``, ``int``, ``float``, ``string``, ``ipv4``, ``ipv4-network``, ``enum``.
"""

from __future__ import annotations

import difflib
import types
import typing
from functools import cache
from ipaddress import IPv4Address, IPv4Network
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from abng.config.types import format_of

LEAF_KINDS = ("bool", "int", "float", "string", "ipv4", "ipv4-network", "enum")


class PathError(ValueError):
    """A configuration path that does not exist in the schema."""


def _root() -> type[BaseModel]:
    from abng.config.schema import Config

    return Config


def _unwrap(tp: Any) -> tuple[Any, bool, list[Any]]:
    """Strip Annotated and Optional; return (type, nullable, Annotated metadata)."""
    nullable = False
    metadata: list[Any] = []
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            args = typing.get_args(tp)
            for meta in args[1:]:
                metadata.extend(meta.metadata if isinstance(meta, FieldInfo) else [meta])
            tp = args[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(tp) if a is not type(None)]
            nullable = nullable or len(members) != len(typing.get_args(tp))
            if len(members) != 1:
                return tp, nullable, metadata
            tp = members[0]
        else:
            return tp, nullable, metadata


def type_node(tp: Any) -> dict[str, Any]:
    """Describe a type annotation (without field metadata)."""
    tp, nullable, metadata = _unwrap(tp)
    origin = typing.get_origin(tp)
    node: dict[str, Any]
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        node = {"kind": "object", "model": tp}
    elif origin is list:
        node = {"kind": "list", "item": type_node(typing.get_args(tp)[0])}
    elif origin is dict:
        node = {"kind": "map", "item": type_node(typing.get_args(tp)[1])}
    elif origin is Literal:
        node = {"kind": "enum", "enum": list(typing.get_args(tp))}
    elif tp is bool:
        node = {"kind": "bool"}
    elif tp is int:
        node = {"kind": "int"}
    elif tp is float:
        node = {"kind": "float"}
    elif tp is IPv4Address:
        node = {"kind": "ipv4"}
    elif tp is IPv4Network:
        node = {"kind": "ipv4-network"}
    else:
        node = {"kind": "string"}
    node["nullable"] = nullable
    node.update(_constraints(metadata))
    label = format_of(metadata)
    if label is not None:
        node["format"] = label
    return node


def _constraints(metadata: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for meta in metadata:
        for attr in ("ge", "le", "gt", "lt", "min_length", "max_length", "pattern"):
            value = getattr(meta, attr, None)
            if value is not None:
                out[attr] = value
    return out


def _default(info: FieldInfo) -> Any:
    if info.default is not PydanticUndefined:
        value = info.default
    elif info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
    else:
        return None
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {k: v.model_dump(mode="json") if isinstance(v, BaseModel) else v for k, v in value.items()}
    if isinstance(value, IPv4Address | IPv4Network):
        return str(value)
    return value


def field_node(name: str, info: FieldInfo) -> dict[str, Any]:
    node = type_node(info.annotation)
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    node.update(
        name=name,
        description=info.description or "",
        required=info.is_required(),
        default=_default(info),
        secret=bool(extra.get("secret", False)),
    )
    node.update(_constraints(info.metadata))
    label = format_of(info.metadata)
    if label is not None:
        node["format"] = label
    return node


@cache
def model_field_node(model: type[BaseModel], name: str) -> dict[str, Any]:
    """:func:`field_node` of ``model.name``, cached (treat the result as read-only)."""
    return field_node(name, model.model_fields[name])


def _public(node: dict[str, Any], path: list[str], depth: int) -> dict[str, Any]:
    """Turn an internal node into JSON-friendly output (children expanded to ``depth``)."""
    out = {k: v for k, v in node.items() if k not in ("model", "item")}
    out["path"] = ".".join(path)
    if node["kind"] == "object":
        model: type[BaseModel] = node["model"]
        if depth > 0:
            out["children"] = [
                _public(field_node(n, f), [*path, n], depth - 1) for n, f in model.model_fields.items()
            ]
        else:
            out["children"] = [
                {"name": n, "kind": type_node(f.annotation)["kind"], "description": f.description or ""}
                for n, f in model.model_fields.items()
            ]
    elif node["kind"] in ("list", "map"):
        item = dict(node["item"])
        item.setdefault("description", node.get("description", ""))
        out["item"] = _public(item, [*path, "*"], depth - 1 if depth > 0 else 0)
    return out


def _resolve(tokens: list[str]) -> tuple[dict[str, Any], list[str]]:
    node: dict[str, Any] = {"kind": "object", "model": _root(), "description": "abng configuration"}
    walked: list[str] = []
    for token in tokens:
        kind = node["kind"]
        if kind == "object":
            model: type[BaseModel] = node["model"]
            info = model.model_fields.get(token)
            if info is None:
                hint = difflib.get_close_matches(token, list(model.model_fields), n=1, cutoff=0.6)
                where = ".".join(walked) or "the top level"
                extra = f" (did you mean {hint[0]!r}?)" if hint else ""
                raise PathError(f"unknown key {token!r} at {where}{extra}")
            node = field_node(token, info)
        elif kind == "list":
            if not token.isdigit():
                raise PathError(f"{'.'.join(walked)} is a list: expected an index, got {token!r}")
            node = dict(node["item"], description=node.get("description", ""), name=token)
        elif kind == "map":
            node = dict(node["item"], description=node.get("description", ""), name=token)
        else:
            raise PathError(f"{'.'.join(walked)} is a value, not a section: unexpected {token!r}")
        walked.append(token)
    return node, walked


def node_at(tokens: list[str]) -> dict[str, Any]:
    """Internal node for a path (keeps the pydantic model under ``model``); raises PathError."""
    return _resolve(tokens)[0]


def model_at(tokens: list[str]) -> type[BaseModel] | None:
    """The model class at a path, or None when the path is not an object (or does not exist)."""
    try:
        node = node_at(tokens)
    except PathError:
        return None
    return node.get("model") if node["kind"] == "object" else None


def describe_path(tokens: list[str]) -> dict[str, Any]:
    """Describe one node: kind, description, default, constraints, enum, secret, direct children."""
    node, walked = _resolve(tokens)
    return _public(node, walked, 0)


@cache
def _tree() -> dict[str, Any]:
    return _public({"kind": "object", "model": _root(), "description": "abng configuration"}, [], 64)


def schema_tree() -> dict[str, Any]:
    """The whole schema as nested nodes (for ``config.schema`` and CLI completion)."""
    return _tree()


def config_json_schema() -> dict[str, Any]:
    """JSON Schema of the configuration (pydantic's, with ``secret`` markers)."""
    return _root().model_json_schema()


def is_secret_path(tokens: list[str]) -> bool:
    try:
        return bool(node_at(tokens).get("secret", False))
    except PathError:
        return False


def completions(tokens: list[str], data: Any = None) -> list[dict[str, str]]:
    """What may follow ``tokens`` in ``set``/``delete``/``show`` (CLI tab completion and ``?``).

    ``data`` is the configuration being edited (the candidate dict), used to offer the list
    indexes and map keys that exist.  Each suggestion is ``{name, kind, description}``; a
    placeholder such as ``<value>`` or ``<name>`` stands for free input.
    """
    node = node_at(tokens)
    here: Any = data
    for token in tokens:
        if isinstance(here, dict):
            here = here.get(token)
        elif isinstance(here, list) and token.isdigit() and int(token) < len(here):
            here = here[int(token)]
        else:
            here = None
    kind = node["kind"]
    desc = node.get("description", "")
    if kind == "object":
        model: type[BaseModel] = node["model"]
        return [
            {"name": n, "kind": type_node(f.annotation)["kind"], "description": f.description or ""}
            for n, f in model.model_fields.items()
        ]
    if kind == "list":
        count = len(here) if isinstance(here, list) else 0
        out = [{"name": str(i), "kind": node["item"]["kind"], "description": desc} for i in range(count)]
        out.append({"name": str(count), "kind": node["item"]["kind"], "description": "new entry"})
        if node["item"]["kind"] != "object":
            out.append({"name": "<value>", "kind": node["item"]["kind"], "description": "add a value"})
        return out
    if kind == "map":
        keys = list(here) if isinstance(here, dict) else []
        default = node.get("default")
        keys += [k for k in (default if isinstance(default, dict) else {}) if k not in keys]
        out = [{"name": str(k), "kind": node["item"]["kind"], "description": desc} for k in keys]
        out.append({"name": "<name>", "kind": node["item"]["kind"], "description": "new entry"})
        return out
    if kind == "enum":
        return [{"name": str(v), "kind": "enum", "description": desc} for v in node["enum"]]
    if kind == "bool":
        return [{"name": v, "kind": "bool", "description": desc} for v in ("true", "false")]
    return [{"name": f"<{node.get('format') or kind}>", "kind": kind, "description": desc}]

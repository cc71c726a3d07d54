"""Editing a configuration dict by path (``set`` / ``delete``) and diffing two configurations.

Paths are space-separated tokens as typed in the CLI (``routing bgp asn``); a dotted string
(``routing.bgp.asn``) or a list of tokens is accepted too.  List elements are addressed by
index; the next free index appends.  Values typed in the CLI are strings and are converted by
the schema's type at that path; JSON values (from the API) are used as they are.
"""

from __future__ import annotations

import copy
import difflib
import json
import re
from typing import Any, TypeVar, cast

import yaml
from pydantic import BaseModel

from abng.config.introspect import PathError, model_field_node, node_at

_T = TypeVar("_T")
_Dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_TRUE = {"true", "yes", "on", "1", "enable", "enabled"}
_FALSE = {"false", "no", "off", "0", "disable", "disabled"}


def split_path(path: str | list[str] | tuple[str, ...]) -> list[str]:
    if isinstance(path, list | tuple):
        tokens = [str(t) for t in path]
    else:
        tokens = path.split()
        if len(tokens) == 1 and "." in tokens[0]:
            tokens = tokens[0].split(".")
    if any(t == "" for t in tokens):
        raise PathError("empty path element")
    return tokens


def _unquote(text: str) -> str:
    t = text.strip()
    if len(t) >= 2 and t[0] == t[-1] == '"':
        try:
            value = json.loads(t)
        except json.JSONDecodeError:
            return t[1:-1]
        return value if isinstance(value, str) else t[1:-1]
    return t


def _junos_list(text: str) -> list[str] | None:
    """``[ 111 112 ]`` or ``[pap, chap]`` -> the words; None when it is not that shape."""
    if not (text.startswith("[") and text.endswith("]")):
        return None
    inner = text[1:-1].replace(",", " ").strip()
    if any(c in inner for c in '[]{}"'):
        return None
    return inner.split()


def coerce(node: dict[str, Any], value: Any) -> Any:
    """Convert a CLI string to the type the schema expects at ``node``; other values pass."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    kind = node["kind"]
    if kind in ("list", "map", "object"):
        if text[:1] in ("[", "{"):
            try:
                return json.loads(text)
            except json.JSONDecodeError as exc:
                if kind == "list" and node["item"]["kind"] not in ("list", "map", "object"):
                    words = _junos_list(text)
                    if words is not None:  # JunOS style: [ 111 112 ]
                        return [coerce(node["item"], w) for w in words]
                raise PathError(f"invalid JSON value: {exc.msg}") from None
        return _unquote(text)
    if kind == "bool":
        low = text.lower()
        return True if low in _TRUE else False if low in _FALSE else text
    if kind == "int" and re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    if kind == "float" and re.fullmatch(r"[+-]?\d+(\.\d*)?", text):
        return float(text)
    return _unquote(text)


def set_value(data: dict[str, Any], path: str | list[str], value: Any) -> Any:
    """Set ``value`` at ``path`` in ``data`` (in place); return the value stored.

    Setting a list field to a scalar appends it (JunOS leaf-list behaviour) unless present.
    """
    tokens = split_path(path)
    if not tokens:
        raise PathError("set needs a path")
    node = node_at(tokens)
    stored = coerce(node, value)
    if node["kind"] == "list" and not isinstance(stored, list):
        stored = coerce(node["item"], stored)
        container = _walk(data, tokens, create=True)
        current = _get(container, tokens[-1])
        items = list(current) if isinstance(current, list) else []
        if stored not in items:
            items.append(stored)
        stored = items
    container = _walk(data, tokens, create=True)
    _put(container, tokens, stored)
    return stored


def delete_value(data: dict[str, Any], path: str | list[str]) -> None:
    """Remove the key or list element at ``path``; raise PathError when it is not there."""
    tokens = split_path(path)
    if not tokens:
        raise PathError("delete needs a path")
    if len(tokens) >= 2:
        # 'delete demux profiles 0 outer_vlans 112' removes one value from a leaf-list
        try:
            parent = node_at(tokens[:-1])
        except PathError:
            parent = None
        if parent is not None and parent["kind"] == "list" and parent["item"]["kind"] != "object":
            container = _walk(data, tokens[:-1], create=False)
            current = _get(container, tokens[-2])
            target = coerce(parent["item"], tokens[-1])
            if isinstance(current, list) and target in current:  # a value wins over an index
                current.remove(target)
                return
    node_at(tokens)  # unknown keys are errors even for delete
    container = _walk(data, tokens, create=False)
    key = tokens[-1]
    if isinstance(container, list):
        idx = int(key)
        if idx >= len(container):
            raise PathError(f"nothing to delete at {'.'.join(tokens)}")
        del container[idx]
    elif isinstance(container, dict) and key in container:
        del container[key]
    else:
        raise PathError(f"nothing to delete at {'.'.join(tokens)}")


def _get(container: Any, key: str) -> Any:
    if isinstance(container, list):
        idx = int(key)
        return container[idx] if idx < len(container) else None
    return container.get(key) if isinstance(container, dict) else None


def _put(container: Any, tokens: list[str], value: Any) -> None:
    key = tokens[-1]
    if isinstance(container, list):
        idx = int(key)
        if idx == len(container):
            container.append(value)
        elif idx < len(container):
            container[idx] = value
        else:
            raise PathError(f"{'.'.join(tokens)}: index {idx} is past the end (next is {len(container)})")
    else:
        container[key] = value


def _walk(data: dict[str, Any], tokens: list[str], *, create: bool) -> Any:
    """Return the container holding the last token, creating sections on the way if asked."""
    cur: Any = data
    for depth, token in enumerate(tokens[:-1]):
        here = ".".join(tokens[: depth + 1])
        nxt_is_list = node_at(tokens[: depth + 1])["kind"] == "list"
        if isinstance(cur, list):
            idx = int(token)
            if idx < len(cur):
                child = cur[idx]
            elif idx == len(cur) and create:
                child = [] if nxt_is_list else {}
                cur.append(child)
            elif create:
                raise PathError(f"{here}: index {idx} is past the end (next is {len(cur)})")
            else:
                raise PathError(f"nothing at {here}")
        elif isinstance(cur, dict):
            child = cur.get(token)
            if child is None:
                if not create:
                    raise PathError(f"nothing at {here}")
                child = _seed(tokens[:depth], token, nxt_is_list)
                cur[token] = child
        else:
            raise PathError(f"{here} is not a section")
        if not isinstance(child, dict | list):
            if not create:
                raise PathError(f"{here} is a value, not a section")
            child = [] if nxt_is_list else {}
            _put(cur, tokens[: depth + 1], child)
        cur = child
    return cur


def _seed(parent: list[str], key: str, is_list: bool) -> Any:
    """A new container; an entry of a map with built-in defaults starts as its default
    (``set qos overhead_profiles pppoe_qinq mpu 60`` keeps the built-in overhead)."""
    node = node_at(parent)
    default = node.get("default") if node["kind"] == "map" else None
    if isinstance(default, dict) and isinstance(default.get(key), dict):
        return copy.deepcopy(default[key])
    return [] if is_list else {}


# --- diffs ----------------------------------------------------------------------------------------


def plain_copy(value: _T) -> _T:
    """Deep copy of parsed configuration data (dicts, lists, immutable scalars): faster than
    :func:`copy.deepcopy` because it keeps no memo."""
    return cast(_T, _plain_copy(value))


def _plain_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_copy(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return copy.deepcopy(value)


def changed_paths(old: Any, new: Any) -> list[str]:
    """Dotted paths of every leaf that differs between two configurations (models or dicts).

    Lists of scalars are compared whole; lists of objects element by element; an added or
    removed element or map entry is reported by its own path (``radius.servers.1``).
    """
    out: list[str] = []
    _diff(_plain(old), _plain(new), [], out)
    return out


def _diff(a: Any, b: Any, path: list[str], out: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            if key not in a or key not in b:
                out.append(".".join([*path, str(key)]))
            else:
                _diff(a[key], b[key], [*path, str(key)], out)
        return
    objects = isinstance(a, list) and isinstance(b, list) and any(isinstance(x, dict) for x in a + b)
    if objects:
        for i in range(max(len(a), len(b))):
            if i >= len(a) or i >= len(b):
                out.append(".".join([*path, str(i)]))
            else:
                _diff(a[i], b[i], [*path, str(i)], out)
        return
    if a != b:
        out.append(".".join(path))


def dump_yaml(data: dict[str, Any]) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True)


def unified_diff(old: dict[str, Any], new: dict[str, Any], old_name: str, new_name: str) -> str:
    """Unified diff of two configurations rendered as YAML; empty when they are equal."""
    if old == new:
        return ""
    lines = difflib.unified_diff(
        dump_yaml(old).splitlines(keepends=True),
        dump_yaml(new).splitlines(keepends=True),
        fromfile=old_name,
        tofile=new_name,
    )
    return "".join(lines)


def canonical(data: Any, tokens: list[str] | None = None) -> Any:
    """A copy of ``data`` whose mapping keys follow the schema's field order (unknown keys last)."""
    path = tokens or []
    try:
        node = node_at(path)
    except PathError:
        return data
    return _canon(data, node)


def _canon(value: Any, node: dict[str, Any]) -> Any:
    kind = node.get("kind")
    if kind == "object" and isinstance(value, dict):
        model: type[BaseModel] = node["model"]
        order = list(model.model_fields)
        keys = [k for k in order if k in value] + [k for k in value if k not in model.model_fields]
        out = {}
        for k in keys:
            known = k in model.model_fields
            out[k] = _canon(value[k], model_field_node(model, k)) if known else value[k]
        return out
    if kind == "list" and isinstance(value, list):
        return [_canon(v, node["item"]) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: _canon(v, node["item"]) for k, v in value.items()}
    return value

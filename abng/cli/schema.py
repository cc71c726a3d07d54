"""Walking the configuration schema (the ``config.schema`` RPC tree) for parsing and completion.

The tree is :func:`abng.config.introspect.schema_tree` as abngd sends it: nodes with ``kind``
(``object`` with ``children``, ``list``/``map`` with ``item``, or a leaf kind) and ``name``,
``description``, constraints (``ge``, ``le``, ``min_length``...), ``enum``, ``format``.  Nothing
here is a hand-kept list of keys: a key added to the schema is completed, abbreviated and
validated by the CLI at once.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

LEAF_KINDS = frozenset({"bool", "int", "float", "string", "ipv4", "ipv4-network", "enum"})
_TRUE_FALSE = ("true", "false", "yes", "no", "on", "off", "enable", "enabled", "disable", "disabled")


class SchemaPathError(ValueError):
    """A path that does not fit the schema; ``index`` is the offending token."""

    def __init__(self, message: str, index: int) -> None:
        super().__init__(message)
        self.index = index


@dataclass
class Walk:
    """Result of walking path tokens: the canonical path, the node reached, what is left."""

    path: list[str] = field(default_factory=list)
    node: dict[str, Any] = field(default_factory=dict)
    data: Any = None  # the configuration data at ``path`` (when data was given)
    rest: int = 0  # index of the first token not consumed as a path element


def dotted(path: list[str]) -> str:
    return ".".join(path) or "(top)"


def is_value_position(node: dict[str, Any]) -> bool:
    """True when the next token is a value: a leaf, or a list of scalars (leaf-list)."""
    kind = node.get("kind")
    if kind in LEAF_KINDS:
        return True
    return kind == "list" and node.get("item", {}).get("kind") in LEAF_KINDS


def _value_node(node: dict[str, Any]) -> dict[str, Any]:
    return node["item"] if node.get("kind") == "list" else node


def _child(node: dict[str, Any], token: str, path: list[str], index: int) -> dict[str, Any]:
    children = node.get("children", [])
    exact = [c for c in children if c["name"] == token]
    if exact:
        return dict(exact[0])
    matches = [c for c in children if c["name"].startswith(token)]
    if len(matches) == 1:
        return dict(matches[0])
    if matches:
        names = ", ".join(c["name"] for c in matches)
        raise SchemaPathError(f"ambiguous key {token!r} at {dotted(path)}: {names}", index)
    hint = difflib.get_close_matches(token, [c["name"] for c in children], n=1, cutoff=0.6)
    extra = f" (did you mean {hint[0]!r}?)" if hint else ""
    raise SchemaPathError(f"unknown key {token!r} at {dotted(path)}{extra}", index)


def _down(data: Any, key: str) -> Any:
    if isinstance(data, dict):
        return data.get(key)
    if isinstance(data, list) and key.isdigit() and int(key) < len(data):
        return data[int(key)]
    return None


def walk(tree: dict[str, Any], tokens: list[str], data: Any = None, *, stop_at_value: bool = True) -> Walk:
    """Consume path tokens from the root; stop at a value position (``stop_at_value``) or the end."""
    w = Walk(node=tree, data=data)
    for i, token in enumerate(tokens):
        node = w.node
        kind = node.get("kind")
        if stop_at_value and is_value_position(node):
            w.rest = i
            return w
        if kind == "object":
            child = _child(node, token, w.path, i)
            name = child["name"]
        elif kind == "list":
            if not token.isdigit():
                raise SchemaPathError(f"{dotted(w.path)} is a list: expected an index, got {token!r}", i)
            child, name = dict(node["item"], name=token), token
        elif kind == "map":
            child, name = dict(node["item"], name=token), token
        else:
            raise SchemaPathError(f"{dotted(w.path)} is a value, not a section: unexpected {token!r}", i)
        w.path.append(name)
        w.node, w.data = child, _down(w.data, name)
    w.rest = len(tokens)
    return w


def suggestions(w: Walk) -> list[tuple[str, str]]:
    """(word, help) pairs that may follow the walked path; ``<...>`` words are placeholders."""
    node = w.node
    kind = node.get("kind")
    desc = node.get("description", "")
    if kind == "object":
        return [(c["name"], c.get("description", "")) for c in node.get("children", [])]
    if kind == "list" and not is_value_position(node):
        count = len(w.data) if isinstance(w.data, list) else 0
        return [(str(i), desc) for i in range(count)] + [(str(count), "new entry")]
    if kind == "map":
        keys = list(w.data) if isinstance(w.data, dict) else []
        return [(str(k), desc) for k in keys] + [("<name>", "new entry")]
    value = _value_node(node)
    if value.get("kind") == "enum":
        return [(str(v), desc) for v in value.get("enum", [])]
    if value.get("kind") == "bool":
        return [("true", desc), ("false", desc)]
    return [(f"<{value.get('format') or value.get('kind', 'value')}>", describe(node))]


def describe(node: dict[str, Any]) -> str:
    """One line of help for a leaf: description, type and the rules it must follow."""
    value = _value_node(node)
    bits = [node.get("description", "")]
    rules = rule_text(value)
    if rules:
        bits.append(f"({rules})")
    if node.get("default") not in (None, [], {}):
        bits.append(f"[default {node['default']}]")
    return " ".join(b for b in bits if b)


def rule_text(node: dict[str, Any]) -> str:
    kind = node.get("kind", "value")
    parts = [node.get("format") or kind]
    if "ge" in node and "le" in node:
        parts.append(f"{node['ge']}..{node['le']}")
    else:
        ops = (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))
        parts += [f"{op} {node[k]}" for k, op in ops if k in node]
    if "min_length" in node or "max_length" in node:
        parts.append(f"length {node.get('min_length', 0)}..{node.get('max_length', 'any')}")
    if kind == "enum":
        parts = ["one of " + ", ".join(str(v) for v in node.get("enum", []))]
    return ", ".join(str(p) for p in parts)


def check_value(node: dict[str, Any], path: list[str], text: str) -> str | None:
    """Validate a typed value against the leaf's rules; return an error naming path and rule."""
    value = _value_node(node)
    kind = value.get("kind")
    where = dotted(path)
    bad = f"{where}: invalid value {text!r}: expected {rule_text(value)}"
    if kind == "enum":
        return None if text in [str(v) for v in value.get("enum", [])] else bad
    if kind == "bool":
        return None if text.lower() in _TRUE_FALSE else bad
    if kind in ("int", "float"):
        pattern = r"[+-]?\d+" if kind == "int" else r"[+-]?\d+(\.\d*)?"
        if not re.fullmatch(pattern, text):
            return bad
        number = float(text)
        checks = (
            number >= value.get("ge", number),
            number <= value.get("le", number),
            "gt" not in value or number > value["gt"],
            "lt" not in value or number < value["lt"],
        )
        if not all(checks):
            return f"{where}: {text} is out of range: expected {rule_text(value)}"
        return None
    try:
        if kind == "ipv4":
            ipaddress.IPv4Address(text)
        elif kind == "ipv4-network":
            ipaddress.IPv4Network(text, strict=True)
    except ValueError as exc:
        return f"{where}: invalid value {text!r}: expected {rule_text(value)} ({exc})"
    if kind == "string":
        if "max_length" in value and len(text) > value["max_length"]:
            return f"{where}: too long ({len(text)} characters): expected {rule_text(value)}"
        if "min_length" in value and len(text) < value["min_length"]:
            return f"{where}: too short: expected {rule_text(value)}"
        if "pattern" in value and not re.search(value["pattern"], text):
            return f"{where}: invalid value {text!r}: must match {value['pattern']}"
    return None

"""Generate the key reference of docs/configuration.md from the schema (one schema drives the
docs too).  ``python -m abng.config.docgen --write docs/configuration.md`` rewrites the part
between the markers; a test checks that the committed file is up to date."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from abng.config.introspect import schema_tree

BEGIN = "<!-- BEGIN GENERATED KEY REFERENCE (python -m abng.config.docgen --write docs/configuration.md) -->"
END = "<!-- END GENERATED KEY REFERENCE -->"


def _type(node: dict[str, Any]) -> str:
    kind = node["kind"]
    if kind == "enum":
        text = " \\| ".join(f"`{v}`" for v in node["enum"])
    elif kind == "list":
        text = f"list of {_type(node['item'])}"
    elif kind == "map":
        text = f"map of name → {_type(node['item'])}"
    elif kind == "object":
        text = "object"
    else:
        text = (node.get("format") or kind).replace("|", "\\|")
    if node.get("nullable"):
        text += " or null"
    return text


def _range(node: dict[str, Any]) -> str:
    parts = []
    parts.append(_bounds(node.get("ge"), node.get("le"), ""))
    unit = " items" if node["kind"] == "list" else " chars"
    parts.append(_bounds(node.get("min_length"), node.get("max_length"), unit))
    if "pattern" in node:
        parts.append(f"`{node['pattern']}`")
    if node["kind"] == "list" and node["item"]["kind"] not in ("object",):
        inner = _range(node["item"])
        if inner:
            parts.append(f"each {inner}")
    if node.get("secret"):
        parts.append("**secret**")
    return ", ".join(p for p in parts if p)


def _bounds(low: Any, high: Any, unit: str) -> str:
    if low is not None and high is not None:
        return f"{low}–{high}{unit}"
    if low is not None:
        return f"≥ {low}{unit}"
    if high is not None:
        return f"≤ {high}{unit}"
    return ""


def _default(node: dict[str, Any]) -> str:
    if node.get("required"):
        return "**required**"
    value = node.get("default")
    if node["kind"] == "object" or (node["kind"] == "map" and value):
        return "see below"
    if value is None:
        return "unset"
    return f"`{json.dumps(value)}`"


def _rows(node: dict[str, Any], prefix: str, out: list[str]) -> None:
    for child in node.get("children", []):
        key = f"{prefix}{child['name']}"
        kind = child["kind"]
        desc = child.get("description", "").replace("|", "\\|")
        if kind == "object":
            _rows(child, f"{key}.", out)
            continue
        out.append(f"| `{key}` | {_type(child)} | {_default(child)} | {_range(child)} | {desc} |")
        if kind == "list" and child["item"]["kind"] == "object":
            _rows(child["item"], f"{key}[].", out)
        elif kind == "map" and child["item"]["kind"] == "object":
            _rows(child["item"], f"{key}.<name>.", out)


def generate() -> str:
    tree = schema_tree()
    lines = [BEGIN, ""]
    for section in tree["children"]:
        lines.append(f"### `{section['name']}`")
        lines.append("")
        required = " (required section)" if section.get("required") else ""
        lines.append(f"{section['description']}{required}.")
        lines.append("")
        lines.append("| Key | Type | Default | Range / rules | Description |")
        lines.append("|---|---|---|---|---|")
        _rows(section, "", lines)
        lines.append("")
    lines.append(END)
    return "\n".join(lines)


def splice(document: str, generated: str) -> str:
    """Replace the marked part of ``document`` with ``generated``."""
    start = document.index(BEGIN)
    end = document.index(END) + len(END)
    return document[:start] + generated + document[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", type=Path, help="markdown file whose marked part is rewritten")
    args = parser.parse_args(argv)
    generated = generate()
    if args.write is None:
        sys.stdout.write(generated + "\n")
        return 0
    args.write.write_text(splice(args.write.read_text(encoding="utf-8"), generated), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

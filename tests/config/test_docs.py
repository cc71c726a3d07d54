"""docs/configuration.md carries the key reference generated from the schema, up to date."""

from __future__ import annotations

from pathlib import Path

from abng.config.docgen import generate, splice
from abng.config.introspect import schema_tree

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_generated_reference_is_up_to_date() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert splice(text, generate()) == text, (
        "run: .venv/bin/python -m abng.config.docgen --write docs/configuration.md"
    )


def test_every_section_documented() -> None:
    generated = generate()
    for section in schema_tree()["children"]:
        assert f"### `{section['name']}`" in generated
    assert "| `servers[].secret` | string | **required** | 1–128 chars, **secret** |" in generated
    assert "| `mtu` | int | `1492` | 1280–1500 |" in generated

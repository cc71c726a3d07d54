"""Text rendering: tables that fit the terminal, detail views, human rates, sizes and uptimes."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from abng.config.rates import human_rate

ELLIPSIS = "…"
GAP = "  "


@dataclass(frozen=True)
class Column:
    title: str
    key: str
    align: str = "<"  # "<" or ">"
    shrink: bool = True  # may be truncated to fit the width
    min_width: int = 4
    drop: int = 0  # when even shrinking does not fit, columns with the highest ``drop`` go first


def uptime(seconds: float | None) -> str:
    """``93784`` -> ``1d 02:03:04``; ``None`` -> ``-``."""
    if seconds is None:
        return "-"
    s = max(0, int(seconds))
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    clock = f"{hours:02d}:{minutes:02d}:{s:02d}"
    return f"{days}d {clock}" if days else clock


def size(n: int | None) -> str:
    """Bytes for people (powers of 1000, like rates): ``1234567`` -> ``1.23 MB``."""
    if n is None:
        return "-"
    for unit, factor in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= factor:
            return f"{n / factor:.3g} {unit}"
    return f"{n} B"


def timestamp(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ",".join(cell(v) for v in value) or "-"
    return str(value)


def _fit(widths: list[int], columns: Sequence[Column], width: int) -> list[int]:
    """Shrink the widest shrinkable columns until the table fits ``width`` (or cannot shrink)."""
    widths = list(widths)
    while sum(widths) + len(GAP) * (len(widths) - 1) > width:
        shrinkable = [i for i, c in enumerate(columns) if c.shrink and widths[i] > max(c.min_width, 1)]
        if not shrinkable:
            break
        widest = max(shrinkable, key=lambda i: widths[i])
        widths[widest] -= 1
    return widths


def _clip(text: str, w: int) -> str:
    return text if len(text) <= w else text[: max(0, w - 1)] + ELLIPSIS


def table(columns: Sequence[Column], rows: Sequence[dict[str, Any]], width: int = 80) -> list[str]:
    """Render ``rows`` (dicts keyed by ``Column.key``) as an aligned table at most ``width`` wide."""
    cells = [[cell(r.get(c.key)) for c in columns] for r in rows]
    natural = [max([len(c.title)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    widths = _fit(natural, columns, width)
    if sum(widths) + len(GAP) * (len(widths) - 1) > width and any(c.drop for c in columns):
        victim = max(range(len(columns)), key=lambda i: columns[i].drop)
        keep = [c for i, c in enumerate(columns) if i != victim]
        return table(keep, rows, width)

    def line(values: list[str]) -> str:
        parts = [f"{_clip(v, w):{c.align}{w}}" for v, w, c in zip(values, widths, columns, strict=True)]
        return GAP.join(parts).rstrip()

    return [line([c.title for c in columns])] + [line(row) for row in cells]


def detail(pairs: Sequence[tuple[str, Any]], indent: int = 2) -> list[str]:
    """``Label: value`` lines with the values aligned."""
    if not pairs:
        return []
    w = max(len(k) for k, _ in pairs) + 1
    return [f"{' ' * indent}{k + ':':<{w}} {cell(v)}" for k, v in pairs]


def now() -> float:
    return time.time()


def rates(down: int | None, up: int | None) -> str:
    return f"{human_rate(down)} / {human_rate(up)}"

"""JunOS-style output pipes applied to a stream of lines: ``| match``, ``| except``, ``| count``,
``| last``.  They combine left to right (``show subscribers | match ppp | except 10.0 | count``).

``| no-more`` (no pager), ``| display json`` (render the raw data) and ``| compare`` (configuration
mode ``show``) change what the command produces rather than filtering lines: see
:func:`display_options`; the shell handles them.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from abng.cli.parser import Pipe


@dataclass(frozen=True)
class DisplayOptions:
    json: bool = False
    set: bool = False  # | display set: configuration as 'set' commands
    paginate: bool = True
    compare: bool = False


def display_options(pipes: list[Pipe]) -> DisplayOptions:
    kinds = {p.kind for p in pipes}
    display = {p.arg for p in pipes if p.kind == "display"}
    return DisplayOptions(
        json="json" in display,
        set="set" in display,
        paginate="no-more" not in kinds,
        compare="compare" in kinds,
    )


def _match(lines: Iterable[str], rx: re.Pattern[str], keep: bool) -> Iterator[str]:
    for line in lines:
        if (rx.search(line) is not None) == keep:
            yield line


def _count(lines: Iterable[str]) -> Iterator[str]:
    n = 0
    try:
        for _ in lines:
            n += 1
    except KeyboardInterrupt:  # a live stream (monitor) ended with Ctrl-C: count what came
        pass
    yield f"Count: {n} lines"


def _last(lines: Iterable[str], n: int) -> Iterator[str]:
    tail: collections.deque[str] = collections.deque(maxlen=n)
    try:
        for line in lines:
            tail.append(line)
    except KeyboardInterrupt:
        pass
    yield from tail


def apply(lines: Iterable[str], pipes: list[Pipe]) -> Iterator[str]:
    """Filter ``lines`` through every line pipe, lazily (monitor output streams through)."""
    out: Iterable[str] = lines
    for pipe in pipes:
        if pipe.kind == "match":
            out = _match(out, pipe.arg, True)
        elif pipe.kind == "except":
            out = _match(out, pipe.arg, False)
        elif pipe.kind == "count":
            out = _count(out)
        elif pipe.kind == "last":
            out = _last(out, int(pipe.arg))
    yield from out

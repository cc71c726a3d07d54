"""Session <-> SQLite row codec (one column per :class:`Session` field, in field order).

Columns instead of one JSON document per row: restoring 100,000 sessions is then SQLite's C
code plus one ``Session(*row)`` per session; only the two dict fields are JSON.  Adding a field
to ``Session`` adds a column (``ensure_columns`` migrates an existing file; old rows get NULL,
which ``decode`` replaces by the field default).
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Callable
from typing import Any

from abng.core.model import Session, SessionState, SessionType, TerminateReason

FIELDS = tuple(f.name for f in dataclasses.fields(Session))
#: columns read as COALESCE(col, default) so rows older than a field need no Python fix-up
_SCALAR_DEFAULTS = {
    f.name: f.default
    for f in dataclasses.fields(Session)
    if f.default is not dataclasses.MISSING and f.default is not None
}
_IDX = {name: i for i, name in enumerate(FIELDS)}
_TYPE, _STATE, _REASON = _IDX["type"], _IDX["state"], _IDX["reason"]
_BOOLS = tuple(_IDX[n] for n in ("vrf_steered", "cgnat_bypass"))
_JSON = tuple(_IDX[n] for n in ("access_data", "radius_attributes"))
_raw_decode = json.JSONDecoder().raw_decode  # we wrote the text: no whitespace to skip
_TYPES = {t.value: t for t in SessionType}
_STATES = {s.value: s for s in SessionState}
_REASONS = {r.value: r for r in TerminateReason}

# SQL built from the dataclass field names and defaults only (no outside input).
_COLS = ", ".join(FIELDS)
_READ = ", ".join(
    f"COALESCE({n}, {_SCALAR_DEFAULTS[n]!r})" if n in _SCALAR_DEFAULTS and n not in ("state",) else n
    for n in FIELDS
).replace("False", "0")
_QMARKS = ", ".join("?" for _ in FIELDS)
SELECT_LIVE = f"SELECT {_READ} FROM sessions ORDER BY id"  # noqa: S608
SELECT_HISTORY = f"SELECT {_READ} FROM history ORDER BY seq DESC LIMIT ?"  # noqa: S608
UPSERT_LIVE = f"INSERT OR REPLACE INTO sessions ({_COLS}) VALUES ({_QMARKS})"  # noqa: S608
INSERT_HISTORY = f"INSERT INTO history ({_COLS}) VALUES ({_QMARKS})"  # noqa: S608


def schema() -> str:
    cols = ", ".join(f"{name}{' INTEGER PRIMARY KEY' if name == 'id' else ''}" for name in FIELDS)
    hist = ", ".join(FIELDS)
    return f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sessions ({cols});
CREATE TABLE IF NOT EXISTS history (seq INTEGER PRIMARY KEY AUTOINCREMENT, {hist});
"""


def ensure_columns(db: sqlite3.Connection) -> None:
    """Add columns for Session fields newer than the file."""
    for table in ("sessions", "history"):
        have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        for name in FIELDS:
            if name not in have:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {name}")


_ENCODER = json.JSONEncoder(separators=(",", ":"))  # one encoder: json.dumps builds one per call
_c_encoder = getattr(json.encoder, "c_make_encoder", None)
#: the C encoder JSONEncoder.encode builds on every call, built once (same settings as _ENCODER:
#: ensure_ascii, allow_nan, no sort, compact separators).  Without a markers dict: the values
#: are dicts of plain data our own code built (no cycles to detect).
_C_ITER = (
    _c_encoder(
        None,
        _ENCODER.default,
        json.encoder.encode_basestring_ascii,
        None,
        ":",
        ",",
        False,
        False,
        True,
    )
    if _c_encoder is not None
    else None
)


def _json(value: Any) -> str:
    if not value:
        return "{}"
    if _C_ITER is not None and value.__class__ is dict:
        return "".join(_C_ITER(value, 0))
    return _ENCODER.encode(value)


def _column(name: str) -> str:
    """The expression of one column in the generated :func:`encode`."""
    if name in ("type", "state"):
        return f"str(s.{name})"  # StrEnum: str() is the value
    if name == "reason":
        return "None if s.reason is None else str(s.reason)"
    if name in ("access_data", "radius_attributes"):
        return f"_json(s.{name})"
    return f"s.{name}"


def _make_encode() -> Callable[[Session], tuple[Any, ...]]:
    """``encode`` as one tuple display of the fields (what dataclasses does for ``__init__``):
    half the time of a generic loop over ``attrgetter`` output.  The source is built from the
    dataclass field names only."""
    src = f"def encode(s):\n    return ({', '.join(_column(n) for n in FIELDS)},)\n"
    namespace: dict[str, Any] = {"_json": _json}
    exec(src, namespace)  # noqa: S102 - our own field names, no outside input
    fn: Callable[[Session], tuple[Any, ...]] = namespace["encode"]
    return fn


#: Session -> row tuple (field order; enums as their values, the dict fields as compact JSON)
encode = _make_encode()


def decode(row: tuple[Any, ...]) -> Session:
    vals = list(row)
    vals[_TYPE] = _TYPES[vals[_TYPE]]
    vals[_STATE] = _STATES[vals[_STATE]]
    reason = vals[_REASON]
    vals[_REASON] = _REASONS[reason] if reason is not None else None
    for i in _BOOLS:
        vals[i] = bool(vals[i])
    for i in _JSON:
        text = vals[i]
        vals[i] = _raw_decode(text)[0] if text and text != "{}" else {}
    return Session(*vals)

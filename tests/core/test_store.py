"""SessionStore: batching, failure recovery, schema growth, seeding."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from abng.core import rows
from abng.core.model import SessionState, SessionType, TerminateReason
from abng.core.store import SessionStore
from tests.helpers.daemon import sample_session


def live_ids(path: Path) -> list[int]:
    db = sqlite3.connect(path)
    try:
        return [r[0] for r in db.execute("SELECT id FROM sessions ORDER BY id")]
    finally:
        db.close()


def test_row_codec_round_trip() -> None:
    s = sample_session(42, SessionType.PPPOE, vrf_steered=True, radius_attributes={"Class": ["gold"]})
    s.reason, s.state = TerminateReason.IDLE_TIMEOUT, SessionState.TERMINATING
    back = rows.decode(rows.encode(s))
    assert back == s and back.vrf_steered is True and back.type is SessionType.PPPOE


async def test_batched_flush_spreads_a_backlog(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "s.db")
    store.load()
    for i in range(1, 26):
        store.mark(sample_session(i))
    await store.flush(batch=10)
    assert len(live_ids(tmp_path / "s.db")) == 10 and store.pending == 15
    await store.flush(batch=10)
    await store.flush(batch=10)
    assert live_ids(tmp_path / "s.db") == list(range(1, 26)) and store.pending == 0
    store.close()


async def test_failed_flush_keeps_everything_pending(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = SessionStore(path)
    store.load()
    a, b = sample_session(1), sample_session(2)
    store.mark(a)
    await store.flush()
    store.mark(b)
    a.reason = TerminateReason.USER_REQUEST
    store.end(a)
    other = sqlite3.connect(path)
    other.execute("ALTER TABLE history RENAME TO history_away")  # the next write fails
    other.commit()
    with pytest.raises(sqlite3.Error):
        await store.flush()
    assert store.pending == 3  # b's row, a's delete, a's history entry
    other.execute("ALTER TABLE history_away RENAME TO history")
    other.commit()
    other.close()
    await store.flush()
    assert live_ids(path) == [2] and store.pending == 0
    store.close()
    again = SessionStore(path)
    snap = again.load()
    assert [s.id for s in snap.sessions] == [2] and [h.id for h in snap.history] == [1]
    assert snap.next_id == 3
    again.close()


def test_new_session_field_becomes_a_column(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    db = sqlite3.connect(path)  # a file from before 'activated_at' and 'vrf' existed
    cols = [f for f in rows.FIELDS if f not in ("activated_at", "vrf", "bytes_in")]
    decl = ", ".join(c + (" INTEGER PRIMARY KEY" if c == "id" else "") for c in cols)
    db.execute(f"CREATE TABLE sessions ({decl})")
    s = sample_session(9)
    enc = dict(zip(rows.FIELDS, rows.encode(s), strict=True))
    db.execute(f"INSERT INTO sessions ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
               [enc[c] for c in cols])  # fmt: skip
    db.commit()
    db.close()
    store = SessionStore(path)
    [back] = store.load().sessions
    assert back.activated_at is None and back.vrf is None and back.bytes_in == 0
    assert back.username == s.username and back.access_data == s.access_data
    store.close()

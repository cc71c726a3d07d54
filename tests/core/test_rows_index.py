"""Row encoding and index upkeep stay exactly what the straightforward code gave."""

from __future__ import annotations

import json
import random

from abng.core import rows
from abng.core.index import SessionIndex
from abng.core.model import Session, SessionState, SessionType, TerminateReason


def _value(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randrange(8 if depth < 3 else 6)
    if kind == 0:
        return rng.randrange(-(2**40), 2**40)
    if kind == 1:
        return rng.choice([0.5, -1e300, 1.25, float("inf"), float("nan")])
    if kind == 2:
        return "".join(rng.choice('ab"\\\n\u00e9\u2028\U0001f600/') for _ in range(rng.randrange(6)))
    if kind == 3:
        return rng.choice([None, True, False])
    if kind == 4:
        return []
    if kind == 5:
        return {}
    if kind == 6:
        return [_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {f"k{rng.randrange(9)}": _value(rng, depth + 1) for _ in range(rng.randrange(4))}


def test_json_columns_match_compact_json_dumps() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        data = {f"key{i}": _value(rng) for i in range(rng.randrange(1, 5))}
        assert rows._json(data) == json.dumps(data, separators=(",", ":"))
    assert rows._json({}) == "{}"
    assert rows._json({1: "int key", 2.5: None, None: True}) == json.dumps(
        {1: "int key", 2.5: None, None: True}, separators=(",", ":")
    )


def test_encode_is_field_order_with_enum_values() -> None:
    s = Session(7, SessionType.PPPOE, "u", "02:00:00:00:00:01", "eth0.1.2", 100, ip_address="100.64.0.1")
    s.state, s.reason = SessionState.TERMINATING, TerminateReason.LOST_CARRIER
    s.access_data = {"pppoe_sid": 5, "tags": [[34984, 100]]}
    s.radius_attributes = {"Class": ["x"]}
    row = rows.encode(s)
    expected = [getattr(s, f) for f in rows.FIELDS]
    expected[rows.FIELDS.index("type")] = "pppoe"
    expected[rows.FIELDS.index("state")] = "terminating"
    expected[rows.FIELDS.index("reason")] = "lost_carrier"
    expected[rows.FIELDS.index("access_data")] = '{"pppoe_sid":5,"tags":[[34984,100]]}'
    expected[rows.FIELDS.index("radius_attributes")] = '{"Class":["x"]}'
    assert row == tuple(expected)
    assert rows.decode(row) == s


def test_encode_of_a_new_session_and_round_trip() -> None:
    s = Session(8, SessionType.DHCP, "v", "02:00:00:00:00:02", "eth0.3.4", 200)
    row = rows.encode(s)
    assert row[rows.FIELDS.index("reason")] is None and row[rows.FIELDS.index("state")] == "starting"
    assert row[rows.FIELDS.index("access_data")] == "{}" and len(row) == len(rows.FIELDS)
    assert rows.decode(row) == s


def test_reindex_moves_every_key() -> None:
    idx = SessionIndex()
    a = Session(
        1, SessionType.PPPOE, "shared", "m", "eth0.1.1", 0, ip_address="100.64.0.1", ppp_interface="ppp1"
    )
    b = Session(2, SessionType.DHCP, "shared", "m", "eth0.1.1", 0, ip_address="100.64.0.2")
    idx.add(a)
    idx.add(b)
    before = idx.keys(a)
    a.ip_address, a.username, a.access_interface, a.ppp_interface = "100.64.0.9", "alone", "eth0.1.2", None
    idx.reindex(a, before)
    assert idx.by_ip("100.64.0.1") is None and idx.by_ip("100.64.0.9") is a
    assert idx.by_username("shared") == [b] and idx.by_username("alone") == [a]
    assert idx.by_interface("eth0.1.1") == [b] and idx.by_interface("eth0.1.2") == [a]
    assert idx.by_interface("ppp1") == []
    assert idx.summary() == {"total": 2, "pppoe": 1, "dhcp": 1}
    idx.remove(a)
    assert idx.summary() == {"total": 1, "pppoe": 0, "dhcp": 1}

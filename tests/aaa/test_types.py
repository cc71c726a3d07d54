"""AuthRequest is a frozen slotted dataclass: positions, defaults, equality, hashing, pickling."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import pytest

from abng.aaa.types import AuthRequest


def test_fields_defaults_keywords_and_positions() -> None:
    r = AuthRequest("u", "02:00:00:00:00:01", "eth0.1.2", "pppoe", password="pw")
    assert type(r) is AuthRequest and isinstance(r, AuthRequest)
    assert (r.username, r.mac, r.nas_port_id, r.service, r.password) == (
        "u",
        "02:00:00:00:00:01",
        "eth0.1.2",
        "pppoe",
        "pw",
    )
    assert (r.chap_id, r.chap_challenge, r.chap_response, r.circuit_id, r.remote_id, r.nas_port) == (
        None,
    ) * 5 + (0,)
    k = AuthRequest(
        username="a", mac="m", nas_port_id="i", service="dhcp", circuit_id=b"c", remote_id=b"r", nas_port=7
    )
    assert (k.circuit_id, k.remote_id, k.nas_port, k.password) == (b"c", b"r", 7, None)
    p = AuthRequest("a", "m", "i", "pppoe", None, 1, b"ch", b"resp", None, None, 3)
    assert (p.chap_id, p.chap_challenge, p.chap_response, p.nas_port) == (1, b"ch", b"resp", 3)
    with pytest.raises(TypeError):
        AuthRequest("a", "m", "i")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        AuthRequest("a", "m", "i", "pppoe", bogus=1)  # type: ignore[call-arg]


def test_frozen_equal_hashable_and_secrets_not_printed() -> None:
    r = AuthRequest("u", "m", "i", "pppoe", password="secret", chap_response=b"resp")
    same = AuthRequest("u", "m", "i", "pppoe", password="secret", chap_response=b"resp")
    assert r == same and hash(r) == hash(same) and r != AuthRequest("u", "m", "i", "pppoe", password="other")
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.username = "x"  # type: ignore[misc]
    assert (
        "secret" not in repr(r) and "resp" not in repr(r) and repr(r).startswith("AuthRequest(username='u'")
    )
    assert [f.name for f in dataclasses.fields(r)][:4] == ["username", "mac", "nas_port_id", "service"]


def test_pickle_copy_and_replace_round_trip() -> None:
    r = AuthRequest("u", "m", "i", "pppoe", chap_id=5, chap_challenge=b"c", chap_response=b"x", nas_port=9)
    for twin in (pickle.loads(pickle.dumps(r)), copy.copy(r), copy.deepcopy(r)):
        assert type(twin) is AuthRequest and twin == r and twin.chap_response == b"x" and twin.nas_port == 9
    moved = dataclasses.replace(r, username="v")
    assert type(moved) is AuthRequest and moved.username == "v" and moved.chap_id == 5

"""Seeded mutation fuzzing: codec, client reply path and CoA machine never raise on garbage."""

from __future__ import annotations

import random

from abng.aaa import crypto, packet
from abng.aaa.client import ClientMachine, Kind, ServerAddr
from abng.aaa.coa import CoaMachine, SessionQuery
from abng.aaa.packet import Code, DecodeError
from abng.aaa.radius_auth import parse_accept
from abng.core.model import Session, SessionState, SessionType

SECRET = b"testing123"
SESSION = Session(
    1, SessionType.PPPOE, "alice", "02:00:00:00:00:01", "eth1.1.1", 1764864000, SessionState.ACTIVE
)


def _seeds() -> list[bytes]:
    attrs = packet.make_all(
        [("User-Name", "alice"), ("Acct-Session-Id", "abng-1764864000-1"), ("Athena-Rate-Down", "25mbit")]
    )
    return [
        crypto.build_signed_request(Code.COA_REQUEST, 1, SECRET, attrs),
        crypto.build_signed_request(Code.DISCONNECT_REQUEST, 2, SECRET, attrs[:1]),
        crypto.build_reply(Code.ACCESS_ACCEPT, 0, bytes(16), SECRET, attrs),
    ]


def _mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    op = rng.randrange(5)
    if op == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(0, 80)))
    if op == 1 and buf:
        for _ in range(rng.randrange(1, 6)):
            buf[rng.randrange(len(buf))] = rng.randrange(256)
    elif op == 2:
        buf = buf[: rng.randrange(len(buf) + 1)]
    elif op == 3:
        buf += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
    else:
        pos = rng.randrange(20, len(buf)) if len(buf) > 20 else 0
        buf[pos:pos] = bytes([rng.randrange(256), rng.randrange(256)])
    return bytes(buf)


def test_fuzz_100k() -> None:
    rng = random.Random(20261204)
    seeds = _seeds()
    client = ClientMachine([ServerAddr("127.0.0.1", SECRET)], timeout=1.0, retries=0)
    client.submit(Kind.AUTH, packet.make_all([("User-Name", "u")]), 0.0)
    client.pop_transmits()
    coa = CoaMachine({"127.0.0.1": SECRET}, lambda q: [SESSION] if q.user_name == "alice" else [])
    decoded = 0
    for i in range(100_000):
        data = _mutate(rng, seeds[i % len(seeds)])
        try:
            pkt = packet.decode(data)
            pkt.named()
            parse_accept(pkt)  # the Access-Accept interpretation never raises either
            decoded += 1
        except DecodeError:
            pass
        client.receive(0, data, ("127.0.0.1", 1812), 0.5)
        # re-sign half of the mutants so they get past the authenticator into the attribute logic
        if i % 2 and len(data) >= 20:
            try:
                p = packet.decode(data)
                data = crypto.build_signed_request(p.code, p.identifier, SECRET, p.attributes)
            except (DecodeError, ValueError):
                pass
        out = coa.receive(data, ("127.0.0.1", 40000 + i % 1000), float(i))
        if out is not None and hasattr(out, "token"):
            coa.complete(out.token, True, float(i))  # type: ignore[union-attr]
    assert decoded > 1000
    assert client.stats["drop_malformed"] > 0
    assert coa.stats["requests"] > 1000 and coa.stats["drop_malformed"] > 0


def test_coa_duplicate_gets_cached_reply() -> None:
    coa = CoaMachine({"127.0.0.1": SECRET}, lambda q: [SESSION])
    req = crypto.build_signed_request(
        Code.DISCONNECT_REQUEST, 9, SECRET, packet.make_all([("User-Name", "alice")])
    )
    action = coa.receive(req, ("127.0.0.1", 5000), 0.0)
    assert coa.receive(req, ("127.0.0.1", 5000), 0.1) is None  # in progress: dropped
    assert action is not None and hasattr(action, "token")
    reply = coa.complete(action.token, True, 0.2)  # type: ignore[union-attr]
    again = coa.receive(req, ("127.0.0.1", 5000), 1.0)
    assert again is not None and getattr(again, "data", None) == reply
    assert packet.decode(reply).code == Code.DISCONNECT_ACK
    assert crypto.verify_reply(reply, packet.decode(req).authenticator, SECRET)
    # after the window it is a new request again
    assert hasattr(coa.receive(req, ("127.0.0.1", 5000), 100.0), "token")
    assert SessionQuery(user_name="alice") == SessionQuery(user_name="alice")

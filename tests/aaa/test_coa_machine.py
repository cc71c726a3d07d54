"""CoaMachine driven with bytes and a fake clock (what radclient cannot easily send)."""

from __future__ import annotations

from abng.aaa import crypto, packet
from abng.aaa.coa import Answer, ChangeRate, CoaMachine, Disconnect, SessionQuery
from abng.aaa.packet import Attribute, Code
from abng.core.model import Session, SessionState, SessionType

SECRET = b"s3cret"
SESSION = Session(
    1, SessionType.DHCP, "02:00:00:00:00:01", "02:00:00:00:00:01", "eth1.7.8", 1764864000, SessionState.ACTIVE
)
SRC = ("192.0.2.1", 40000)


def _machine(**kw: object) -> tuple[CoaMachine, list[SessionQuery]]:
    seen: list[SessionQuery] = []

    def lookup(q: SessionQuery) -> list[Session]:
        seen.append(q)
        return [SESSION] if q.nas_port_id in (None, "eth1.7.8") else []

    return CoaMachine({"192.0.2.1": SECRET}, lookup, **kw), seen  # type: ignore[arg-type]


def _req(code: int, pairs: list[tuple[str, object]], extra: list[Attribute] | None = None) -> bytes:
    attrs = packet.make_all(pairs) + (extra or [])  # type: ignore[arg-type]
    return crypto.build_signed_request(code, 5, SECRET, attrs)


def _cause(reply: bytes) -> object:
    return packet.decode(reply).first("Error-Cause")


def test_change_rate_action_and_ack_with_proxy_state() -> None:
    m, seen = _machine()
    data = _req(
        Code.COA_REQUEST, [("NAS-Port-Id", "eth1.7.8"), ("Athena-Rate-Up", "2mbit")], [Attribute(33, b"ps1")]
    )
    action = m.receive(data, SRC, 0.0)
    assert isinstance(action, ChangeRate) and (action.rate_down, action.rate_up) == (None, 2_000_000)
    assert seen == [SessionQuery(nas_port_id="eth1.7.8")]
    reply = m.complete(action.token, True, 0.1)
    pk = packet.decode(reply)
    assert pk.code == Code.COA_ACK and pk.raw(0, 33) == [b"ps1"]
    assert crypto.verify_reply(reply, packet.decode(data).authenticator, SECRET)


def test_nas_identification_mismatch() -> None:
    m, _ = _machine(nas_identifier="bng1", nas_ip_address="10.0.0.1")
    bad_id = m.receive(
        _req(Code.DISCONNECT_REQUEST, [("NAS-Identifier", "other"), ("User-Name", "x")]), SRC, 0.0
    )
    assert isinstance(bad_id, Answer) and _cause(bad_id.data) == 403
    bad_ip = m.receive(
        _req(Code.DISCONNECT_REQUEST, [("NAS-IP-Address", "10.0.0.2"), ("User-Name", "y")]), SRC, 0.0
    )
    assert isinstance(bad_ip, Answer) and _cause(bad_ip.data) == 403
    ok = m.receive(
        _req(Code.DISCONNECT_REQUEST, [("NAS-IP-Address", "10.0.0.1"), ("User-Name", "z")]), SRC, 0.0
    )
    assert isinstance(ok, Disconnect)


def test_rate_in_disconnect_is_unsupported_and_refusal_is_506() -> None:
    m, _ = _machine()
    a = m.receive(
        _req(Code.DISCONNECT_REQUEST, [("User-Name", "u"), ("Athena-Rate-Down", "1mbit")]), SRC, 0.0
    )
    assert isinstance(a, Answer) and _cause(a.data) == 401
    b = m.receive(_req(Code.COA_REQUEST, [("User-Name", "u"), ("Athena-Rate-Down", "1mbit")]), SRC, 0.0)
    assert isinstance(b, ChangeRate)
    assert _cause(m.complete(b.token, False, 0.0)) == 506


def test_drops_and_abandon() -> None:
    m, _ = _machine()
    req = _req(Code.COA_REQUEST, [("User-Name", "u"), ("Athena-Rate-Down", "1mbit")])
    assert m.receive(req, ("192.0.2.9", 1), 0.0) is None
    assert m.receive(req[:-1], SRC, 0.0) is None
    tampered = bytearray(req)
    tampered[-20] ^= 0xFF
    assert m.receive(bytes(tampered), SRC, 0.0) is None
    ack_code = crypto.build_signed_request(Code.COA_ACK, 1, SECRET, [])
    assert m.receive(ack_code, SRC, 0.0) is None
    assert m.stats["drop_unknown_client"] == 1 and m.stats["drop_malformed"] == 1
    assert m.stats["drop_bad_authenticator"] == 1 and m.stats["drop_bad_code"] == 1
    action = m.receive(req, SRC, 0.0)
    assert isinstance(action, ChangeRate)
    m.abandon(action.token)
    # abandoned: the retransmission is processed afresh, not dropped as in-progress
    assert isinstance(m.receive(req, SRC, 1.0), ChangeRate)

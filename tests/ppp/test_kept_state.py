"""What an established session keeps (and what it no longer keeps), and that dropping it changes
nothing on the wire: renegotiation, echo, shared empty lists, forgotten rate-limit buckets."""

from __future__ import annotations

from abng.access.pppoe import ratelimit
from abng.ppp import client as client_mod
from abng.ppp import fsm, lcp
from abng.ppp import session as session_mod
from abng.ppp.codec import (
    LCP_MAGIC,
    LCP_MRU,
    PROTO_LCP,
    Code,
    Option,
    control_frame,
    decode_control,
    encode_options,
    split_protocol,
)
from abng.ppp.events import SessionDown
from abng.ppp.session import PPPConfig
from tests.ppp.harness import Pair
from tests.ppp.test_session import CLIENT, SERVER, codes


def _shared_empties_untouched() -> None:
    assert fsm.NO_SIGNALS == [] and lcp._NO_NOTICES == []
    assert session_mod._NO_EVENTS == [] and client_mod._NO_EVENTS == []


def test_established_session_drops_negotiation_only_state() -> None:
    pair = Pair(SERVER, CLIENT)
    pair.start()
    assert pair.server.is_up and pair.client.is_up
    s = pair.server
    assert s.ipcp is not None
    for machine in (s.lcp, s.ipcp, pair.client.lcp, pair.client.ipcp):
        assert machine._reply is None  # the answer to the peer's last Configure-Request was sent
        assert machine.req_options == ()  # our request was acked: its options are not kept
        assert machine.req_data != b""  # but its bytes are, to tell a duplicate Ack from a bad one
        assert machine.signals is fsm.NO_SIGNALS
    assert s.lcp.notices is lcp._NO_NOTICES and s._events is session_mod._NO_EVENTS
    _shared_empties_untouched()


def test_duplicate_and_bad_acks_after_opened_are_still_told_apart() -> None:
    pair = Pair(SERVER, CLIENT)
    pair.start()
    lcp_machine = pair.server.lcp
    ident, data = lcp_machine.req_id or 0, lcp_machine.req_data
    pair.server.receive(control_frame(PROTO_LCP, Code.CONF_ACK, ident, data), pair.now)
    pair.server.receive(control_frame(PROTO_LCP, Code.CONF_ACK, (ident + 1) & 0xFF, data), pair.now)
    assert pair.server.counters["rx_duplicate_ack"] == 1 and pair.server.counters["rx_bad_ack"] == 1
    assert pair.server.is_up


def test_renegotiation_and_echo_after_state_was_dropped() -> None:
    pair = Pair(SERVER, CLIENT)
    pair.start()
    pair.advance(31)  # one keepalive round: answered
    assert codes(pair.to_server, PROTO_LCP).count(Code.ECHO_REPLY) == 1
    # the peer restarts LCP (Configure-Request in Opened): tld, scr, sca (RFC 1661 §4.1), and
    # PPPSession then ends the link (renegotiation is not resumed): Terminate-Request
    request = encode_options([Option(LCP_MRU, b"\x05\xd4"), Option(LCP_MAGIC, b"\x0a\x0b\x0c\x0d")])
    pair.server.receive(control_frame(PROTO_LCP, Code.CONF_REQ, 77, request), pair.now)
    replies = [decode_control(split_protocol(p)[1]) for p in pair.server.take_output()]
    assert [r.code for r in replies] == [Code.CONF_REQ, Code.CONF_ACK, Code.TERM_REQ]
    assert replies[1].identifier == 77 and replies[1].data == request
    downs = [e for e in pair.server.take_events() if isinstance(e, SessionDown)]
    assert [e.reason for e in downs] == ["renegotiation"]
    _shared_empties_untouched()


def test_ipcp_nak_round_then_ack_echoes_the_request_bytes() -> None:
    pair = Pair(PPPConfig(gateway_ip="100.64.0.1"), CLIENT)
    pair.start()
    ipcp_acks = [
        decode_control(split_protocol(p)[1]) for p in pair.to_client if split_protocol(p)[0] == 0x8021
    ]
    naks = [p for p in ipcp_acks if p.code == Code.CONF_NAK]
    acks = [p for p in ipcp_acks if p.code == Code.CONF_ACK]
    assert len(naks) == 1 and len(acks) == 1
    asked = [decode_control(split_protocol(p)[1]) for p in pair.to_server if split_protocol(p)[0] == 0x8021]
    last_request = [p for p in asked if p.code == Code.CONF_REQ][-1]
    assert acks[0].data == last_request.data and acks[0].identifier == last_request.identifier


def test_rate_limiter_forgets_refilled_buckets_without_changing_verdicts() -> None:
    fresh = ratelimit.RateLimiter(2.0, 3.0, 0, 0, 100)
    limiter = ratelimit.RateLimiter(2.0, 3.0, 0, 0, 100)
    macs = [bytes([2, 0, 0, 0, 0, i]) for i in range(5)]
    verdicts = [limiter.allow(m, 0.0) for m in macs for _ in range(4)]
    assert verdicts.count("rate_limited_mac") == 5 and len(limiter.keys) == 5
    # 10 s later every bucket has refilled: new keys make the limiter forget them, two at a time
    for i in range(3):
        assert limiter.allow(bytes([2, 0, 0, 0, 1, i]), 10.0) is None
    assert list(limiter.keys) == [bytes([2, 0, 0, 0, 1, i]) for i in range(3)]
    # an old MAC that was forgotten behaves exactly as one the limiter never saw
    assert [limiter.allow(macs[0], 10.0) for _ in range(4)] == [fresh.allow(macs[0], 10.0) for _ in range(4)]
    # a bucket that has not refilled is kept, even at the front of the table
    tight = ratelimit.RateLimiter(0.1, 2.0, 0, 0, 100)
    tight.allow(macs[0], 0.0)
    tight.allow(macs[1], 1.0)
    assert list(tight.keys) == [macs[0], macs[1]]

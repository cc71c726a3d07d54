"""PPPSession against our own PPP client: auth success/failure/retry/timeout, keepalive, loops."""

from __future__ import annotations

import json
import struct

from abng.ppp.client import ClientConfig, ClientUp
from abng.ppp.codec import (
    IPCP_ADDRESS,
    IPCP_COMPRESSION,
    IPCP_DNS1,
    LCP_MAGIC,
    LCP_MRU,
    PROTO_CHAP,
    PROTO_IPCP,
    PROTO_IPV4,
    PROTO_IPV6CP,
    PROTO_LCP,
    PROTO_PAP,
    Code,
    Option,
    control_frame,
    decode_control,
    decode_options,
    encode_options,
    encode_ppp,
    split_protocol,
)
from abng.ppp.events import AuthRequest, EchoTimeout, IPv4Packet, LinkFinished, SessionDown, SessionUp
from abng.ppp.session import PPPConfig, PPPSession
from tests.ppp.harness import Pair, seeded_bytes

SERVER = PPPConfig(gateway_ip="100.64.0.1", lcp_echo_interval=30, lcp_echo_failure=3)
CLIENT = ClientConfig(username="user1@example.net", password="test")


def codes(packets: list[bytes], protocol: int) -> list[int]:
    return [decode_control(split_protocol(p)[1]).code for p in packets if split_protocol(p)[0] == protocol]


def test_pap_success_and_keepalive() -> None:
    pair = Pair(SERVER, CLIENT)
    pair.start()
    assert [(a.method, a.username, a.password) for a in pair.auth_requests] == [
        ("pap", "user1@example.net", "test")
    ]
    assert SessionUp("100.64.0.11", 1492, 1492) in pair.s_events
    assert ClientUp("100.64.0.11", "100.64.0.1", ("192.0.2.53", "192.0.2.54")) in pair.c_events
    pair.advance(300)  # ten echo rounds, all answered
    assert codes(pair.to_client, PROTO_LCP).count(Code.ECHO_REQ) == 10
    assert codes(pair.to_server, PROTO_LCP).count(Code.ECHO_REPLY) == 10
    assert pair.server.is_up and not pair.server.finished
    assert not any(isinstance(e, SessionDown) for e in pair.s_events)


def test_chap_success() -> None:
    pair = Pair(PPPConfig(gateway_ip="100.64.0.1", auth_protocols=("chap", "pap")), CLIENT)
    pair.start()
    [req] = pair.auth_requests
    assert req.method == "chap-md5" and req.username == "user1@example.net"
    assert req.challenge is not None and len(req.challenge) == 16
    assert "challenge=" not in repr(req) and "response=" not in repr(req)
    assert pair.server.is_up and pair.client.is_up


def test_nak_of_our_auth_protocol_makes_us_offer_the_other() -> None:
    client = ClientConfig(username="user1@example.net", password="test", auth_protocols=("pap",))
    pair = Pair(PPPConfig(gateway_ip="100.64.0.1", auth_protocols=("chap", "pap")), client)
    pair.start()
    assert [a.method for a in pair.auth_requests] == ["pap"]
    assert pair.server.is_up


def test_peer_refusing_every_auth_protocol_ends_the_session() -> None:
    client = ClientConfig(username="user1@example.net", password="test", auth_protocols=("chap",))
    pair = Pair(PPPConfig(gateway_ip="100.64.0.1", auth_protocols=("pap",)), client)
    pair.start()
    pair.advance(30)
    assert SessionDown("auth_refused") in pair.s_events
    assert LinkFinished() in pair.s_events


def test_pap_wrong_password_nak_then_terminate() -> None:
    pair = Pair(SERVER, ClientConfig(username="user1@example.net", password="nope"))
    pair.start()
    pap = [decode_control(split_protocol(p)[1]).code for p in pair.to_client if p[:2] == b"\xc0\x23"]
    assert pap == [3]  # Authenticate-Nak
    assert Code.TERM_REQ in codes(pair.to_client, PROTO_LCP)
    assert pair.s_events[-2:] == [SessionDown("auth_failed"), LinkFinished()]
    assert not any(isinstance(e, SessionUp) for e in pair.s_events)
    assert SessionDown("auth_failed") in pair.c_events


def test_chap_wrong_password_failure() -> None:
    pair = Pair(
        PPPConfig(gateway_ip="100.64.0.1", auth_protocols=("chap",)),
        ClientConfig(username="user1@example.net", password="nope"),
    )
    pair.start()
    chap = [decode_control(split_protocol(p)[1]).code for p in pair.to_client if p[:2] == b"\xc2\x23"]
    assert chap == [1, 4]  # Challenge, Failure
    assert SessionDown("auth_failed") in pair.s_events


def test_pap_retransmission_is_answered_once_then_repeated() -> None:
    pair = Pair(SERVER, CLIENT, answer_auth=False)
    pair.start()
    assert len(pair.auth_requests) == 1
    pair.advance(3.5)  # the client retransmits; the verdict is still pending: no second request
    assert codes(pair.to_server, PROTO_PAP).count(1) == 2
    assert len(pair.auth_requests) == 1
    pair.server.auth_result(True, "100.64.0.11", (), "ok", pair.now)
    pair.pump()
    assert pair.server.is_up
    # a late retransmission after the verdict gets the same Ack again, without a new AuthRequest
    retrans = encode_ppp(PROTO_PAP, bytes.fromhex("0109001b11") + b"user1@example.net" + b"\x04test")
    pair.server.receive(retrans, pair.now)
    assert [p[2] for p in pair.server.take_output()] == [2]
    assert not any(isinstance(e, AuthRequest) for e in pair.server.take_events())


def test_pap_lost_request_is_retried() -> None:
    dropped: list[bytes] = []

    def drop_first_pap(p: bytes) -> bool:
        if p[:2] == b"\xc0\x23" and not dropped:
            dropped.append(p)
            return True
        return False

    pair = Pair(SERVER, CLIENT)
    pair.drop_to_server = drop_first_pap
    pair.start()
    assert not pair.server.is_up
    pair.advance(3.5)
    assert pair.server.is_up and len(pair.auth_requests) == 1


def test_chap_challenge_retransmitted_on_timeout_then_success() -> None:
    responses: list[bytes] = []

    def drop_first_response(p: bytes) -> bool:
        if p[:2] == b"\xc2\x23" and not responses:
            responses.append(p)
            return True
        return False

    pair = Pair(PPPConfig(gateway_ip="100.64.0.1", auth_protocols=("chap",)), CLIENT)
    pair.drop_to_server = drop_first_response
    pair.start()
    pair.advance(3.5)
    assert codes(pair.to_client, PROTO_CHAP).count(1) == 2
    ids = [p[3] for p in pair.to_client if p[:3] == b"\xc2\x23\x01"]
    assert ids[0] != ids[1]  # RFC 1994: a new Identifier per Challenge
    assert pair.server.is_up


def test_chap_timeout_when_peer_never_answers() -> None:
    pair = Pair(PPPConfig(gateway_ip="100.64.0.1", auth_protocols=("chap",), max_configure=3), CLIENT)
    pair.drop_to_server = lambda p: p[:2] == b"\xc2\x23"
    pair.start()
    pair.advance(60)
    assert codes(pair.to_client, PROTO_CHAP).count(1) == 3
    assert SessionDown("auth_timeout") in pair.s_events
    assert LinkFinished() in pair.s_events


def test_pap_timeout_when_peer_never_sends() -> None:
    pair = Pair(PPPConfig(gateway_ip="100.64.0.1", auth_timeout=20), CLIENT)
    pair.drop_to_server = lambda p: p[:2] == b"\xc0\x23"
    pair.start()
    pair.advance(60)
    assert SessionDown("auth_timeout") in pair.s_events


def test_keepalive_failure_is_lost_carrier() -> None:
    pair = Pair(SERVER, CLIENT)
    pair.start()
    assert pair.server.is_up
    pair.drop_to_client = lambda p: True  # the subscriber vanished
    sent_before = len(pair.to_client)
    pair.advance(200)
    assert [k for k in pair.server_kinds() if k in (EchoTimeout, SessionDown, LinkFinished)] == [
        EchoTimeout,
        SessionDown,
        LinkFinished,
    ]
    assert SessionDown("lost_carrier") in pair.s_events
    lost = pair.to_client[sent_before:]
    assert codes(lost, PROTO_LCP) == [Code.ECHO_REQ] * 3  # no Terminate-Request into the void
    assert pair.server.next_deadline() is None


def test_looped_link_is_detected_from_magic_numbers() -> None:
    sess = PPPSession(SERVER, seeded_bytes(5), 0.0)
    out = sess.start(0.0)
    for _ in range(20):
        if sess.finished or not out:
            break
        req = next(p for p in out if p[:3] == b"\xc0\x21\x01")
        sess.receive(req, 0.0)  # our own request comes back: a loop
        out = [p for p in sess.take_output() if p[:3] == b"\xc0\x21\x01"] or out
        sess.handle_timer(sess.next_deadline() or 0.0)
        out = [p for p in sess.take_output() if p[:3] == b"\xc0\x21\x01"] or out
    events = sess.take_events()
    assert SessionDown("loopback") in events


def test_echo_with_our_own_magic_is_a_loop() -> None:
    pair = Pair(SERVER, CLIENT)
    pair.start()
    magic = pair.server.lcp.magic
    pair.server.receive(control_frame(PROTO_LCP, Code.ECHO_REQ, 1, struct.pack("!I", magic)), pair.now)
    assert pair.server.counters["rx_echo_looped"] == 1
    assert SessionDown("loopback") in pair.server.take_events()


def raw_session(now: float = 0.0) -> tuple[PPPSession, list[bytes]]:
    sess = PPPSession(PPPConfig(gateway_ip="100.64.0.1", max_failure=3), seeded_bytes(9), now)
    return sess, sess.start(now)


def test_configure_request_loop_bounded_by_max_failure() -> None:
    sess, _ = raw_session()
    bad = encode_options([Option(LCP_MRU, struct.pack("!H", 9000))])
    verdicts = []
    for i in range(20):
        if sess.lcp.failure:
            break
        sess.receive(control_frame(PROTO_LCP, Code.CONF_REQ, i, bad), 0.0)
        out = sess.take_output()
        verdicts += [p[2] for p in out if p[:2] == b"\xc0\x21" and p[2] in (3, 4)]
    assert verdicts[:3] == [Code.CONF_NAK] * 3  # Max-Failure Naks ...
    assert verdicts[3:] == [Code.CONF_REJ] * 3  # ... then Rejects, then we give up
    assert sess.lcp.failure == "negotiation_failed"
    assert out[-1][2] == Code.TERM_REQ
    while not sess.finished:
        sess.handle_timer(sess.next_deadline() or 0.0)
    assert sess.take_events() == [SessionDown("negotiation_failed"), LinkFinished()]


def test_unknown_options_are_rejected_and_bombs_are_counted() -> None:
    sess, _ = raw_session()
    opts = encode_options(
        [Option(LCP_MRU, b"\x05\xd4"), Option(13, b"\x06"), Option(LCP_MAGIC, b"\x00\x00\x00\x09")]
    )
    sess.receive(control_frame(PROTO_LCP, Code.CONF_REQ, 1, opts), 0.0)
    [rej] = sess.take_output()
    pkt = decode_control(split_protocol(rej)[1])
    assert pkt.code == Code.CONF_REJ and decode_options(pkt.data) == (Option(13, b"\x06"),)
    bomb = b"".join(Option(99, b"").encode() for _ in range(300))
    sess.receive(control_frame(PROTO_LCP, Code.CONF_REQ, 2, bomb), 0.0)
    sess.receive(control_frame(PROTO_LCP, Code.CONF_REQ, 3, b"\x01\x00\x05"), 0.0)  # zero-length option
    sess.receive(control_frame(PROTO_LCP, Code.CONF_REQ, 4, b"\x01\x09\x05\xd4"), 0.0)  # past the end
    sess.receive(b"\xc0\x21\x01\x05\x00\xff\x01", 0.0)  # packet length past the end
    assert sess.take_output() == []
    assert sess.counters["rx_too_many_options"] == 1
    assert sess.counters["rx_bad_option_length"] == 2
    assert sess.counters["rx_bad_length"] == 1


def test_code_reject_and_protocol_reject() -> None:
    pair = Pair(SERVER, CLIENT)
    pair.start()
    pair.server.receive(control_frame(PROTO_LCP, 77, 5, b"junk"), pair.now)
    [cj] = pair.server.take_output()
    assert cj[2] == Code.CODE_REJ and cj[6:] == bytes([77, 5, 0, 8]) + b"junk"
    ipv6cp = control_frame(PROTO_IPV6CP, Code.CONF_REQ, 1, bytes.fromhex("010a0011223344556677"))
    pair.server.receive(ipv6cp, pair.now)
    [pr] = pair.server.take_output()
    assert pr[:3] == b"\xc0\x21\x08" and pr[6:8] == b"\x80\x57" and pr[8:] == ipv6cp[2:]
    assert pair.server.is_up


def test_ipcp_naks_rejects_and_ip_data() -> None:
    pair = Pair(SERVER, CLIENT)
    pair.start()
    sess = pair.server
    opts = encode_options(
        [
            Option(IPCP_ADDRESS, bytes([10, 9, 9, 9])),
            Option(IPCP_DNS1, bytes(4)),
            Option(IPCP_COMPRESSION, b"\x00\x2d\x0f\x01"),
        ]
    )
    sess.receive(control_frame(PROTO_IPCP, Code.CONF_REQ, 40, opts), pair.now)
    out = sess.take_output()
    rej = decode_control(split_protocol(out[-1])[1])
    assert rej.code == Code.CONF_REJ and [o.type for o in decode_options(rej.data)] == [IPCP_COMPRESSION]
    opts = encode_options([Option(IPCP_ADDRESS, bytes([10, 9, 9, 9])), Option(IPCP_DNS1, bytes(4))])
    sess.receive(control_frame(PROTO_IPCP, Code.CONF_REQ, 41, opts), pair.now)
    nak = decode_control(split_protocol(sess.take_output()[-1])[1])
    assert nak.code == Code.CONF_NAK
    assert decode_options(nak.data) == (
        Option(IPCP_ADDRESS, bytes([100, 64, 0, 11])),
        Option(IPCP_DNS1, bytes([192, 0, 2, 53])),
    )


def test_ip_packets_reach_the_caller_once_up() -> None:
    pair = Pair(SERVER, CLIENT)
    pair.start()
    pair.server.receive(encode_ppp(PROTO_IPV4, b"E" + bytes(19)), pair.now)
    assert pair.server.take_events() == [IPv4Packet(b"E" + bytes(19))]


def test_admin_terminate() -> None:
    pair = Pair(SERVER, CLIENT)
    pair.start()
    pair.server.terminate("admin_reset", pair.now)
    pair.pump()
    assert pair.s_events[-2:] == [SessionDown("admin_reset"), LinkFinished()]
    assert SessionDown("user_request") in pair.c_events
    assert codes(pair.to_client, PROTO_LCP)[-1] == Code.TERM_REQ


def test_terminate_without_answer_times_out() -> None:
    pair = Pair(SERVER, CLIENT)
    pair.start()
    pair.drop_to_client = lambda p: True
    pair.server.terminate("admin_reset", pair.now)
    pair.pump()
    assert LinkFinished() not in pair.s_events
    pair.advance(10)
    assert LinkFinished() in pair.s_events
    assert codes(pair.to_client, PROTO_LCP).count(Code.TERM_REQ) == SERVER.max_terminate


def test_peer_terminate_request() -> None:
    pair = Pair(SERVER, CLIENT)
    pair.start()
    pair.client.terminate("user_request", pair.now)
    pair.pump()
    assert SessionDown("user_request") in pair.s_events
    pair.advance(5)
    assert LinkFinished() in pair.s_events and LinkFinished() in pair.c_events


def test_lower_down_emits_down_and_finished_without_packets() -> None:
    pair = Pair(SERVER, CLIENT)
    pair.start()
    pair.server.lower_down("user_request", pair.now)
    assert pair.server.take_output() == []
    assert pair.server.take_events() == [SessionDown("user_request"), LinkFinished()]


def test_resume_keeps_answering_echoes_without_renegotiation() -> None:
    pair = Pair(SERVER, CLIENT)
    pair.start()
    state = json.loads(json.dumps(pair.server.export()))  # plain, JSON-serialisable
    assert state["ip"] == "100.64.0.11"
    resumed = PPPSession.resume(SERVER, seeded_bytes(77), state, pair.now)
    pair.server = resumed
    pair.client.receive(b"", pair.now)  # nothing; the client keeps its state
    sent = len(pair.to_client)
    pair.advance(95)
    new = pair.to_client[sent:]
    assert codes(new, PROTO_LCP) == [Code.ECHO_REQ] * 3
    assert all(p[6:10] == struct.pack("!I", state["magic"]) for p in new)
    assert resumed.is_up and pair.client.is_up and not resumed.take_events()
    # the client's echo requests are answered with the persisted magic number
    resumed.receive(control_frame(PROTO_LCP, Code.ECHO_REQ, 200, struct.pack("!I", 0xABCDEF01)), pair.now)
    [reply] = resumed.take_output()
    assert reply[2:4] == bytes([Code.ECHO_REPLY, 200]) and reply[6:10] == struct.pack("!I", state["magic"])


def test_auth_result_misuse_raises() -> None:
    sess, _ = raw_session()
    try:
        sess.auth_result(True, "100.64.0.2", (), "", 0.0)
    except RuntimeError:
        pass
    else:
        raise AssertionError("auth_result without AuthRequest must raise")
    try:
        PPPConfig(gateway_ip="100.64.0.1", auth_protocols=("eap",))
    except ValueError:
        pass
    else:
        raise AssertionError("unknown auth protocol must be refused")


def test_max_configure_without_answer() -> None:
    sess, first = raw_session()
    now = 0.0
    while not sess.finished:
        deadline = sess.next_deadline()
        assert deadline is not None
        now = deadline
        sess.handle_timer(now)
    assert len(first) + len(sess.take_output()) == sess.config.max_configure
    assert sess.take_events() == [SessionDown("negotiation_failed"), LinkFinished()]


def test_protocol_reject_of_ipcp_ends_the_session() -> None:
    pair = Pair(SERVER, CLIENT)
    pair.start()
    rejected = control_frame(PROTO_IPCP, Code.CONF_REQ, 1, b"")
    pair.server.receive(control_frame(PROTO_LCP, Code.PROTO_REJ, 3, rejected), pair.now)
    pair.pump()
    pair.advance(10)
    assert SessionDown("protocol_rejected") in pair.s_events
    assert LinkFinished() in pair.s_events


def test_ipcp_never_answered_ends_the_session() -> None:
    pair = Pair(PPPConfig(gateway_ip="100.64.0.1", max_configure=4), CLIENT)
    pair.drop_to_server = lambda p: p[:2] == b"\x80\x21"
    pair.start()
    pair.advance(60)
    assert codes(pair.to_client, PROTO_IPCP).count(Code.CONF_REQ) == 4
    assert SessionDown("negotiation_failed") in pair.s_events
    assert not any(isinstance(e, SessionUp) for e in pair.s_events)


def test_terminate_before_start_and_big_rejects_fit_the_mtu() -> None:
    sess = PPPSession(SERVER, seeded_bytes(1), 0.0)
    sess.terminate("admin_reset", 0.0)
    assert sess.take_events() == [SessionDown("admin_reset"), LinkFinished()] and sess.finished
    pair = Pair(SERVER, CLIENT)
    pair.start()
    pair.server.receive(encode_ppp(0x8057, bytes(3000)), pair.now)
    pair.server.receive(control_frame(PROTO_LCP, 99, 1, bytes(3000)), pair.now)
    out = pair.server.take_output()
    assert [p[2] for p in out] == [Code.PROTO_REJ, Code.CODE_REJ]
    assert all(len(p) == SERVER.mtu for p in out)


def test_non_utf8_username_keeps_its_octets() -> None:
    pair = Pair(SERVER, CLIENT, answer_auth=False)
    pair.drop_to_server = lambda p: p[:2] == b"\xc0\x23"
    pair.start()
    raw = b"j\xf6rg@example.net"
    pap = encode_ppp(PROTO_PAP, bytes([1, 77, 0, 6 + len(raw) + 1]) + bytes([len(raw)]) + raw + b"\x01x")
    pair.server.receive(pap, pair.now)
    [req] = [e for e in pair.server.take_events() if isinstance(e, AuthRequest)]
    assert req.username.encode("utf-8", "surrogateescape") == raw and req.password == "x"

"""Golden input: BNG Blaster's two PAP clients (pppoe-pap-untagged.pcap) against our server.

Every PPPoE frame of the capture is decoded; then the client frames are fed to our discovery
server and to one PPPSession per client.  Where our answer is determined by the client (LCP
Configure-Ack, IPCP Configure-Nak/Ack, Terminate-Ack) it must equal BNG Blaster's byte for
byte; our own Configure-Requests equal its requests too, given the same magic number and
gateway address.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from abng.access.pppoe import codec as pppoe
from abng.access.pppoe.discovery import DiscoveryConfig, DiscoveryServer
from abng.ppp import codec
from abng.ppp.events import AuthRequest, LinkFinished, SessionDown, SessionUp
from abng.ppp.session import PPPConfig, PPPSession
from tests.ppp.pcapfile import CAPTURES, EthFrame, read_pcap

CAPTURE = CAPTURES / "pppoe-pap-untagged.pcap"
SERVER_MAC = bytes.fromhex("ee105555c232")
CLIENTS = {
    bytes.fromhex("020000000001"): "user1@example.net",
    bytes.fromhex("020000000002"): "user2@example.net",
}
SECRET = b"k" * 32


@pytest.fixture(scope="module")
def frames() -> list[EthFrame]:
    return read_pcap(CAPTURE)


def test_every_pppoe_frame_decodes(frames: list[EthFrame]) -> None:
    codes: dict[int, int] = {}
    for f in frames:
        pkt = pppoe.decode(f.payload)
        codes[pkt.code] = codes.get(pkt.code, 0) + 1
        if pkt.code == pppoe.Code.SESSION:
            proto, info = codec.split_protocol(pkt.payload)
            if proto in (codec.PROTO_LCP, codec.PROTO_IPCP):
                ctl = codec.decode_control(info)
                if ctl.code <= codec.Code.CONF_REJ:
                    assert codec.decode_options(ctl.data)
            elif proto == codec.PROTO_PAP:
                codec.decode_pap(info)
    assert codes == {0x09: 2, 0x07: 2, 0x19: 2, 0x65: 2, 0x00: 40, 0xA7: 2}
    pap = [
        codec.decode_pap(codec.split_protocol(pppoe.decode(f.payload).payload)[1])
        for f in frames
        if f.ethertype == 0x8864 and pppoe.decode(f.payload).payload[:2] == b"\xc0\x23"
    ]
    requests = [p for p in pap if isinstance(p, codec.PapRequest)]
    assert sorted((r.peer_id, r.password) for r in requests) == [
        (b"user1@example.net", b"test"),
        (b"user2@example.net", b"test"),
    ]


def magic_rng(magic: bytes) -> Iterator[bytes]:
    yield magic
    while True:
        yield b"\x5a" * 16


def ppp_of(f: EthFrame) -> bytes:
    return pppoe.decode_session(f.payload)[1]


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_capture_client_reaches_session_up(frames: list[EthFrame], client: bytes) -> None:
    srv = DiscoveryServer(DiscoveryConfig(ac_name="abng-test", cookie_secret=SECRET))
    now = 100.0
    from_client = [f for f in frames if f.src == client]
    to_client = [f for f in frames if f.dst == client]

    # --- discovery ---
    padi = next(f for f in from_client if f.payload[1] == pppoe.Code.PADI)
    res = srv.handle(padi.payload, client, (), now)
    assert res.reply is not None and res.new_session is None and srv.sessions == {}
    pado = pppoe.decode(res.reply)
    assert pado.code == pppoe.Code.PADO
    assert pado.tag(pppoe.Tag.AC_NAME) == b"abng-test"
    assert pado.tag(pppoe.Tag.SERVICE_NAME) == b""
    cookie = pado.tag(pppoe.Tag.AC_COOKIE)
    assert cookie is not None

    padr_frame = next(f for f in from_client if f.payload[1] == pppoe.Code.PADR)
    captured = pppoe.decode(padr_frame.payload)
    # BNG Blaster's PADR carries its own responder's cookie: useless against us.
    assert srv.handle(padr_frame.payload, client, (), now).drop_reason == "bad_cookie"
    ours = tuple((t, cookie if t == pppoe.Tag.AC_COOKIE else v) for t, v in captured.tags)
    padr = pppoe.PPPoEPacket(pppoe.Code.PADR, 0, ours).encode()
    res = srv.handle(padr, client, (), now)
    assert res.new_session is not None
    sid = res.new_session.session_id
    assert res.new_session.service_name == "access"
    assert res.reply is not None
    pads = pppoe.decode(res.reply)
    assert (pads.code, pads.session_id) == (pppoe.Code.PADS, sid)
    assert sid not in (0, 0xFFFF)

    # --- PPP: our requests use the capture's server magic and gateway so bytes can match ---
    server_lcp_req = next(
        ppp_of(f) for f in to_client if f.ethertype == 0x8864 and ppp_of(f)[:3] == b"\xc0\x21\x01"
    )
    magic = server_lcp_req[-4:]
    nak = next(ppp_of(f) for f in to_client if f.ethertype == 0x8864 and ppp_of(f)[:3] == b"\x80\x21\x03")
    assigned = ".".join(str(b) for b in nak[8:12])  # the first option is IP-Address
    assert assigned.startswith("10.0.0.")
    values = magic_rng(magic)
    sess = PPPSession(
        PPPConfig(gateway_ip="10.0.0.10", auth_protocols=("pap",), lcp_echo_interval=0),
        lambda n: next(values)[:n],
        now,
    )
    assert sess.start(now) == [server_lcp_req]

    expected_replies = [ppp_of(f) for f in to_client if f.ethertype == 0x8864]
    sent: list[bytes] = [server_lcp_req]
    auth_seen: list[AuthRequest] = []
    ups: list[SessionUp] = []
    downs: list[SessionDown] = []
    for f in from_client:
        if f.ethertype != 0x8864:
            continue
        now = 100.0 + f.time - frames[0].time
        sess.receive(ppp_of(f), now)
        for ev in sess.take_events():
            if isinstance(ev, AuthRequest):
                auth_seen.append(ev)
                sess.auth_result(True, assigned, ("8.8.8.8", "1.1.1.1"), "welcome", now)
            elif isinstance(ev, SessionUp):
                ups.append(ev)
            elif isinstance(ev, SessionDown):
                downs.append(ev)
        sent.extend(sess.take_output())

    assert [(a.method, a.username, a.password) for a in auth_seen] == [("pap", CLIENTS[client], "test")]
    assert ups == [SessionUp(assigned, 1492, 1492)]
    assert downs == [SessionDown("user_request")]

    def key(p: bytes) -> tuple[bytes, int]:
        return p[:2], p[2]  # protocol, code

    ours_by_kind: dict[tuple[bytes, int], bytes] = {}
    theirs_by_kind: dict[tuple[bytes, int], bytes] = {}
    for p in sent:
        ours_by_kind.setdefault(key(p), p)  # the first of each kind
    for p in expected_replies:
        theirs_by_kind.setdefault(key(p), p)
    # Replies fully determined by the client's packets are byte-identical to BNG Blaster's.
    for kind in [
        (b"\xc0\x21", codec.Code.CONF_ACK),
        (b"\x80\x21", codec.Code.CONF_REQ),
        (b"\x80\x21", codec.Code.CONF_NAK),
        (b"\x80\x21", codec.Code.CONF_ACK),
        (b"\xc0\x21", codec.Code.TERM_ACK),
    ]:
        assert ours_by_kind[kind] == theirs_by_kind[kind], kind
    # PAP Ack: same identifier; echo replies answer the client's identifiers.
    assert ours_by_kind[(b"\xc0\x23", 2)][3] == theirs_by_kind[(b"\xc0\x23", 2)][3]
    echo_ids = sorted(p[3] for p in sent if key(p) == (b"\xc0\x21", codec.Code.ECHO_REPLY))
    assert echo_ids == sorted(
        p[3] for p in expected_replies if key(p) == (b"\xc0\x21", codec.Code.ECHO_REPLY)
    )
    assert len(echo_ids) == 2, sess.counters

    # LCP finishes after the Terminate-Ack and one restart interval (RFC 1661 zrc/Stopping).
    deadline = sess.next_deadline()
    assert deadline is not None
    sess.handle_timer(deadline)
    assert sess.take_events() == [LinkFinished()]

    # --- the client's PADT ends the discovery state ---
    padt = next(f for f in from_client if f.payload[1] == pppoe.Code.PADT).payload
    assert (
        srv.handle(padt[:2] + b"\x12\x34" + padt[4:], client, (), now).drop_reason == "padt_unknown_session"
    )
    res = srv.handle(padt[:2] + sid.to_bytes(2, "big") + padt[4:], client, (), now)
    assert res.terminated == sid and srv.sessions == {}

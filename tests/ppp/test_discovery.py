"""PPPoE discovery server: stateless PADO, cookie proof, replay, errors, limits; client round trip."""

from __future__ import annotations

import dataclasses
import struct

import pytest

from abng.access.pppoe import codec as pppoe
from abng.access.pppoe.client import DiscoveryClient, DiscoveryFailed, DiscoveryTerminated, DiscoveryUp
from abng.access.pppoe.codec import Code, PPPoEPacket, Tag, first_tags
from abng.access.pppoe.discovery import DiscoveryConfig, DiscoveryServer
from abng.ppp.client import ClientConfig, ClientUp, PPPClient
from abng.ppp.events import AuthRequest, LinkFinished, SessionUp
from abng.ppp.session import PPPConfig, PPPSession
from tests.ppp.harness import local_aaa, seeded_bytes

MAC1 = bytes.fromhex("020000000001")
MAC2 = bytes.fromhex("020000000002")
AC_MAC = bytes.fromhex("ee1055550001")
VLANS = (100, 7)
CFG = DiscoveryConfig(ac_name="abng-test", cookie_secret=b"s" * 32)


def padi(*extra: tuple[int, bytes], service: bytes = b"", sid: int = 0) -> bytes:
    return PPPoEPacket(Code.PADI, sid, ((Tag.SERVICE_NAME, service), *extra)).encode()


def padr_from(pado: bytes, *extra: tuple[int, bytes], service: bytes | None = None) -> bytes:
    pkt = pppoe.decode(pado)
    tags = [(t, v) for t, v in pkt.tags if t in (Tag.AC_COOKIE, Tag.RELAY_SESSION_ID)]
    tags.append((Tag.SERVICE_NAME, service if service is not None else pkt.tag(Tag.SERVICE_NAME) or b""))
    return PPPoEPacket(Code.PADR, 0, (*tags, *extra)).encode()


def offer(srv: DiscoveryServer, mac: bytes = MAC1, vlans: tuple[int, ...] = VLANS, now: float = 0.0) -> bytes:
    res = srv.handle(padi(), mac, vlans, now)
    assert res.reply is not None
    return res.reply


def test_padi_gets_pado_and_nothing_is_stored() -> None:
    srv = DiscoveryServer(CFG)
    relay = (Tag.RELAY_SESSION_ID, b"relay-1")
    res = srv.handle(padi((Tag.HOST_UNIQ, b"hu-1"), relay), MAC1, VLANS, 0.0)
    assert res.new_session is None and srv.sessions == {}
    assert res.reply is not None
    pado = pppoe.decode(res.reply)
    assert pado.code == Code.PADO and pado.session_id == 0
    assert pado.tag(Tag.AC_NAME) == b"abng-test"
    assert pado.tag(Tag.SERVICE_NAME) == b""
    assert pado.tag(Tag.HOST_UNIQ) == b"hu-1"
    assert pado.tag(Tag.RELAY_SESSION_ID) == b"relay-1"
    assert pado.tag(Tag.PPP_MAX_PAYLOAD) is None
    assert pado.tag(Tag.AC_COOKIE) is not None


def test_padr_with_valid_cookie_creates_session_and_replay_is_idempotent() -> None:
    srv = DiscoveryServer(CFG)
    pado = offer(srv)
    padr = padr_from(pado, (Tag.HOST_UNIQ, b"hu"))
    res = srv.handle(padr, MAC1, VLANS, 1.0)
    assert res.new_session is not None
    s = res.new_session
    assert (s.peer_mac, s.vlans, s.host_uniq, s.service_name) == (MAC1, VLANS, b"hu", "")
    assert res.reply is not None
    pads = pppoe.decode(res.reply)
    assert pads.code == Code.PADS and pads.session_id == s.session_id and pads.tag(Tag.HOST_UNIQ) == b"hu"
    # the PADS got lost: the client repeats the PADR -> same PADS, no second session
    again = srv.handle(padr, MAC1, VLANS, 2.0)
    assert again.new_session is None and again.reply == res.reply
    assert len(srv.sessions) == 1 and srv.counters["padr_replay"] == 1


@pytest.mark.parametrize(
    ("mac", "vlans", "now", "reason"),
    [
        (MAC2, VLANS, 1.0, "bad_cookie"),  # cookie stolen by another MAC
        (MAC1, (100, 8), 1.0, "bad_cookie"),  # same MAC on another line
        (MAC1, VLANS, 130.0, "stale_cookie"),  # older than two lifetimes
    ],
)
def test_cookie_binds_mac_vlans_and_time(mac: bytes, vlans: tuple[int, ...], now: float, reason: str) -> None:
    srv = DiscoveryServer(CFG)
    padr = padr_from(offer(srv))
    res = srv.handle(padr, mac, vlans, now)
    assert res.drop_reason == reason and res.reply is None and srv.sessions == {}


def test_forged_and_missing_cookies_are_dropped() -> None:
    srv = DiscoveryServer(CFG)
    pado = pppoe.decode(offer(srv))
    cookie = pado.tag(Tag.AC_COOKIE)
    assert cookie is not None
    forged = cookie[:-1] + bytes([cookie[-1] ^ 1])
    pkt = PPPoEPacket(Code.PADR, 0, ((Tag.SERVICE_NAME, b""), (Tag.AC_COOKIE, forged))).encode()
    assert srv.handle(pkt, MAC1, VLANS, 0.0).drop_reason == "bad_cookie"
    pkt = PPPoEPacket(Code.PADR, 0, ((Tag.SERVICE_NAME, b""),)).encode()
    assert srv.handle(pkt, MAC1, VLANS, 0.0).drop_reason == "no_cookie"
    assert srv.sessions == {}


def test_service_name_error_and_silence_on_padi() -> None:
    srv = DiscoveryServer(dataclasses.replace(CFG, service_names=("internet",)))
    assert srv.handle(padi(service=b"iptv"), MAC1, VLANS, 0.0).drop_reason == "service_not_offered"
    pado = offer(srv)
    res = srv.handle(padr_from(pado, service=b"iptv"), MAC1, VLANS, 0.0)
    assert res.new_session is None and res.reply is not None
    pads = pppoe.decode(res.reply)
    assert pads.code == Code.PADS and pads.session_id == 0 and pads.has(Tag.SERVICE_NAME_ERROR)
    ok = srv.handle(padr_from(pado, service=b"internet"), MAC1, VLANS, 0.0)
    assert ok.new_session is not None and ok.new_session.service_name == "internet"


def test_ac_system_error_when_full_and_per_mac_limit() -> None:
    srv = DiscoveryServer(dataclasses.replace(CFG, max_sessions=1, max_sessions_per_mac=1))
    assert srv.handle(padr_from(offer(srv)), MAC1, VLANS, 0.0).new_session is not None
    res = srv.handle(padr_from(offer(srv, MAC2)), MAC2, VLANS, 0.0)
    assert res.reply is not None and pppoe.decode(res.reply).has(Tag.AC_SYSTEM_ERROR)
    srv2 = DiscoveryServer(dataclasses.replace(CFG, max_sessions_per_mac=1))
    assert srv2.handle(padr_from(offer(srv2)), MAC1, VLANS, 0.0).new_session is not None
    res = srv2.handle(padr_from(offer(srv2, now=1.0)), MAC1, VLANS, 1.0)
    assert res.new_session is None and res.reply is not None
    assert pppoe.decode(res.reply).has(Tag.AC_SYSTEM_ERROR)


def test_rate_limits_apply_before_anything() -> None:
    srv = DiscoveryServer(dataclasses.replace(CFG, padi_rate_per_mac=1.0, padi_burst_per_mac=3.0))
    results = [srv.handle(padi(), MAC1, VLANS, 10.0).drop_reason for _ in range(5)]
    assert results == [None, None, None, "rate_limited_mac", "rate_limited_mac"]
    assert srv.handle(padi(), MAC2, VLANS, 10.0).drop_reason is None  # other MACs unaffected
    assert srv.handle(padi(), MAC1, VLANS, 11.0).drop_reason is None  # refilled
    glob = DiscoveryServer(dataclasses.replace(CFG, padi_rate_global=1.0, padi_burst_global=2.0))
    macs = [bytes([2, 0, 0, 0, 1, i]) for i in range(4)]
    assert [glob.handle(padi(), m, VLANS, 5.0).drop_reason for m in macs] == [
        None,
        None,
        "rate_limited_global",
        "rate_limited_global",
    ]


def test_ppp_max_payload_rfc4638() -> None:
    srv = DiscoveryServer(CFG)
    tag = (Tag.PPP_MAX_PAYLOAD, struct.pack("!H", 1500))
    res = srv.handle(padi(tag), MAC1, VLANS, 0.0)
    assert res.reply is not None and pppoe.decode(res.reply).tag(Tag.PPP_MAX_PAYLOAD) == b"\x05\xdc"
    new = srv.handle(padr_from(res.reply, tag), MAC1, VLANS, 0.0).new_session
    assert new is not None and new.max_payload == 1500
    off = DiscoveryServer(dataclasses.replace(CFG, max_payload=1492))
    res = off.handle(padi(tag), MAC1, VLANS, 0.0)
    assert res.reply is not None and pppoe.decode(res.reply).tag(Tag.PPP_MAX_PAYLOAD) is None


def test_padt_both_directions_and_garbage() -> None:
    srv = DiscoveryServer(CFG)
    new = srv.handle(padr_from(offer(srv)), MAC1, VLANS, 0.0).new_session
    assert new is not None
    sid = new.session_id
    padt = PPPoEPacket(Code.PADT, sid, ()).encode()
    assert srv.handle(padt, MAC2, VLANS, 0.0).drop_reason == "padt_unknown_session"  # not theirs
    assert srv.handle(padt, MAC1, VLANS, 0.0).terminated == sid and srv.sessions == {}
    new = srv.handle(padr_from(offer(srv, now=1.0)), MAC1, VLANS, 1.0).new_session
    assert new is not None and new.session_id != sid  # ids are not reused at once
    ours = pppoe.decode(srv.padt(new.session_id, MAC1, "admin reset"))
    assert ours.code == Code.PADT and ours.tag(Tag.GENERIC_ERROR) == b"admin reset" and srv.sessions == {}
    assert srv.handle(padi(sid=5), MAC1, VLANS, 0.0).drop_reason == "nonzero_session_id"
    assert srv.handle(padi(), b"\x01\x00\x5e\x00\x00\x01", VLANS, 0.0).drop_reason == "bad_source_mac"
    assert srv.handle(b"\x11\x09\x00", MAC1, VLANS, 0.0).drop_reason == "short_header"
    assert (
        srv.handle(PPPoEPacket(Code.PADO, 0, ()).encode(), MAC1, VLANS, 0.0).drop_reason == "unexpected_code"
    )
    assert srv.counters["drop_bad_source_mac"] == 1


def test_session_ids_never_0_or_ffff_and_wrap() -> None:
    srv = DiscoveryServer(CFG)
    srv._next_id = 0xFFFD
    ids = []
    for i in range(4):
        mac = bytes([2, 0, 0, 0, 2, i])
        new = srv.handle(padr_from(offer(srv, mac)), mac, VLANS, 0.0).new_session
        assert new is not None
        ids.append(new.session_id)
    assert ids == [0xFFFD, 0xFFFE, 1, 2]


def test_full_round_trip_over_pppoe() -> None:
    """DiscoveryClient + PPPClient <-> DiscoveryServer + PPPSession, all in memory."""
    srv = DiscoveryServer(CFG)
    dc = DiscoveryClient(host_uniq=b"\x00\x01", max_payload=1500)
    now = 0.0
    dc.start(now)
    for _ in range(4):
        for dst, payload in dc.take_output():
            assert dst in (b"\xff" * 6, AC_MAC)
            res = srv.handle(payload, MAC1, VLANS, now)
            if res.reply is not None:
                dc.receive(res.reply, AC_MAC, now)
    [up] = dc.take_events()
    assert isinstance(up, DiscoveryUp) and up.max_payload == 1500 and up.ac_name == "abng-test"
    sid = up.session_id
    server_cfg = PPPConfig(gateway_ip="100.64.0.1").with_max_payload(up.max_payload)
    assert (server_cfg.mru, server_cfg.mtu) == (1500, 1500)
    server = PPPSession(server_cfg, seeded_bytes(3), now)
    client = PPPClient(
        ClientConfig(username="user2@example.net", password="test", mru=1500), seeded_bytes(4), now
    )
    to_server = [pppoe.session_frame(sid, p) for p in client.start(now)]
    to_client = [pppoe.session_frame(sid, p) for p in server.start(now)]
    events = []
    for _ in range(50):
        for frame in to_server:
            got_sid, ppp = pppoe.decode_session(frame)
            assert got_sid == sid
            server.receive(ppp, now)
        for frame in to_client:
            client.receive(pppoe.decode_session(frame)[1], now)
        for ev in server.take_events():
            events.append(ev)
            if isinstance(ev, AuthRequest):
                server.auth_result(local_aaa(ev), "100.64.0.22", ("192.0.2.53",), "welcome", now)
        to_server = [pppoe.session_frame(sid, p) for p in client.take_output()]
        to_client = [pppoe.session_frame(sid, p) for p in server.take_output()]
        if not to_server and not to_client:
            break
    assert SessionUp("100.64.0.22", 1500, 1500) in events
    assert ClientUp("100.64.0.22", "100.64.0.1", ("192.0.2.53",)) in client.take_events()
    # the subscriber hangs up with PADT: the server's discovery state and PPP session end
    _dst, padt = dc.padt()
    assert srv.handle(padt, MAC1, VLANS, now).terminated == sid
    server.lower_down("user_request", now)
    assert server.take_events()[-1] == LinkFinished()


def test_discovery_client_retransmits_and_reports_errors() -> None:
    dc = DiscoveryClient(timeout=1.0, max_tries=3)
    dc.start(0.0)
    now = 0.0
    sent = len(dc.take_output())
    while dc.next_deadline() is not None:
        now = dc.next_deadline() or now
        dc.handle_timer(now)
        sent += len(dc.take_output())
    assert sent == 3 and dc.take_events() == [DiscoveryFailed("timeout")]
    assert now == 1.0 + 2.0 + 4.0  # doubling back-off
    srv = DiscoveryServer(dataclasses.replace(CFG, max_sessions=1))
    srv.handle(padr_from(offer(srv, MAC2)), MAC2, VLANS, 0.0)
    dc = DiscoveryClient()
    dc.start(0.0)
    for _ in range(2):
        for _dst, payload in dc.take_output():
            res = srv.handle(payload, MAC1, VLANS, 0.0)
            if res.reply:
                dc.receive(res.reply, AC_MAC, 0.0)
    assert dc.take_events() == [DiscoveryFailed("ac_system_error")]


def test_discovery_client_sees_server_padt() -> None:
    srv = DiscoveryServer(CFG)
    dc = DiscoveryClient()
    dc.start(0.0)
    for _ in range(2):
        for _dst, payload in dc.take_output():
            res = srv.handle(payload, MAC1, (), 0.0)
            if res.reply:
                dc.receive(res.reply, AC_MAC, 0.0)
    [up] = dc.take_events()
    assert isinstance(up, DiscoveryUp)
    dc.receive(srv.padt(up.session_id, MAC1), AC_MAC, 1.0)
    assert dc.take_events() == [DiscoveryTerminated(up.session_id)]


def test_a_client_restarting_discovery_gets_a_new_session() -> None:
    srv = DiscoveryServer(CFG)
    first = srv.handle(padr_from(offer(srv)), MAC1, VLANS, 0.0).new_session
    second = srv.handle(padr_from(offer(srv, now=1.0)), MAC1, VLANS, 1.0).new_session
    assert first is not None and second is not None
    assert first.session_id != second.session_id and first.cookie != second.cookie


def test_frames_for_another_ac_are_ignored() -> None:
    srv = DiscoveryServer(dataclasses.replace(CFG, our_mac=AC_MAC))
    other_ac = bytes.fromhex("ee1055550099")
    assert srv.handle(padi(), MAC1, VLANS, 0.0, dst_mac=b"\xff" * 6).reply is not None
    padr = padr_from(offer(srv))
    assert srv.handle(padr, MAC1, VLANS, 0.0, dst_mac=other_ac).drop_reason == "not_for_us"
    assert srv.handle(padr, MAC1, VLANS, 0.0, dst_mac=b"\xff" * 6).drop_reason == "not_for_us"
    new = srv.handle(padr, MAC1, VLANS, 0.0, dst_mac=AC_MAC).new_session
    assert new is not None
    padt = PPPoEPacket(Code.PADT, new.session_id, ()).encode()
    assert srv.handle(padt, MAC1, VLANS, 0.0, dst_mac=other_ac).drop_reason == "not_for_us"
    assert srv.handle(padt, MAC1, VLANS, 0.0, dst_mac=AC_MAC).terminated == new.session_id


def test_cookie_hmac_matches_the_standard_library() -> None:
    """The precomputed-pad HMAC behind the AC-Cookie equals hmac.digest for every key size."""
    import hmac
    import random

    from abng.access.pppoe.cookie import hmac_sha256

    r = random.Random(5)
    for size in (16, 32, 63, 64, 65, 100, 200):
        secret = r.randbytes(size)
        for _ in range(20):
            msg = r.randbytes(r.randint(0, 80))
            assert hmac_sha256(secret, msg) == hmac.digest(secret, msg, "sha256")


def test_first_tags_takes_the_first_of_each_wanted_type_only() -> None:
    tags = ((0x0103, b"hu1"), (0x0101, b""), (0x0104, b"c1"), (0x0103, b"hu2"), (0x0104, b"c2"))
    assert first_tags(tags, {0x0103: 0, 0x0104: 1, 0x0110: 2}, 3) == [b"hu1", b"c1", None]
    assert first_tags((), {0x0103: 0}, 1) == [None]


def test_global_padi_limit_counts_padis_only() -> None:
    """pppoe.padi_rate_limit is PADIs answered per second: PADRs (they carry our cookie) are not
    charged to it, so a storm of n new sessions per second needs n tokens, not 2n."""
    srv = DiscoveryServer(dataclasses.replace(CFG, padi_rate_global=1.0, padi_burst_global=2.0))
    offers = [offer(srv, mac=m) for m in (MAC1, MAC2)]  # the two PADIs take the whole burst
    assert srv.handle(padi(), bytes([2, 0, 0, 0, 1, 9]), VLANS, 0.0).drop_reason == "rate_limited_global"
    for o, m in zip(offers, (MAC1, MAC2), strict=True):
        assert srv.handle(padr_from(o), m, VLANS, 0.0).new_session is not None
    tight = DiscoveryServer(dataclasses.replace(CFG, padi_rate_per_mac=1.0, padi_burst_per_mac=1.0))
    o = offer(tight)  # the MAC's one token
    assert tight.handle(padr_from(o), MAC1, VLANS, 0.0).drop_reason == "rate_limited_mac"  # still per MAC

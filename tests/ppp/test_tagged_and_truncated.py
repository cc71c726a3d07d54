"""Captured frames re-tagged (QinQ) through the shared frame parser, and truncated everywhere."""

from __future__ import annotations

from abng.access.frames import TPID_8021AD, TPID_8021Q, VlanTag, parse_frame, with_tags
from abng.access.pppoe import codec as pppoe
from abng.access.pppoe.discovery import DiscoveryConfig, DiscoveryServer
from abng.ppp.session import PPPConfig, PPPSession
from tests.ppp.harness import seeded_bytes
from tests.ppp.pcapfile import CAPTURES, read_pcap

CAPTURE = CAPTURES / "pppoe-pap-untagged.pcap"
QINQ = (VlanTag(TPID_8021AD, 200), VlanTag(TPID_8021Q, 20))


def raw_frames() -> list[bytes]:
    frames = read_pcap(CAPTURE)
    return [f.dst + f.src + f.ethertype.to_bytes(2, "big") + f.payload for f in frames]


def test_qinq_tagged_discovery_binds_the_cookie_to_the_vlan_stack() -> None:
    srv = DiscoveryServer(DiscoveryConfig(ac_name="abng", cookie_secret=b"q" * 32))
    padi_raw = next(r for r in raw_frames() if r[12:14] == b"\x88\x63" and r[15] == pppoe.Code.PADI)
    eth = parse_frame(with_tags(padi_raw, QINQ))
    assert eth.vids == (200, 20) and eth.ethertype == 0x8863
    res = srv.handle(eth.payload, eth.src, eth.vids, 0.0)
    assert res.reply is not None
    cookie = pppoe.decode(res.reply).tag(pppoe.Tag.AC_COOKIE) or b""
    padr = pppoe.PPPoEPacket(
        pppoe.Code.PADR, 0, ((pppoe.Tag.SERVICE_NAME, b""), (pppoe.Tag.AC_COOKIE, cookie))
    ).encode()
    assert srv.handle(padr, eth.src, (200, 21), 0.0).drop_reason == "bad_cookie"  # other C-VLAN
    new = srv.handle(padr, eth.src, eth.vids, 0.0).new_session
    assert new is not None and new.vlans == (200, 20)


def test_every_captured_frame_truncated_at_every_offset() -> None:
    srv = DiscoveryServer(DiscoveryConfig(ac_name="abng", cookie_secret=b"t" * 32, padi_rate_per_mac=0))
    sess = PPPSession(PPPConfig(gateway_ip="100.64.0.1"), seeded_bytes(2), 0.0)
    sess.start(0.0)
    checked = 0
    for f in read_pcap(CAPTURE):
        for cut in range(len(f.payload)):
            piece = f.payload[:cut]
            if f.ethertype == 0x8863:
                res = srv.handle(piece, f.src, (), 0.0)
                assert res.drop_reason is not None  # a cut PPPoE header or tag list is garbage
            else:
                try:
                    _sid, ppp = pppoe.decode_session(piece)
                except pppoe.DecodeError:
                    checked += 1
                    continue
                raise AssertionError(f"truncated session frame {f.number} at {cut} decoded: {ppp!r}")
            checked += 1
        if f.ethertype == 0x8864:
            ppp = pppoe.decode_session(f.payload)[1]
            for cut in range(len(ppp)):
                sess.receive(ppp[:cut], 0.0)  # must never raise
    assert checked > 1000
    assert sum(sess.counters.values()) > 100

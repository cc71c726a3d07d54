"""Engine building blocks without a network: PPPoE subscriber timeouts, VLAN layout, statistics."""

from __future__ import annotations

import random

import pytest

from abng.access.frames import TPID_8021AD, TPID_8021Q, VlanTag
from abng.access.pppoe.codec import Code, PPPoEPacket, Tag, decode
from abng.lab.config import lab_config
from abng.lab.pppoe_client import PppoeFailed, PppoeSubscriber
from abng.lab.stats import Stats
from abng.lab.subscribers import icmp_echo, layout, parse_echo_reply, tags_for
from abng.ppp.client import ClientConfig

AC = bytes.fromhex("0a0000000001")


def subscriber() -> PppoeSubscriber:
    cfg = ClientConfig("sub1@lab", "pw1", auth_protocols=("pap",))
    return PppoeSubscriber(cfg, random.Random(1).randbytes, b"\x00\x00\x00\x01", discovery_timeout=1.0)


def run_timers(sub: PppoeSubscriber, until: float) -> int:
    sent = 0
    while (d := sub.next_deadline()) is not None and d <= until:
        sub.handle_timer(d)
        sent += len(sub.take_output())
    return sent


def test_padi_timeout_after_retries() -> None:
    sub = subscriber()
    sub.start(0.0)
    (first,) = sub.take_output()
    assert first[1] == 0x8863 and decode(first[2]).code == Code.PADI
    assert run_timers(sub, 100.0) == 4  # 5 PADIs in all
    assert sub.take_events() == [PppoeFailed("padi_timeout")]


def test_padr_timeout_names_the_phase() -> None:
    sub = subscriber()
    sub.start(0.0)
    sub.take_output()
    pado = PPPoEPacket(Code.PADO, 0, ((Tag.AC_NAME, b"bng"), (Tag.HOST_UNIQ, b"\x00\x00\x00\x01")))
    sub.receive_discovery(pado.encode(), AC, 0.1)
    ((dst, _, padr),) = sub.take_output()
    assert dst == AC and decode(padr).code == Code.PADR
    run_timers(sub, 100.0)
    assert sub.take_events() == [PppoeFailed("padr_timeout")]


def test_pado_for_another_host_is_ignored() -> None:
    sub = subscriber()
    sub.start(0.0)
    sub.take_output()
    pado = PPPoEPacket(Code.PADO, 0, ((Tag.AC_NAME, b"bng"), (Tag.HOST_UNIQ, b"other")))
    sub.receive_discovery(pado.encode(), AC, 0.1)
    assert sub.take_output() == [] and sub.disc.state == "padi_sent"


def test_vlan_layout() -> None:
    assert tags_for("untagged", 5) == ()
    assert tags_for("dot1q", 0) == (VlanTag(TPID_8021Q, 200),)
    assert tags_for("dot1q", 100) == (VlanTag(TPID_8021Q, 200),)
    assert tags_for("qinq", 4001) == (VlanTag(TPID_8021AD, 101), VlanTag(TPID_8021Q, 2))
    specs = layout("pppoe", 4, "mixed", credentials={1: ("user1@lab", "pass1")})
    assert [s.vlan_text for s in specs] == ["200", "100.1", "201", "100.2"]
    assert [s.username for s in specs] == ["user1@lab", "sub2@lab", "sub3@lab", "sub4@lab"]
    assert len({s.mac for s in specs + layout("dhcp", 4, "mixed")}) == 8
    with pytest.raises(ValueError, match="unknown VLAN mode"):
        tags_for("triple", 1)


def test_lab_config_is_valid_and_matches_the_vlan_plan() -> None:
    from abng.config.schema import validate_config

    for kw in ({"vlan_mode": "mixed"}, {"vlan_mode": "untagged"}, {"radius": (1812, 1813)}):
        cfg = lab_config(pppoe_users=10, **kw)  # type: ignore[arg-type]
        parsed, issues = validate_config(cfg)
        assert parsed is not None and issues == []
        assert parsed.demux.enabled is (kw.get("vlan_mode") != "untagged")
        names = {s.username for s in parsed.aaa.subscribers}
        assert {"user1@lab", "sub1@lab", "sub10@lab"} <= names


def test_icmp_echo_round_trip_parsing() -> None:
    req = icmp_echo(0x64400001, 0xC6336402, 7, 3)
    reply = req[:20] + b"\x00" + req[21:]
    assert parse_echo_reply(reply) == (7, 3)
    assert parse_echo_reply(req) is None


def test_stats_rates_flaps_and_timeouts() -> None:
    st = Stats()
    st.requested["pppoe"] = 3
    for t in (0.0, 0.1, 0.2):
        st.started(t)
    st.up("pppoe", 0.5, 0.5)
    st.up("pppoe", 1.5, 1.4)
    st.failed("padi_timeout")
    st.up("pppoe", 2.5, 2.3)
    assert st.setup_time == 2.5 and st.all_up_at == 2.5
    assert st.rate() == {"min": 1.0, "avg": 1.0, "max": 1.0}
    st.down("pppoe", "lost_carrier", asked=False)
    st.down("pppoe", "admin", asked=True)
    rep = st.report()
    assert rep["flaps"] == 1 and rep["admin_downs"] == 1 and rep["established_total"] == 1
    assert rep["timeouts"] == {"padi_timeout": 1} and rep["failures"] == {"lost_carrier": 1}
    assert "sessions up 1/3" in st.line(3.0)


def _in_session(sid: int = 0x1234) -> PppoeSubscriber:
    sub = subscriber()
    sub.start(0.0)
    sub.take_output()
    pado = PPPoEPacket(Code.PADO, 0, ((Tag.AC_NAME, b"bng"), (Tag.HOST_UNIQ, b"\x00\x00\x00\x01")))
    sub.receive_discovery(pado.encode(), AC, 0.1)
    sub.take_output()
    pads = PPPoEPacket(Code.PADS, sid, ((Tag.HOST_UNIQ, b"\x00\x00\x00\x01"),))
    sub.receive_discovery(pads.encode(), AC, 0.2)
    return sub


def test_receive_session_sending_sends_what_receive_session_queues() -> None:
    from abng.access.pppoe.codec import decode_session
    from abng.ppp.codec import PROTO_LCP, ControlPacket, encode_ppp

    head = bytes.fromhex("02ab01000001") + b"\x88\xa8\x00\x64\x81\x00\x00\x01\x88\x64"
    queued, sending = _in_session(), _in_session()
    assert queued.take_output() == sending.take_output() != []  # the LCP Configure-Request
    # discovery has no timer left once the PPP client exists (next_deadline relies on it)
    assert queued.disc.next_deadline() is None and queued.next_deadline() is not None
    conf_req = encode_ppp(PROTO_LCP, ControlPacket(1, 7, b"\x01\x04\x05\xd4").encode())
    again = encode_ppp(PROTO_LCP, ControlPacket(1, 8, b"\x01\x04\x05\xd4").encode())
    for payload in (conf_req, again):
        queued.receive_session(payload, 0.3)
        sent: list[bytes] = []
        sending.receive_session_sending(payload, 0.3, head, sent.append)
        expected = [dst + head + p for dst, _, p in queued.take_output()]
        assert sent == expected and sent and sending.take_output() == []
        assert all(decode_session(f[len(AC) + len(head) :])[0] == 0x1234 for f in sent)
        assert queued.take_events() == sending.take_events()
        assert queued.next_deadline() == sending.next_deadline()

"""The sans-I/O client driven by hand with a fake clock: retransmit, failover, ids, drops."""

from __future__ import annotations

from abng.aaa import crypto, packet
from abng.aaa.client import ClientMachine, Kind, ReplyReceived, RequestTimedOut, ServerAddr
from abng.aaa.packet import Code

S1 = ServerAddr("10.0.0.1", b"s1", 1812, 1813)
S2 = ServerAddr("10.0.0.2", b"s2", 1812, 1813)
ATTRS = packet.make_all([("User-Name", "u")])


def _reply(tx_data: bytes, secret: bytes, code: int = Code.ACCESS_ACCEPT, ma: bool = True) -> bytes:
    req = packet.decode(tx_data)
    if ma:
        return crypto.build_reply(code, req.identifier, req.authenticator, secret, [])
    body = packet.encode(packet.Packet(code, req.identifier, req.authenticator, ()))
    auth = crypto._md5(body, secret)
    return body[:4] + auth + body[20:]


def test_retransmit_then_failover_then_timeout() -> None:
    m = ClientMachine([S1, S2], timeout=1.0, retries=2, dead_time=60)
    h = m.submit(Kind.AUTH, ATTRS, 0.0, password=b"pw")
    (tx,) = m.pop_transmits()
    assert tx.addr == ("10.0.0.1", 1812)
    assert m.get_timer() == 1.0
    m.handle_timer(1.0)
    m.handle_timer(2.0)
    retx = m.pop_transmits()
    assert [t.data for t in retx] == [tx.data, tx.data]  # same datagram: RFC 5080 §2.2.1
    m.handle_timer(3.0)
    (fo,) = m.pop_transmits()
    assert fo.addr == ("10.0.0.2", 1812)
    assert not m.server_alive(0, 3.0) and m.stats["failovers"] == 1
    # the hidden password differs per server secret
    assert packet.decode(fo.data).raw(0, 2) != packet.decode(tx.data).raw(0, 2)
    for t in (4.0, 5.0, 6.0):
        m.handle_timer(t)
    assert len(m.pop_transmits()) == 2
    assert m.pop_events() == [RequestTimedOut(h)]
    assert m.in_flight == 0 and m.get_timer() is None
    # both dead: the next request probes each once only
    h2 = m.submit(Kind.AUTH, ATTRS, 7.0)
    assert len(m.pop_transmits()) == 1
    m.handle_timer(8.0)
    assert len(m.pop_transmits()) == 1
    m.handle_timer(9.0)
    assert m.pop_events() == [RequestTimedOut(h2)]


def test_reply_resolves_and_revives() -> None:
    m = ClientMachine([S1, S2], timeout=1.0, retries=0, dead_time=60)
    m.submit(Kind.AUTH, ATTRS, 0.0)
    m.pop_transmits()
    m.handle_timer(1.0)
    (tx,) = m.pop_transmits()
    assert tx.addr[0] == "10.0.0.2"
    h = m.submit(Kind.AUTH, ATTRS, 1.5)
    (tx2,) = m.pop_transmits()
    assert tx2.addr[0] == "10.0.0.2"  # server 1 is dead: alive ones first
    m.receive(tx2.socket, _reply(tx2.data, b"s2"), ("10.0.0.2", 1812), 1.6)
    events = m.pop_events()
    assert isinstance(events[0], ReplyReceived) and events[0].handle == h and events[0].server == 1


def test_bad_replies_are_dropped() -> None:
    m = ClientMachine([S1], timeout=1.0, retries=0)
    m.submit(Kind.AUTH, ATTRS, 0.0)
    (tx,) = m.pop_transmits()
    src = ("10.0.0.1", 1812)
    m.receive(tx.socket, _reply(tx.data, b"wrong"), src, 0.1)
    m.receive(tx.socket, _reply(tx.data, b"s1", ma=False), src, 0.1)  # D22: no Message-Authenticator
    m.receive(tx.socket, _reply(tx.data, b"s1"), ("10.0.0.9", 1812), 0.1)
    m.receive(tx.socket, _reply(tx.data, b"s1", code=Code.ACCOUNTING_RESPONSE), src, 0.1)
    m.receive(tx.socket, b"\x02\x00", src, 0.1)
    m.receive(5, _reply(tx.data, b"s1"), src, 0.1)
    assert m.pop_events() == []
    assert m.stats["drop_bad_authenticator"] == 2
    assert m.stats["drop_wrong_source"] == 1 and m.stats["drop_bad_code"] == 1
    assert m.stats["drop_malformed"] == 1 and m.stats["drop_unknown_id"] == 1
    m.receive(tx.socket, _reply(tx.data, b"s1"), src, 0.2)
    assert len(m.pop_events()) == 1


def test_accounting_response_without_ma_accepted_and_delay_time() -> None:
    m = ClientMachine([S1, S2], timeout=1.0, retries=0)
    m.submit(Kind.ACCT, ATTRS, 10.0, delay_offset=100.0)
    (tx,) = m.pop_transmits()
    assert crypto.verify_signed_request(tx.data, b"s1", require_ma=True)
    assert packet.decode(tx.data).first("Acct-Delay-Time") == 100
    m.handle_timer(11.0)
    (fo,) = m.pop_transmits()
    assert packet.decode(fo.data).first("Acct-Delay-Time") == 101
    m.receive(fo.socket, _reply(fo.data, b"s2", Code.ACCOUNTING_RESPONSE, ma=False), ("10.0.0.2", 1813), 11.5)
    assert isinstance(m.pop_events()[0], ReplyReceived)


def test_ids_sockets_queue_and_no_leaks() -> None:
    m = ClientMachine([S1], timeout=1.0, retries=0, max_sockets=2)
    handles = [m.submit(Kind.AUTH, ATTRS, 0.0) for _ in range(600)]
    txs = m.pop_transmits()
    assert len(txs) == 512 and m.socket_count == 2 and m.queued == 88
    keys = {(t.socket, packet.decode(t.data).identifier) for t in txs}
    assert len(keys) == 512
    for t in txs[:100]:
        m.receive(t.socket, _reply(t.data, b"s1"), ("10.0.0.1", 1812), 0.5)
    assert len(m.pop_events()) == 100
    assert len(m.pop_transmits()) == 88 and m.queued == 0
    m.cancel(handles[150], 0.6)
    m.handle_timer(10.0)
    timeouts = m.pop_events()
    assert len(timeouts) == 600 - 100 - 1
    assert m.in_flight == 0 and m.get_timer() is None and m.socket_count == 2

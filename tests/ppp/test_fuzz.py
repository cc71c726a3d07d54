"""Seeded fuzzing: >100,000 random and mutated frames through discovery and every PPP machine.

The only allowed outcomes are events, replies and counted drops; any exception escaping is a
failure.  Machines in every phase are exercised: fresh (LCP negotiating), waiting for the AAA
verdict, open, resumed; and the client side (PPPClient, DiscoveryClient).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence

from abng.access.pppoe import codec as pppoe
from abng.access.pppoe.client import DiscoveryClient
from abng.access.pppoe.codec import Code, PPPoEPacket, Tag
from abng.access.pppoe.discovery import DiscoveryConfig, DiscoveryServer
from abng.ppp.client import ClientConfig, ClientUp, PPPClient
from abng.ppp.events import AuthRequest, EchoTimeout, IPv4Packet, LinkFinished, SessionDown, SessionUp
from abng.ppp.session import PPPConfig, PPPSession
from tests.ppp.harness import Pair, seeded_bytes
from tests.ppp.pcapfile import CAPTURES, read_pcap

SEED = 20261204
SERVER_EVENTS = (AuthRequest, SessionUp, SessionDown, LinkFinished, EchoTimeout, IPv4Packet)
CLIENT_EVENTS = (ClientUp, SessionDown, LinkFinished, IPv4Packet)
MAC = bytes.fromhex("020000000001")


def mutate(r: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(r.randint(1, 4)):
        op = r.randrange(7)
        if op == 0 and b:
            i = r.randrange(len(b))
            b[i] ^= 1 << r.randrange(8)
        elif op == 1 and b:
            del b[r.randrange(len(b)) :]
        elif op == 2:
            i = r.randrange(len(b) + 1)
            b[i:i] = r.randbytes(r.randint(1, 8))
        elif op == 3 and len(b) > 4:
            i = r.randrange(len(b) - 1)  # rewrite a 16-bit field (lengths, protocols)
            b[i : i + 2] = r.choice([b"\x00\x00", b"\xff\xff", b"\x00\x04", b"\x05\xdc", r.randbytes(2)])
        elif op == 4 and b:
            i = r.randrange(len(b))
            b[i] = r.choice([0, 1, 2, 3, 4, 5, 9, 0xFF])
        elif op == 5 and len(b) > 8:
            i, j = sorted(r.sample(range(len(b)), 2))
            b[j:j] = b[i:j]  # duplicate a chunk (duplicate options/tags)
        else:
            b = bytearray(r.randbytes(r.randint(0, 64)))
    return bytes(b)


def ppp_corpus() -> list[bytes]:
    corpus: list[bytes] = []
    for f in read_pcap(CAPTURES / "pppoe-pap-untagged.pcap"):
        if f.ethertype == 0x8864:
            corpus.append(pppoe.decode_session(f.payload)[1])
    for auth in (("pap",), ("chap",)):
        pair = Pair(
            PPPConfig(gateway_ip="100.64.0.1", auth_protocols=auth, lcp_echo_interval=10),
            ClientConfig(username="user1@example.net", password="test"),
        )
        pair.start()
        pair.advance(25)
        pair.client.terminate("user_request", pair.now)
        pair.pump()
        corpus += pair.to_client + pair.to_server
    return corpus


def check(events: Sequence[object], allowed: tuple[type, ...]) -> None:
    for ev in events:
        assert isinstance(ev, allowed), ev


class ServerUnderFuzz:
    """A PPPSession that is brought to a given phase, and rebuilt when it finishes."""

    def __init__(self, r: random.Random, phase: str, opened_state: dict[str, object]) -> None:
        self.r, self.phase, self.opened_state = r, phase, opened_state
        self.seen: Counter[str] = Counter()
        self.now = 0.0
        self.sess = self._new()

    def _new(self) -> PPPSession:
        cfg = PPPConfig(gateway_ip="100.64.0.1", auth_protocols=self.r.choice([("pap",), ("chap", "pap")]))
        if self.phase == "resumed":
            return PPPSession.resume(
                cfg, seeded_bytes(self.r.randrange(1 << 30)), self.opened_state, self.now
            )
        if self.phase in ("auth_wait", "up"):
            client = ClientConfig(username="user1@example.net", password="test")
            pair = Pair(cfg, client, seed=self.r.randrange(1 << 30), answer_auth=self.phase == "up")
            pair.now = self.now
            pair.start()
            self.seen.update(type(e).__name__ for e in pair.s_events)
            return pair.server
        sess = PPPSession(cfg, seeded_bytes(self.r.randrange(1 << 30)), self.now)
        sess.start(self.now)
        return sess

    def feed(self, payload: bytes) -> None:
        self.now += self.r.choice([0.0, 0.01, 0.5, 4.0])
        self.sess.receive(payload, self.now)
        if self.r.random() < 0.05:
            self.sess.handle_timer(self.sess.next_deadline() or self.now)
        for ev in self.sess.take_events():
            check([ev], SERVER_EVENTS)
            self.seen[type(ev).__name__] += 1
            if isinstance(ev, AuthRequest) and self.r.random() < 0.8:
                ok = self.r.random() < 0.7
                self.sess.auth_result(ok, "100.64.0.9" if ok else None, ("192.0.2.53",), "m", self.now)
        self.sess.take_output()
        check(self.sess.take_events(), SERVER_EVENTS)
        if self.sess.finished:
            self.sess = self._new()


def test_fuzz_everything() -> None:
    r = random.Random(SEED)
    corpus = ppp_corpus()
    pair = Pair(
        PPPConfig(gateway_ip="100.64.0.1"), ClientConfig(username="user1@example.net", password="test")
    )
    pair.start()
    opened = pair.server.export()

    servers = [ServerUnderFuzz(r, phase, opened) for phase in ("fresh", "auth_wait", "up", "resumed")]
    clients: list[PPPClient] = []

    def new_client() -> PPPClient:
        c = PPPClient(ClientConfig(username="u", password="p"), seeded_bytes(r.randrange(1 << 30)), 0.0)
        c.start(0.0)
        return c

    clients.append(new_client())

    disc = DiscoveryServer(DiscoveryConfig(ac_name="fuzz", cookie_secret=b"f" * 32, padi_rate_per_mac=0))
    pado = disc.handle(PPPoEPacket(Code.PADI, 0, ((Tag.SERVICE_NAME, b""),)).encode(), MAC, (7,), 0.0).reply
    assert pado is not None
    cookie = pppoe.decode(pado).tag(Tag.AC_COOKIE) or b""
    disc_corpus = [
        pado,
        PPPoEPacket(Code.PADI, 0, ((Tag.SERVICE_NAME, b""), (Tag.HOST_UNIQ, b"h"))).encode(),
        PPPoEPacket(Code.PADR, 0, ((Tag.SERVICE_NAME, b""), (Tag.AC_COOKIE, cookie))).encode(),
        PPPoEPacket(Code.PADT, 1, ()).encode(),
        PPPoEPacket(Code.PADS, 1, ((Tag.SERVICE_NAME, b""),)).encode(),
    ]
    dclient = DiscoveryClient()
    dclient.start(0.0)

    feeders: list[Callable[[bytes], None]] = [s.feed for s in servers]
    total = 0
    while total < 100_000:
        if r.random() < 0.3:
            payload = mutate(r, r.choice(disc_corpus)) if r.random() < 0.9 else r.randbytes(r.randint(0, 80))
            res = disc.handle(payload, r.choice([MAC, bytes(6), r.randbytes(6)]), (7,), total / 1000)
            assert (res.reply is not None) or res.drop_reason or res.terminated is not None
            if res.new_session is not None and r.random() < 0.5:
                disc.release(res.new_session.session_id, res.new_session.peer_mac)
            dclient.receive(payload, MAC, total / 1000)
            dclient.take_output()
            dclient.take_events()
        else:
            payload = mutate(r, r.choice(corpus)) if r.random() < 0.9 else r.randbytes(r.randint(0, 60))
            r.choice(feeders)(payload)
            c = clients[-1]
            c.receive(payload, total / 1000)
            c.take_output()
            check(list(c.take_events()), CLIENT_EVENTS)
            if c.finished:
                clients[-1] = new_client()
        total += 1
    drops = sum(v for k, v in disc.counters.items() if k.startswith("drop_"))
    assert drops > 10_000  # most mutations are garbage and counted as such
    assert sum(sum(s.sess.counters.values()) for s in servers) > 0
    seen = sum((s.seen for s in servers), Counter[str]())
    # every phase was reached and left again many times while being fed garbage
    for kind in ("AuthRequest", "SessionUp", "SessionDown", "LinkFinished"):
        assert seen[kind] > 20, seen

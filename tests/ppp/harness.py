"""In-memory link between our PPP client and server with a fake clock (no sleeping)."""

from __future__ import annotations

import random
from collections.abc import Callable

from abng.ppp.auth import chap_md5_verify
from abng.ppp.client import ClientConfig, ClientEvent, PPPClient
from abng.ppp.events import AuthRequest, Event
from abng.ppp.session import PPPConfig, PPPSession

PASSWORDS = {"user1@example.net": "test", "user2@example.net": "test"}


def seeded_bytes(seed: int) -> Callable[[int], bytes]:
    r = random.Random(seed)
    return r.randbytes


def local_aaa(req: AuthRequest) -> bool:
    """A tiny local AAA: PAP compares, CHAP-MD5 verifies the response."""
    secret = PASSWORDS.get(req.username)
    if secret is None:
        return False
    if req.method == "pap":
        return req.password == secret
    assert req.chap_id is not None and req.challenge is not None and req.response is not None
    return chap_md5_verify(req.chap_id, secret.encode(), req.challenge, req.response)


class Pair:
    def __init__(
        self,
        server_cfg: PPPConfig,
        client_cfg: ClientConfig,
        seed: int = 1,
        ip: str = "100.64.0.11",
        dns: tuple[str, ...] = ("192.0.2.53", "192.0.2.54"),
        aaa: Callable[[AuthRequest], bool] = local_aaa,
        answer_auth: bool = True,
    ) -> None:
        self.now = 1000.0
        self.server = PPPSession(server_cfg, seeded_bytes(seed), self.now)
        self.client = PPPClient(client_cfg, seeded_bytes(seed + 1000), self.now)
        self.ip, self.dns, self.aaa, self.answer_auth = ip, dns, aaa, answer_auth
        self.s_events: list[Event] = []
        self.c_events: list[ClientEvent] = []
        self.to_client: list[bytes] = []  # everything the server sent
        self.to_server: list[bytes] = []
        self.drop_to_client: Callable[[bytes], bool] = lambda p: False
        self.drop_to_server: Callable[[bytes], bool] = lambda p: False
        self.auth_requests: list[AuthRequest] = []

    def start(self) -> None:
        pending_c = self.client.start(self.now)
        pending_s = self.server.start(self.now)
        self._deliver(pending_s, pending_c)
        self.pump()

    def _deliver(self, to_client: list[bytes], to_server: list[bytes]) -> None:
        for p in to_server:
            self.to_server.append(p)
            if not self.drop_to_server(p):
                self.server.receive(p, self.now)
        for p in to_client:
            self.to_client.append(p)
            if not self.drop_to_client(p):
                self.client.receive(p, self.now)

    def pump(self) -> None:
        for _ in range(1000):
            for ev in self.server.take_events():
                self.s_events.append(ev)
                if isinstance(ev, AuthRequest):
                    self.auth_requests.append(ev)
                    if self.answer_auth:
                        ok = self.aaa(ev)
                        self.server.auth_result(ok, self.ip if ok else None, self.dns, "hi", self.now)
            self.c_events.extend(self.client.take_events())
            s_out, c_out = self.server.take_output(), self.client.take_output()
            if not s_out and not c_out:
                return
            self._deliver(s_out, c_out)
        raise AssertionError("link did not settle")

    def advance(self, seconds: float) -> None:
        """Run both sides' timers up to now + seconds."""
        end = self.now + seconds
        while True:
            times = [t for t in (self.server.next_deadline(), self.client.next_deadline()) if t is not None]
            if not times or min(times) > end:
                break
            self.now = max(self.now, min(times))
            self.server.handle_timer(self.now)
            self.client.handle_timer(self.now)
            self.pump()
        self.now = end

    def server_kinds(self) -> list[type]:
        return [type(e) for e in self.s_events]

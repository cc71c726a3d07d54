"""Authenticator side of PAP (RFC 1334 §2) and CHAP-MD5 (RFC 1994).

Both turn the peer's packets into an :class:`~abng.ppp.events.AuthRequest` and wait for the
caller's verdict (``result``).  Retransmitted requests are answered without asking again: while
the verdict is pending they are ignored, afterwards the same verdict is re-sent (RFC 1334 §2.2.2
"retransmitted Authenticate-Requests").  The CHAP challenge is retransmitted on timeout
(RFC 1994 §4.1) up to ``max_tries`` times.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import struct
from collections.abc import Callable
from typing import Any

from abng.ppp.codec import (
    CHAP_FAILURE,
    CHAP_RESPONSE,
    CHAP_SUCCESS,
    PAP_ACK,
    PAP_NAK,
    PROTO_CHAP,
    PROTO_PAP,
    ChapResult,
    ChapValue,
    DecodeError,
    PapRequest,
    decode_chap,
    decode_pap,
    encode_ppp,
)
from abng.ppp.events import AuthRequest

_tuple_new: Callable[[Any, tuple[Any, ...]], Any] = tuple.__new__
_PAP_REPLY_HEAD = struct.Struct("!HBBHB")  # protocol, code, identifier, length, message length

#: ``pppoe.auth_protocols`` names -> PPP protocol numbers ("chap" = "chap-md5")
AUTH_PROTOCOLS = {"pap": PROTO_PAP, "chap": PROTO_CHAP, "chap-md5": PROTO_CHAP}


@functools.lru_cache(maxsize=64)
def auth_protocol_numbers(names: tuple[str, ...]) -> tuple[int, ...]:
    """PPP protocol numbers of ``names``, in order, without duplicates."""
    return tuple(dict.fromkeys(AUTH_PROTOCOLS[a] for a in names))


CHALLENGE_LEN = 16


def chap_md5(chap_id: int, secret: bytes, challenge: bytes) -> bytes:
    """RFC 1994 §4.1: MD5(Identifier || secret || Challenge)."""
    return hashlib.md5(bytes([chap_id]) + secret + challenge, usedforsecurity=False).digest()


def chap_md5_verify(chap_id: int, secret: bytes, challenge: bytes, response: bytes) -> bool:
    return hmac.compare_digest(chap_md5(chap_id, secret, challenge), response)


def _text(raw: bytes) -> str:
    """UTF-8 text; other bytes survive as surrogates (``.encode("utf-8", "surrogateescape")``
    gives the exact octets back, e.g. for RADIUS User-Name)."""
    return raw.decode("utf-8", "surrogateescape")


class Authenticator:
    """Common part: pending request, verdict, deadline."""

    protocol = 0
    method = ""

    def __init__(self, out: list[bytes], counters: dict[str, int]) -> None:
        self.out = out
        self.counters = counters
        self.pending = False  # an AuthRequest was emitted, verdict not yet given
        self.verdict: bool | None = None
        self.deadline: float | None = None
        self.timed_out = False
        self.identifier = 0
        self._reply = b""

    def count(self, key: str) -> None:
        self.counters[key] = self.counters.get(key, 0) + 1

    def start(self, now: float) -> None:
        raise NotImplementedError

    def receive(self, information: bytes, now: float) -> AuthRequest | None:
        raise NotImplementedError

    def handle_timer(self, now: float) -> None:
        raise NotImplementedError

    def result(self, ok: bool, message: str) -> None:
        if not self.pending:
            raise RuntimeError(f"{self.method}: no authentication request is waiting for a result")
        self.pending = False
        self.verdict = ok
        self._reply = self._encode_result(ok, message.encode()[:200])
        self.out.append(self._reply)

    def _encode_result(self, ok: bool, message: bytes) -> bytes:
        raise NotImplementedError


class PapServer(Authenticator):
    protocol = PROTO_PAP
    method = "pap"

    def __init__(self, out: list[bytes], counters: dict[str, int], timeout: float) -> None:
        Authenticator.__init__(self, out, counters)
        self.timeout = timeout
        self._message = b""

    def start(self, now: float) -> None:
        self.deadline = now + self.timeout  # the peer must send Authenticate-Request by then

    def receive(self, information: bytes, now: float) -> AuthRequest | None:
        try:
            pkt = decode_pap(information)
        except DecodeError as exc:
            self.count(f"rx_{exc.reason}")
            return None
        if not isinstance(pkt, PapRequest):
            self.count("rx_pap_unexpected_code")
            return None
        self.identifier = pkt.identifier  # RFC 1334: each retransmission carries a new Identifier
        if self.pending:
            self.count("rx_pap_retransmit_pending")
            return None
        if self.verdict is not None:
            self.count("rx_pap_retransmit_answered")
            self.out.append(self._encode_result(self.verdict, self._message))
            return None
        self.pending = True
        self.deadline = None
        # = AuthRequest("pap", username, password=password), without the keyword handling
        request: AuthRequest = _tuple_new(
            AuthRequest, ("pap", _text(pkt.peer_id), _text(pkt.password), None, None, None)
        )
        return request

    def _encode_result(self, ok: bool, message: bytes) -> bytes:
        self._message = message
        # = encode_ppp(PROTO_PAP, PapReply(code, self.identifier, message).encode())
        return (
            _PAP_REPLY_HEAD.pack(
                PROTO_PAP, PAP_ACK if ok else PAP_NAK, self.identifier, 5 + len(message), len(message)
            )
            + message
        )

    def handle_timer(self, now: float) -> None:
        if self.deadline is not None and now >= self.deadline:
            self.deadline = None
            self.timed_out = True


class ChapServer(Authenticator):
    protocol = PROTO_CHAP
    method = "chap-md5"

    def __init__(
        self,
        out: list[bytes],
        counters: dict[str, int],
        rng: Callable[[int], bytes],
        name: bytes,
        interval: float,
        max_tries: int,
    ) -> None:
        Authenticator.__init__(self, out, counters)
        self.rng = rng
        self.name = name
        self.interval = interval
        self.tries_left = max_tries
        self.challenge = b""
        self.identifier = rng(1)[0]

    def start(self, now: float) -> None:
        self.challenge = self.rng(CHALLENGE_LEN)
        self._send_challenge(now)

    def _send_challenge(self, now: float) -> None:
        self.identifier = (self.identifier + 1) & 0xFF  # RFC 1994 §4.1: new Identifier each time
        pkt = ChapValue(1, self.identifier, self.challenge, self.name)
        self.out.append(encode_ppp(PROTO_CHAP, pkt.encode()))
        self.tries_left -= 1
        self.deadline = now + self.interval

    def handle_timer(self, now: float) -> None:
        if self.deadline is None or now < self.deadline:
            return
        if self.tries_left <= 0:
            self.deadline = None
            self.timed_out = True
            return
        self._send_challenge(now)

    def receive(self, information: bytes, now: float) -> AuthRequest | None:
        try:
            pkt = decode_chap(information)
        except DecodeError as exc:
            self.count(f"rx_{exc.reason}")
            return None
        if not isinstance(pkt, ChapValue) or pkt.code != CHAP_RESPONSE:
            self.count("rx_chap_unexpected_code")
            return None
        if pkt.identifier != self.identifier:
            self.count("rx_chap_stale_id")  # RFC 1994 §4.1: must match the current Challenge
            return None
        if self.pending:
            self.count("rx_chap_retransmit_pending")
            return None
        if self.verdict is not None:
            self.count("rx_chap_retransmit_answered")
            self.out.append(self._reply)
            return None
        self.pending = True
        self.deadline = None
        return AuthRequest(
            "chap-md5",
            _text(pkt.name),
            chap_id=pkt.identifier,
            challenge=self.challenge,
            response=pkt.value,
        )

    def _encode_result(self, ok: bool, message: bytes) -> bytes:
        code = CHAP_SUCCESS if ok else CHAP_FAILURE
        return encode_ppp(PROTO_CHAP, ChapResult(code, self.identifier, message).encode())

"""Sans-I/O Dynamic Authorization server (RFC 5176; DECISIONS.md D22).

:meth:`CoaMachine.receive` takes a datagram, its source and ``now`` and returns one of:

- ``None``: dropped and counted in :attr:`CoaMachine.stats` (unknown source, malformed, bad
  Request Authenticator or Message-Authenticator, duplicate still in progress);
- :class:`Answer`: reply bytes to send at once (a NAK, or a cached reply to a duplicate, §2.3);
- :class:`ChangeRate` / :class:`Disconnect`: an action for the adapter to run; the adapter then
  calls :meth:`CoaMachine.complete` with the outcome and sends the bytes it returns.

Error-Cause choices (RFC 5176 §3.6):

=====================================================  =====================================
no identifying attribute                               402 Missing-Attribute
an attribute we do not act on                          401 Unsupported-Attribute
Service-Type (Authorize-Only) present                  405 Unsupported-Service
NAS-Identifier / NAS-IP-Address not ours               403 NAS-Identification-Mismatch
no session matches every identifier given              503 Session-Context-Not-Found
several sessions match (e.g. a User-Name)              508 Multiple-Session-Selection-Unsupported
the session is starting or terminating                 506 Resources-Unavailable (retry later)
CoA without anything to change, or a bad rate value    404 Invalid-Request
the integrator's callback refused                      506 Resources-Unavailable
=====================================================  =====================================
"""

from __future__ import annotations

import ipaddress
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from abng.aaa import crypto
from abng.aaa.dictionary import ATHENA_VENDOR, Dictionary, default_dictionary
from abng.aaa.packet import Attribute, Code, DecodeError, Packet, decode, make
from abng.config.rates import RateError, parse_rate
from abng.core.model import Session, SessionState


@dataclass(frozen=True, slots=True)
class SessionQuery:
    """The identifying attributes of a request (all given ones must match)."""

    acct_session_id: str | None = None
    user_name: str | None = None
    framed_ip: str | None = None
    nas_port_id: str | None = None


#: ``lookup(query) -> matching sessions``, supplied by the integrator (the session table)
Lookup = Callable[[SessionQuery], list[Session]]


@dataclass(frozen=True, slots=True)
class Answer:
    data: bytes


@dataclass(frozen=True, slots=True)
class ChangeRate:
    token: int
    session: Session
    rate_down: int | None
    rate_up: int | None
    overhead_profile: str | None


@dataclass(frozen=True, slots=True)
class Disconnect:
    token: int
    session: Session


Action = ChangeRate | Disconnect

# attribute keys (vendor, type)
_IDENT = {(0, 44): "acct_session_id", (0, 1): "user_name", (0, 8): "framed_ip", (0, 87): "nas_port_id"}
_IGNORED = {(0, 4), (0, 32), (0, 55), (0, 80), (0, 33), (0, 24), (0, 31), (0, 30), (0, 101)}
_RATE_KEYS = {(ATHENA_VENDOR, 1), (ATHENA_VENDOR, 2), (ATHENA_VENDOR, 3)}
_SERVICE_TYPE = (0, 6)
_NAK = {Code.COA_REQUEST: Code.COA_NAK, Code.DISCONNECT_REQUEST: Code.DISCONNECT_NAK}
_ACK = {Code.COA_REQUEST: Code.COA_ACK, Code.DISCONNECT_REQUEST: Code.DISCONNECT_ACK}


@dataclass(slots=True)
class _Pending:
    src: tuple[str, int]
    request: Packet
    secret: bytes = field(repr=False)
    dup_key: tuple[str, int, int, bytes]


class CoaMachine:
    def __init__(
        self,
        clients: Mapping[str, bytes],
        lookup: Lookup,
        nas_identifier: str | None = None,
        nas_ip_address: str | None = None,
        dup_window: float = 30.0,
        dictionary: Dictionary | None = None,
    ) -> None:
        """``clients``: allowed source address -> shared secret."""
        self.clients = dict(clients)
        self.lookup = lookup
        self._nas_id = nas_identifier.encode() if nas_identifier is not None else None
        self._nas_ip = ipaddress.IPv4Address(nas_ip_address).packed if nas_ip_address else None
        self.dup_window = dup_window
        self.dictionary = dictionary or default_dictionary()
        self._cache: OrderedDict[tuple[str, int, int, bytes], tuple[float, bytes | None]] = OrderedDict()
        self._pending: dict[int, _Pending] = {}
        self._next_token = 1
        self.stats: Counter[str] = Counter()

    def receive(self, data: bytes, src: tuple[str, int], now: float) -> Answer | Action | None:
        secret = self.clients.get(src[0])
        if secret is None:
            self.stats["drop_unknown_client"] += 1
            return None
        try:
            pkt = decode(data)
        except DecodeError:
            self.stats["drop_malformed"] += 1
            return None
        if pkt.code not in _NAK:
            self.stats["drop_bad_code"] += 1
            return None
        if not crypto.verify_signed_request(crypto.trim(data), secret):
            self.stats["drop_bad_authenticator"] += 1
            return None
        self._expire(now)
        key = (src[0], src[1], pkt.identifier, pkt.authenticator)
        cached = self._cache.get(key)
        if cached is not None:
            self.stats["duplicates"] += 1
            return Answer(cached[1]) if cached[1] is not None else None
        self._cache[key] = (now, None)
        self.stats["requests"] += 1
        pending = _Pending(src, pkt, secret, key)
        result = self._evaluate(pkt)
        if isinstance(result, int):
            return Answer(self._finish(pending, result))
        session, down, up, profile = result
        token = self._next_token
        self._next_token += 1
        self._pending[token] = pending
        if pkt.code == Code.DISCONNECT_REQUEST:
            return Disconnect(token, session)
        return ChangeRate(token, session, down, up, profile)

    def complete(self, token: int, ok: bool, now: float) -> bytes:
        """The outcome of an action; returns the ACK (or NAK 506) to send."""
        pending = self._pending.pop(token)
        return self._finish(pending, 0 if ok else 506)

    def abandon(self, token: int) -> None:
        """Forget an action that will get no answer (its callback failed)."""
        pending = self._pending.pop(token, None)
        if pending is not None:
            self._cache.pop(pending.dup_key, None)

    # ---- internals --------------------------------------------------------------------------
    def _evaluate(self, pkt: Packet) -> int | tuple[Session, int | None, int | None, str | None]:
        """An Error-Cause, or (session, rate_down, rate_up, overhead_profile)."""
        ident: dict[str, str] = {}
        changes: dict[int, bytes] = {}
        nas_id = nas_ip = None
        for a in pkt.attributes:
            k = (a.vendor, a.type)
            if k == (0, 32):
                nas_id = a.value
            elif k == (0, 4):
                nas_ip = a.value
            elif k in _IDENT:
                ident.setdefault(_IDENT[k], _text(a))
            elif k == _SERVICE_TYPE:
                return 405
            elif k in _RATE_KEYS and pkt.code == Code.COA_REQUEST:
                changes[a.type] = a.value
            elif k not in _IGNORED:
                return 401
        if not ident:
            return 402
        if self._mismatch(nas_id, nas_ip):
            return 403
        sessions = self.lookup(SessionQuery(**ident))
        if not sessions:
            return 503
        if len(sessions) > 1:
            return 508
        session = sessions[0]
        if session.state is not SessionState.ACTIVE:
            return 506
        if pkt.code == Code.DISCONNECT_REQUEST:
            return (session, None, None, None)
        if not changes:
            return 404
        try:
            down = parse_rate(changes[1].decode().strip()) if 1 in changes else None
            up = parse_rate(changes[2].decode().strip()) if 2 in changes else None
        except (RateError, UnicodeDecodeError):
            return 404
        profile = changes[3].decode(errors="replace") if 3 in changes else None
        return (session, down, up, profile)

    def _mismatch(self, nas_id: bytes | None, nas_ip: bytes | None) -> bool:
        if nas_id is not None and self._nas_id is not None and nas_id != self._nas_id:
            return True
        return nas_ip is not None and self._nas_ip is not None and nas_ip != self._nas_ip

    def _finish(self, pending: _Pending, error_cause: int) -> bytes:
        req = pending.request
        code = _ACK[Code(req.code)] if error_cause == 0 else _NAK[Code(req.code)]
        attrs: list[Attribute] = [a for a in req.attributes if a.key == (0, 33)]  # Proxy-State echoed
        if error_cause:
            attrs.append(make("Error-Cause", error_cause, self.dictionary))
        self.stats[f"{'ack' if error_cause == 0 else 'nak'}_{error_cause}"] += 1
        data = crypto.build_reply(code, req.identifier, req.authenticator, pending.secret, attrs)
        if pending.dup_key in self._cache:
            self._cache[pending.dup_key] = (self._cache[pending.dup_key][0], data)
        return data

    def _expire(self, now: float) -> None:
        while self._cache:
            key, (t, _) = next(iter(self._cache.items()))
            if now - t < self.dup_window and len(self._cache) < 65536:
                return
            del self._cache[key]


def _text(a: Attribute) -> str:
    if a.key == (0, 8) and len(a.value) == 4:
        return ".".join(str(b) for b in a.value)
    return a.value.decode("utf-8", errors="replace")

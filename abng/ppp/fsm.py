"""RFC 1661 §4 option-negotiation automaton: ONE transition table, shared by LCP and IPCP.

The table below is data: it is the RFC's state transition table written down cell by cell
(RFC 1661 §4.1), parsed once at import into ``TRANSITIONS``.  A "-" cell of the RFC (an event
that cannot happen in that state) is absent, and :func:`transition` raises
:class:`IllegalTransition` for it: reaching one is our bug, not the peer's.  The RFC's
``r``/``p``/``x`` annotations (restart, passive, crossed) are implementation options we do not
use and are dropped by the parser.  ``docs/ppp.md`` shows the diagram produced from this table by
``python -m abng.ppp.diagram``.

:class:`Negotiator` runs the automaton for one control protocol: it turns received control
packets and timer expiries into table events, and executes the actions of each cell (send
Configure-Request, Ack, Nak, Terminate..., restart counters and timer).  What the options *mean*
is the business of an :class:`OptionPolicy` (LCP and IPCP, server and client each have one).
No I/O: packets to send are appended to ``out`` as PPP payloads; layer signals (tlu, tld, tls,
tlf) are appended to ``signals`` for the owner to act on.
"""

from __future__ import annotations

import enum
import functools
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from abng.ppp.codec import (
    Code,
    ControlPacket,
    DecodeError,
    Option,
    control_frame,
    decode_options,
    encode_options,
)

_HBBH = struct.Struct("!HBBH")  # protocol, code, identifier, length: a control packet's PPP payload


class State(enum.IntEnum):
    INITIAL = 0
    STARTING = 1
    CLOSED = 2
    STOPPED = 3
    CLOSING = 4
    STOPPING = 5
    REQ_SENT = 6
    ACK_RCVD = 7
    ACK_SENT = 8
    OPENED = 9


class Event(enum.StrEnum):
    UP = "Up"
    DOWN = "Down"
    OPEN = "Open"
    CLOSE = "Close"
    TO_PLUS = "TO+"
    TO_MINUS = "TO-"
    RCR_PLUS = "RCR+"
    RCR_MINUS = "RCR-"
    RCA = "RCA"
    RCN = "RCN"
    RTR = "RTR"
    RTA = "RTA"
    RUC = "RUC"
    RXJ_PLUS = "RXJ+"
    RXJ_MINUS = "RXJ-"
    RXR = "RXR"


class Action(enum.StrEnum):
    TLU = "tlu"  # This-Layer-Up
    TLD = "tld"  # This-Layer-Down
    TLS = "tls"  # This-Layer-Started
    TLF = "tlf"  # This-Layer-Finished
    IRC = "irc"  # Initialize-Restart-Count
    ZRC = "zrc"  # Zero-Restart-Count
    SCR = "scr"  # Send-Configure-Request
    SCA = "sca"  # Send-Configure-Ack
    SCN = "scn"  # Send-Configure-Nak/Rej
    STR = "str"  # Send-Terminate-Request
    STA = "sta"  # Send-Terminate-Ack
    SCJ = "scj"  # Send-Code-Reject
    SER = "ser"  # Send-Echo-Reply


# RFC 1661 §4.1, both halves of the table, verbatim apart from the column layout.
_RFC_TABLE = """
      | 0     1         2         3             4     5     6         7         8         9
Up    | 2     irc,scr/6 -         -             -     -     -         -         -         -
Down  | -     -         0         tls/1         0     1     1         1         1         tld/1
Open  | tls/1 1         irc,scr/6 3r            5r    5r    6         7         8         9r
Close | 0     tlf/0     2         2             4     4     irc,str/4 irc,str/4 irc,str/4 tld,irc,str/4
TO+   | -     -         -         -             str/4 str/5 scr/6     scr/6     scr/8     -
TO-   | -     -         -         -             tlf/2 tlf/3 tlf/3p    tlf/3p    tlf/3p    -
RCR+  | -     -         sta/2     irc,scr,sca/8 4     5     sca/8     sca,tlu/9 sca/8     tld,scr,sca/8
RCR-  | -     -         sta/2     irc,scr,scn/6 4     5     scn/6     scn/7     scn/6     tld,scr,scn/6
RCA   | -     -         sta/2     sta/3         4     5     irc/7     scr/6x    irc,tlu/9 tld,scr/6x
RCN   | -     -         sta/2     sta/3         4     5     irc,scr/6 scr/6x    irc,scr/8 tld,scr/6x
RTR   | -     -         sta/2     sta/3         sta/4 sta/5 sta/6     sta/6     sta/6     tld,zrc,sta/5
RTA   | -     -         2         3             tlf/2 tlf/3 6         6         8         tld,scr/6
RUC   | -     -         scj/2     scj/3         scj/4 scj/5 scj/6     scj/7     scj/8     scj/9
RXJ+  | -     -         2         3             4     5     6         6         8         9
RXJ-  | -     -         tlf/2     tlf/3         tlf/2 tlf/3 tlf/3     tlf/3     tlf/3     tld,irc,str/5
RXR   | -     -         2         3             4     5     6         7         8         ser/9
"""

Cell = tuple[tuple[Action, ...], State]


def _parse_table(text: str) -> dict[tuple[State, Event], Cell]:
    table: dict[tuple[State, Event], Cell] = {}
    rows = [line for line in text.strip().splitlines()]
    states = [State(int(s)) for s in rows[0].split("|")[1].split()]
    for row in rows[1:]:
        name, cells = row.split("|")
        event = Event(name.strip())
        for state, cell in zip(states, cells.split(), strict=True):
            if cell == "-":
                continue
            acts, _, nxt = cell.rpartition("/")
            actions = tuple(Action(a) for a in acts.split(",")) if acts else ()
            table[(state, event)] = (actions, State(int(nxt.rstrip("rpx"))))
    return table


TRANSITIONS: dict[tuple[State, Event], Cell] = _parse_table(_RFC_TABLE)

TIMER_STATES = frozenset({State.CLOSING, State.STOPPING, State.REQ_SENT, State.ACK_RCVD, State.ACK_SENT})
"""States in which the restart timer runs (RFC 1661 §4.6)."""

# The same table for the hot path: per event, one entry per state (indexed by the state's
# number; None for a "-" cell): (actions, next state, next state keeps the restart timer,
# the actions include str).  Hashing enum members is slow; indexing a tuple by an IntEnum is not.
_Compiled = tuple[tuple[Action, ...], State, bool, bool]
_Row = tuple[Event, tuple[_Compiled | None, ...]]


def _compile(event: Event) -> _Row:
    row: list[_Compiled | None] = []
    for state in State:
        cell = TRANSITIONS.get((state, event))
        if cell is None:
            row.append(None)
        else:
            actions, nxt = cell
            row.append((actions, nxt, nxt in TIMER_STATES, Action.STR in actions))
    return event, tuple(row)


ROWS: dict[Event, _Row] = {event: _compile(event) for event in Event}
_UP, _DOWN, _OPEN, _CLOSE = ROWS[Event.UP], ROWS[Event.DOWN], ROWS[Event.OPEN], ROWS[Event.CLOSE]
_TO_PLUS, _TO_MINUS = ROWS[Event.TO_PLUS], ROWS[Event.TO_MINUS]
_RCR_PLUS, _RCR_MINUS = ROWS[Event.RCR_PLUS], ROWS[Event.RCR_MINUS]
_RCA, _RCN, _RTR = ROWS[Event.RCA], ROWS[Event.RCN], ROWS[Event.RTR]
_RTA, _RUC = ROWS[Event.RTA], ROWS[Event.RUC]
_RXJ_PLUS, _RXJ_MINUS = ROWS[Event.RXJ_PLUS], ROWS[Event.RXJ_MINUS]

_TLU, _TLD, _TLS, _TLF = Action.TLU, Action.TLD, Action.TLS, Action.TLF
_IRC, _ZRC, _SCR, _SCA, _SCN = Action.IRC, Action.ZRC, Action.SCR, Action.SCA, Action.SCN
_STR, _STA, _SCJ, _SER = Action.STR, Action.STA, Action.SCJ, Action.SER
_INITIAL, _OPENED, _STARTING = State.INITIAL, State.OPENED, State.STARTING
_REJ_VERDICT = Code.CONF_REJ

# control codes as plain ints (comparing with IntEnum members works, but is slower)
_CONF_REQ, _CONF_ACK, _CONF_NAK, _CONF_REJ = 1, 2, 3, 4
_TERM_REQ, _TERM_ACK, _CODE_REJ = 5, 6, 7


NO_SIGNALS: list[Action] = []
"""Shared by every machine without pending signals (never appended to: a machine that has a
signal gets a list of its own), so that an established session keeps no empty list for them."""


class IllegalTransition(RuntimeError):
    """An event that the RFC table does not allow in the current state: a bug in our code."""


def transition(state: State, event: Event) -> Cell:
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise IllegalTransition(f"event {event} is not allowed in state {state.name}") from None


@dataclass(frozen=True, slots=True)
class FsmConfig:
    """RFC 1661 §4.6 timers and counters."""

    restart_interval: float = 3.0
    max_configure: int = 10
    max_terminate: int = 2
    max_failure: int = 5


@functools.lru_cache(maxsize=64)
def fsm_config(
    restart_interval: float, max_configure: int, max_terminate: int, max_failure: int
) -> FsmConfig:
    """One shared :class:`FsmConfig` per distinct setting (built once, not per session)."""
    return FsmConfig(restart_interval, max_configure, max_terminate, max_failure)


class OptionPolicy(Protocol):
    """What one side wants and accepts.  Called by :class:`Negotiator`."""

    def request_options(self) -> list[Option]:
        """Options for our next Configure-Request."""

    def check_request(self, options: Sequence[Option]) -> tuple[Code, Sequence[Option]]:
        """Verdict on the peer's Configure-Request: (CONF_ACK, options) or NAK/REJ with the options
        to put in the reply.  On ACK, the policy records the peer's values (and may return
        ``options`` itself: the Ack then carries the request's bytes as they came)."""

    def on_ack(self, options: Sequence[Option]) -> None: ...

    def on_nak(self, options: Sequence[Option]) -> None: ...

    def on_reject(self, options: Sequence[Option]) -> None: ...

    def failure(self) -> str | None:
        """A reason to give up negotiating (e.g. a loop was detected), or None."""


class Negotiator:
    """One control protocol (LCP, IPCP...) driven by the shared transition table."""

    def __init__(
        self,
        protocol: int,
        policy: OptionPolicy,
        config: FsmConfig,
        out: list[bytes],
        counters: dict[str, int],
    ) -> None:
        self.protocol = protocol
        self.policy = policy
        self.config = config
        self.out = out
        self.counters = counters
        self.state = _INITIAL
        self.signals: list[Action] = NO_SIGNALS  # a list of its own once there is a signal
        self.restart_count = 0
        self.deadline: float | None = None
        self.next_id = 1
        self.req_id: int | None = None
        self.req_data = b""
        self.req_options: tuple[Option, ...] = ()  # the options encoded in req_data
        self.req_answered = False  # pppd's seen_ack: one answer per Configure-Request
        self.naks_sent = 0
        self.naks_received = 0
        self.failure: str | None = None
        self._reply: tuple[int, int, bytes] | None = None
        self._peer_ident = 0
        self._rejected = b""

    # --- administrative / lower-layer events -------------------------------------------------

    def up(self, now: float) -> None:
        self._fire(_UP, now)

    def down(self, now: float) -> None:
        self._fire(_DOWN, now)

    def open(self, now: float) -> None:
        self._fire(_OPEN, now)

    def close(self, now: float) -> None:
        self._fire(_CLOSE, now)

    def fail(self, reason: str, now: float) -> None:
        """Give up negotiating: remember why and Close (Terminate-Request follows)."""
        if self.failure is None:
            self.failure = reason
        self.count(f"fail_{reason}")
        self.close(now)

    def count(self, key: str) -> None:
        self.counters[key] = self.counters.get(key, 0) + 1

    # --- the automaton -----------------------------------------------------------------------

    def fire(self, event: Event, now: float) -> None:
        self._fire(ROWS[event], now)

    def _fire(self, row: _Row, now: float) -> None:
        event, cells = row
        cell = cells[self.state]
        if cell is None:
            raise IllegalTransition(f"event {event} is not allowed in state {self.state.name}")
        actions, nxt, timer, has_str = cell
        for action in actions:
            # the actions of _do, the frequent ones inline (one call less per action)
            if action is _SCR:
                self.req_id = ident = self.next_id
                self.next_id = (ident + 1) & 0xFF
                options = self.policy.request_options()
                self.req_data = data = encode_options(options)
                self.req_options = tuple(options)
                self.req_answered = False
                self.out.append(_HBBH.pack(self.protocol, _CONF_REQ, ident, 4 + len(data)) + data)
                self.restart_count -= 1
                self.deadline = now + self.config.restart_interval
            elif action is _SCA or action is _SCN:
                reply = self._reply
                if reply is None:
                    raise IllegalTransition(f"{action} without a Configure-Request to answer")
                data = reply[2]
                self.out.append(_HBBH.pack(self.protocol, reply[0], reply[1], 4 + len(data)) + data)
            elif action is _TLU or action is _TLD or action is _TLS or action is _TLF:
                if self.signals:
                    self.signals.append(action)
                else:
                    self.signals = [action]
            elif action is _IRC:
                cfg = self.config
                self.restart_count = cfg.max_terminate if has_str else cfg.max_configure
            else:
                self._do(action, has_str, now)
        self.state = nxt
        if not timer:
            self.deadline = None
        if nxt is _OPENED:
            self.naks_received = 0
        if self._entered_hook:
            self._entered(now)

    _entered_hook = False
    """True in a subclass that overrides :meth:`_entered` (saves a call per transition here)."""

    def _entered(self, now: float) -> None:
        """Hook for subclasses (set ``_entered_hook = True``): called after every transition."""

    def _do(self, action: Action, has_str: bool, now: float) -> None:
        """One action of a table cell; ``has_str``: the cell also sends a Terminate-Request."""
        if action is _SCR:
            self.req_id = ident = self._new_id()
            options = self.policy.request_options()
            self.req_data = data = encode_options(options)
            self.req_options = tuple(options)
            self.req_answered = False
            self.out.append(control_frame(self.protocol, _CONF_REQ, ident, data))
            self.restart_count -= 1
            self.deadline = now + self.config.restart_interval
        elif action is _SCA or action is _SCN:
            reply = self._reply
            if reply is None:
                raise IllegalTransition(f"{action} without a Configure-Request to answer")
            self.out.append(control_frame(self.protocol, reply[0], reply[1], reply[2]))
        elif action is _TLU or action is _TLD or action is _TLS or action is _TLF:
            if self.signals:
                self.signals.append(action)
            else:
                self.signals = [action]
        elif action is _IRC:
            cfg = self.config
            self.restart_count = cfg.max_terminate if has_str else cfg.max_configure
        elif action is _ZRC:
            self.restart_count = 0
            self.deadline = now + self.config.restart_interval
        elif action is _STR:
            self._send(_TERM_REQ, self._new_id())
            self.restart_count -= 1
            self.deadline = now + self.config.restart_interval
        elif action is _STA:
            self._send(_TERM_ACK, self._peer_ident)
        elif action is _SCJ:
            self._send(_CODE_REJ, self._new_id(), self._rejected)
        elif action is _SER:
            self._send_echo_reply()

    def _send_echo_reply(self) -> None:
        raise IllegalTransition(f"protocol 0x{self.protocol:04x} has no Echo")

    def _new_id(self) -> int:
        ident = self.next_id
        self.next_id = (self.next_id + 1) & 0xFF
        return ident

    def _send(self, code: int, ident: int, data: bytes = b"") -> None:
        self.out.append(control_frame(self.protocol, code, ident, data))

    # --- timer -------------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        return self.deadline

    def handle_timer(self, now: float) -> None:
        if self.deadline is None or now < self.deadline:
            return
        self.deadline = None
        if self.restart_count > 0:
            self._fire(_TO_PLUS, now)
        else:
            self._fire(_TO_MINUS, now)

    # --- received packets --------------------------------------------------------------------

    extra_codes: frozenset[int] = frozenset()

    def receive(self, pkt: ControlPacket, now: float) -> None:
        if self.state <= _STARTING:  # INITIAL or STARTING
            # RFC 1661 §4.2/§3.4: no packets are expected before the lower layer is up.
            self.count("rx_not_ready")
            return
        code = pkt[0]
        if code == _CONF_REQ:
            self._receive_conf_req(pkt, now)
        elif code == _CONF_ACK:
            if pkt[1] != self.req_id or pkt[2] != self.req_data:
                self.count("rx_bad_ack")  # RFC 1661 §5.2: must match the request exactly
                return
            if self.req_answered:
                # A duplicate (e.g. retransmitted) Ack must not restart an Opened link.
                self.count("rx_duplicate_ack")
                return
            self.req_answered = True
            # the Ack repeats our request byte for byte: its options are the ones we sent (and
            # are not needed any more: a later Ack for this request is a duplicate)
            options, self.req_options = self.req_options, ()
            self.policy.on_ack(options)
            self._fire(_RCA, now)
        elif code in (_CONF_NAK, _CONF_REJ):
            self._receive_nak(pkt, now)
        elif code == _TERM_REQ:
            self._peer_ident = pkt[1]
            self._fire(_RTR, now)
        elif code == _TERM_ACK:
            self._fire(_RTA, now)
        elif code == _CODE_REJ:
            if not pkt.data:
                self.count("rx_bad_code_reject")
                return
            # RFC 1661 §5.6: rejecting one of the configuration/termination codes is fatal.
            if 1 <= pkt.data[0] <= 7:
                self._fire(_RXJ_MINUS, now)
            else:
                self._fire(_RXJ_PLUS, now)
        elif code in self.extra_codes:
            self._receive_extra(pkt, now)
        else:
            self._rejected = pkt.encode()[: self._max_reject_len()]
            self._fire(_RUC, now)

    def _receive_extra(self, pkt: ControlPacket, now: float) -> None:
        raise IllegalTransition(f"code {pkt.code} declared but not handled")

    def _max_reject_len(self) -> int:
        return 1492 - 4 - 2

    def _receive_conf_req(self, pkt: ControlPacket, now: float) -> None:
        data = pkt[2]
        try:
            options = decode_options(data)
        except DecodeError as exc:
            self.count(f"rx_{exc.reason}")
            return
        verdict, reply = self.policy.check_request(options)
        if verdict == _CONF_NAK and self.naks_sent >= self.config.max_failure:
            # RFC 1661 §4.6 Max-Failure: stop Nak'ing, Reject the options instead.
            types = {o.type for o in reply}
            verdict, reply = _REJ_VERDICT, [o for o in options if o.type in types]
        acked = verdict == _CONF_ACK
        if acked:
            self.naks_sent = 0
        else:
            self.naks_sent += 1
        # (code, identifier, data) of our answer, sent by the sca/scn action of the cell below;
        # an Ack of the options as decoded repeats the request's bytes (decode_options consumed
        # them exactly), so they are not encoded again
        self._reply = (verdict, pkt[1], data if reply is options else encode_options(reply))
        reason = self.policy.failure()
        if reason is None and self.naks_sent > 2 * self.config.max_failure:
            reason = "negotiation_failed"
        if reason is not None:
            self._reply = None
            self.fail(reason, now)
            return
        self._fire(_RCR_PLUS if acked else _RCR_MINUS, now)
        self._reply = None  # sent: not kept for the session's lifetime

    def _receive_nak(self, pkt: ControlPacket, now: float) -> None:
        if pkt.identifier != self.req_id or self.req_answered:
            self.count("rx_stale_nak")
            return
        try:
            options = decode_options(pkt.data)
        except DecodeError as exc:
            self.count(f"rx_{exc.reason}")
            return
        if pkt.code == _CONF_REJ:
            ours = set(decode_options(self.req_data))
            if not options or any(o not in ours for o in options):
                self.count("rx_bad_reject")  # RFC 1661 §5.4: must be a subset of our request
                return
            self.policy.on_reject(options)
        else:
            self.policy.on_nak(options)
        self.req_answered = True
        self.naks_received += 1
        reason = self.policy.failure()
        if reason is None and self.naks_received > 2 * self.config.max_failure:
            reason = "negotiation_failed"
        if reason is not None:
            self.fail(reason, now)
            return
        self._fire(_RCN, now)

    def take_signals(self) -> list[Action]:
        signals = self.signals
        if not signals:
            return []
        self.signals = NO_SIGNALS
        return signals

    # --- persistence (resume after a daemon restart) ----------------------------------------

    def export(self) -> dict[str, int]:
        return {"state": int(self.state), "next_id": self.next_id}

    def restore_opened(self, next_id: int) -> None:
        """Put the machine in Opened without negotiating (used by PPPSession.resume)."""
        self.state = _OPENED
        self.next_id = next_id & 0xFF
        self.deadline = None

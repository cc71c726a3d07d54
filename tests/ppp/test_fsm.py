"""Walk every cell of the RFC 1661 transition table with real packets, for LCP and IPCP."""

from __future__ import annotations

import itertools
import struct
from pathlib import Path

import pytest

from abng.ppp.codec import (
    IPCP_ADDRESS,
    LCP_MRU,
    PROTO_IPCP,
    PROTO_LCP,
    Code,
    ControlPacket,
    Option,
    decode_control,
    encode_options,
    split_protocol,
)
from abng.ppp.diagram import mermaid
from abng.ppp.fsm import (
    TRANSITIONS,
    Action,
    Event,
    FsmConfig,
    IllegalTransition,
    Negotiator,
    State,
    transition,
)
from abng.ppp.ipcp import IpcpServerPolicy
from abng.ppp.lcp import Lcp, LcpPolicy

NOW = 1000.0
CFG = FsmConfig(restart_interval=3.0, max_configure=10, max_terminate=2, max_failure=5)

PACKET_OF = {
    Action.SCR: Code.CONF_REQ,
    Action.SCA: Code.CONF_ACK,
    Action.SCN: Code.CONF_NAK,
    Action.STR: Code.TERM_REQ,
    Action.STA: Code.TERM_ACK,
    Action.SCJ: Code.CODE_REJ,
    Action.SER: Code.ECHO_REPLY,
}


def rng(n: int) -> bytes:
    return bytes(range(7, 7 + n))


def make(kind: str) -> tuple[Negotiator, list[bytes]]:
    out: list[bytes] = []
    counters: dict[str, int] = {}
    if kind == "lcp":
        policy = LcpPolicy(rng, 1492, 1492, auth_offer=[0xC023])
        return Lcp(policy, CFG, out, counters, echo_interval=0), out
    ipcp = IpcpServerPolicy("192.0.2.1", "198.51.100.7", ("192.0.2.53",))
    return Negotiator(PROTO_IPCP, ipcp, CFG, out, counters), out


def good_request(kind: str) -> bytes:
    if kind == "lcp":
        return encode_options([Option(LCP_MRU, struct.pack("!H", 1492))])
    return encode_options([Option(IPCP_ADDRESS, bytes([198, 51, 100, 7]))])


def bad_request(kind: str) -> bytes:
    if kind == "lcp":
        return encode_options([Option(LCP_MRU, struct.pack("!H", 9000))])  # Nak'ed down to 1492
    return encode_options([Option(IPCP_ADDRESS, bytes(4))])  # 0.0.0.0: Nak'ed with the address


def deliver(neg: Negotiator, kind: str, event: Event) -> None:
    """Cause ``event`` the way it happens in real life (packets, timer, admin calls)."""
    proto_pkt = neg.receive
    if event is Event.UP:
        neg.up(NOW)
    elif event is Event.DOWN:
        neg.down(NOW)
    elif event is Event.OPEN:
        neg.open(NOW)
    elif event is Event.CLOSE:
        neg.close(NOW)
    elif event in (Event.TO_PLUS, Event.TO_MINUS):
        neg.restart_count = 2 if event is Event.TO_PLUS else 0
        neg.deadline = NOW
        neg.handle_timer(NOW)
    elif event is Event.RCR_PLUS:
        proto_pkt(ControlPacket(Code.CONF_REQ, 77, good_request(kind)), NOW)
    elif event is Event.RCR_MINUS:
        proto_pkt(ControlPacket(Code.CONF_REQ, 77, bad_request(kind)), NOW)
    elif event is Event.RCA:
        neg.req_id, neg.req_data = 5, encode_options(neg.policy.request_options())
        proto_pkt(ControlPacket(Code.CONF_ACK, 5, neg.req_data), NOW)
    elif event is Event.RCN:
        neg.req_id, neg.req_data = 5, encode_options(neg.policy.request_options())
        first = neg.policy.request_options()[:1]  # LCP: MRU, IPCP: IP-Address
        proto_pkt(ControlPacket(Code.CONF_NAK, 5, encode_options(first)), NOW)
    elif event is Event.RTR:
        proto_pkt(ControlPacket(Code.TERM_REQ, 9), NOW)
    elif event is Event.RTA:
        proto_pkt(ControlPacket(Code.TERM_ACK, 9), NOW)
    elif event is Event.RUC:
        proto_pkt(ControlPacket(42, 9, b"xyz"), NOW)
    elif event is Event.RXJ_PLUS:
        proto_pkt(ControlPacket(Code.CODE_REJ, 9, bytes([42, 1, 0, 4])), NOW)
    elif event is Event.RXJ_MINUS:
        proto_pkt(ControlPacket(Code.CODE_REJ, 9, bytes([Code.CONF_REQ, 1, 0, 4])), NOW)
    elif event is Event.RXR:
        if kind == "lcp":
            proto_pkt(ControlPacket(Code.ECHO_REQ, 9, b"\x11\x22\x33\x44"), NOW)
        else:
            neg.fire(Event.RXR, NOW)  # IPCP has no Echo/Discard codes


PACKET_EVENTS = set(Event) - {Event.UP, Event.DOWN, Event.OPEN, Event.CLOSE, Event.TO_PLUS, Event.TO_MINUS}


@pytest.mark.parametrize("kind", ["lcp", "ipcp"])
@pytest.mark.parametrize(("state", "event"), list(itertools.product(State, Event)))
def test_every_cell(kind: str, state: State, event: Event) -> None:
    neg, out = make(kind)
    neg.state = state
    cell = TRANSITIONS.get((state, event))
    if cell is None:
        # A "-" cell: packets are dropped and counted before the table is consulted when the
        # lower layer is not up; every other way of reaching the cell is our bug and raises.
        if event in PACKET_EVENTS and state in (State.INITIAL, State.STARTING) and event is not Event.RXR:
            deliver(neg, kind, event)
            assert neg.state is state and out == []
            assert neg.counters["rx_not_ready"] == 1
        with pytest.raises(IllegalTransition):
            neg.fire(event, NOW)
        return
    actions, nxt = cell
    if kind == "ipcp" and Action.SER in actions:
        # IPCP has no Echo code, so RXR cannot arise; forcing it is a bug and says so.
        with pytest.raises(IllegalTransition):
            neg.fire(event, NOW)
        return
    deliver(neg, kind, event)
    assert neg.state is nxt
    codes = [decode_control(split_protocol(p)[1]).code for p in out]
    assert all(split_protocol(p)[0] == (PROTO_LCP if kind == "lcp" else PROTO_IPCP) for p in out)
    expected = [PACKET_OF[a] for a in actions if a in PACKET_OF]
    assert codes == expected
    assert neg.take_signals() == [a for a in actions if a in (Action.TLU, Action.TLD, Action.TLS, Action.TLF)]
    if nxt in (State.CLOSING, State.STOPPING, State.REQ_SENT, State.ACK_RCVD, State.ACK_SENT):
        if Action.SCR in actions or Action.STR in actions or Action.ZRC in actions:
            assert neg.next_deadline() == NOW + CFG.restart_interval
    else:
        assert neg.deadline is None


def test_table_spot_checks_against_rfc_text() -> None:
    # A handful of cells copied by hand from RFC 1661 §4.1, to catch a mis-parsed grid.
    assert transition(State.OPENED, Event.RTR) == ((Action.TLD, Action.ZRC, Action.STA), State.STOPPING)
    assert transition(State.STOPPED, Event.RCR_PLUS) == ((Action.IRC, Action.SCR, Action.SCA), State.ACK_SENT)
    assert transition(State.ACK_RCVD, Event.RCR_PLUS) == ((Action.SCA, Action.TLU), State.OPENED)
    assert transition(State.REQ_SENT, Event.TO_MINUS) == ((Action.TLF,), State.STOPPED)
    assert transition(State.STARTING, Event.UP) == ((Action.IRC, Action.SCR), State.REQ_SENT)
    assert transition(State.OPENED, Event.RXR) == ((Action.SER,), State.OPENED)
    assert len(TRANSITIONS) == 120  # 160 cells minus the RFC's 40 "-" cells


def test_restart_counter_bounds_configure_requests() -> None:
    neg, out = make("ipcp")
    neg.open(NOW)
    neg.up(NOW)
    now = NOW
    while neg.state is State.REQ_SENT:
        now = neg.next_deadline() or now
        neg.handle_timer(now)
    assert neg.state is State.STOPPED
    assert len(out) == CFG.max_configure
    assert neg.take_signals() == [Action.TLS, Action.TLF]


def test_terminate_retransmitted_max_terminate_times() -> None:
    neg, out = make("lcp")
    neg.state = State.OPENED
    neg.close(NOW)
    now = NOW
    while neg.state is State.CLOSING:
        now = neg.next_deadline() or now
        neg.handle_timer(now)
    codes = [decode_control(split_protocol(p)[1]).code for p in out]
    assert codes == [Code.TERM_REQ] * CFG.max_terminate
    assert neg.state is State.CLOSED
    assert neg.take_signals() == [Action.TLD, Action.TLF]


def test_mermaid_lists_every_transition_target() -> None:
    text = mermaid()
    assert text.startswith("stateDiagram-v2")
    assert "OPENED --> STOPPING: RTR / tld,zrc,sta" in text
    for state in State:
        assert state.name in text


def test_docs_diagram_is_generated_from_the_table() -> None:
    doc = Path(__file__).resolve().parents[2] / "docs" / "ppp.md"
    assert mermaid() in doc.read_text()

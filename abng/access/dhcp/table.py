"""The DHCPREQUEST decision table (RFC 2131 §4.3.2), as data.

The request's state is read from what the client filled in; what we hold for the client is
read from the binding table.  Every (state, held) pair has a cell; a missing cell is a bug
(KeyError).  docs/dhcp.md carries :func:`markdown` output, checked by a test.
"""

from __future__ import annotations

import enum


class ReqState(enum.Enum):
    SELECTING = "SELECTING (server-id ours)"
    SELECTING_OTHER = "SELECTING (server-id other)"
    INIT_REBOOT = "INIT-REBOOT (requested-ip, no ciaddr)"
    RENEWING = "RENEWING (ciaddr, unicast)"
    REBINDING = "REBINDING (ciaddr, broadcast)"


class Held(enum.Enum):
    NONE = "nothing"
    OFFERED = "offer, same IP"
    OFFERED_OTHER = "offer, other IP"
    BOUND = "lease, same IP"
    BOUND_OTHER = "lease, other IP"


class Action(enum.Enum):
    ACK = "ACK"  # offered -> bound (LeaseGranted), bound -> renewed (LeaseRenewed)
    NAK = "NAK"
    SILENT = "silent"
    WITHDRAW = "withdraw offer, silent"


_A, _N, _S, _W = Action.ACK, Action.NAK, Action.SILENT, Action.WITHDRAW
_HELD = (Held.NONE, Held.OFFERED, Held.OFFERED_OTHER, Held.BOUND, Held.BOUND_OTHER)

REQUEST_TABLE: dict[tuple[ReqState, Held], Action] = {
    (state, held): action
    for state, row in {
        ReqState.SELECTING: (_N, _A, _N, _A, _N),
        ReqState.SELECTING_OTHER: (_S, _W, _W, _S, _S),
        ReqState.INIT_REBOOT: (_S, _A, _N, _A, _N),  # §4.3.2: no record -> remain silent
        ReqState.RENEWING: (_S, _A, _N, _A, _N),
        ReqState.REBINDING: (_S, _A, _N, _A, _N),
    }.items()
    for held, action in zip(_HELD, row, strict=True)
}


def markdown() -> str:
    """The table as Markdown (rows: request state; columns: what we hold for the client)."""
    lines = [
        "| request \\ we hold | " + " | ".join(h.value for h in Held) + " |",
        "|---|" + "---|" * len(Held),
    ]
    for state in ReqState:
        cells = " | ".join(REQUEST_TABLE[state, held].value for held in Held)
        lines.append(f"| {state.value} | {cells} |")
    return "\n".join(lines)

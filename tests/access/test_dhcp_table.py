"""Walk every cell of the DHCPREQUEST table through the real server."""

from __future__ import annotations

from pathlib import Path

import pytest

from abng.access.dhcp.codec import parse_message
from abng.access.dhcp.config import ip
from abng.access.dhcp.events import AuthorizeRequest, LeaseGranted, LeaseRenewed
from abng.access.dhcp.leases import BindingState
from abng.access.dhcp.options import MessageType
from abng.access.dhcp.server import DhcpServer
from abng.access.dhcp.table import REQUEST_TABLE, Action, Held, ReqState, markdown
from abng.access.frames import parse_udp_frame
from tests.access.test_dhcp_server import CLIENT, GW, IFACE, bind, client_frame, make_server

OTHER_SERVER = ip("10.99.0.254")


def setup(held: Held) -> tuple[DhcpServer, int]:
    """A server holding ``held`` for CLIENT; returns it and the client's address."""
    server = make_server()
    if held is Held.NONE:
        return server, ip("10.99.0.100")
    if held in (Held.BOUND, Held.BOUND_OTHER):
        return server, bind(server)
    server.handle_frame(client_frame(MessageType.DISCOVER), IFACE, 0.0)
    (ev,) = server.events()
    assert isinstance(ev, AuthorizeRequest)
    server.authorized(ev.key, True, 0.0)
    server.transmits()
    binding = server.bindings.get((IFACE, CLIENT))
    assert binding is not None and binding.state is BindingState.OFFERED
    return server, binding.ip


def request(state: ReqState, addr: int) -> bytes:
    if state is ReqState.SELECTING:
        return client_frame(MessageType.REQUEST, requested=addr, server_id=GW)
    if state is ReqState.SELECTING_OTHER:
        return client_frame(MessageType.REQUEST, requested=addr, server_id=OTHER_SERVER)
    if state is ReqState.INIT_REBOOT:
        return client_frame(MessageType.REQUEST, requested=addr)
    if state is ReqState.RENEWING:
        return client_frame(MessageType.REQUEST, ciaddr=addr, dst_ip=GW)
    return client_frame(MessageType.REQUEST, ciaddr=addr)


def test_table_is_complete() -> None:
    assert set(REQUEST_TABLE) == {(s, h) for s in ReqState for h in Held}


@pytest.mark.parametrize(("state", "held"), list(REQUEST_TABLE))
def test_every_cell(state: ReqState, held: Held) -> None:
    server, addr = setup(held)
    asked = addr + 7 if held in (Held.OFFERED_OTHER, Held.BOUND_OTHER) else addr
    before = server.bindings.get((IFACE, CLIENT))
    server.handle_frame(request(state, asked), IFACE, 10.0)
    sent = [parse_message(parse_udp_frame(tx.frame()).udp.payload) for tx in server.transmits()]
    events = server.events()
    action = REQUEST_TABLE[state, held]
    after = server.bindings.get((IFACE, CLIENT))
    if action is Action.ACK:
        assert [m.message_type for m in sent] == [MessageType.ACK]
        assert after is not None and after.state is BindingState.BOUND and sent[0].yiaddr == addr
        assert [type(e) for e in events] == [LeaseRenewed if held is Held.BOUND else LeaseGranted]
    elif action is Action.NAK:
        assert [m.message_type for m in sent] == [MessageType.NAK]
        assert events == [] and after is before
    elif action is Action.WITHDRAW:
        assert sent == [] and events == [] and after is None
        assert server.pools["p"].is_free(addr)
    else:
        assert sent == [] and events == [] and after is before


def test_docs_carry_the_generated_table() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "dhcp.md"
    assert markdown() in docs.read_text()

"""IPCP option policies (RFC 1332 IP-Address, RFC 1877 DNS), server and client side.

Server: the address comes from the AAA result.  A peer asking 0.0.0.0, or any address other
than the assigned one, is Nak'ed with the assigned address; Primary/Secondary DNS are Nak'ed with
the configured servers (Rejected when none is configured); everything else (IP-Compression,
NBNS, the deprecated IP-Addresses...) is Rejected.  Our own Configure-Request carries our
gateway address.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from collections.abc import Callable, Sequence
from typing import Any

from abng.core import ipv4
from abng.ppp.codec import (
    IPCP_ADDRESS,
    IPCP_DNS1,
    IPCP_DNS2,
    Code,
    Option,
    new_option,
)

ZERO = b"\x00\x00\x00\x00"
_tuple_new: Callable[[Any, tuple[Any, ...]], Any] = tuple.__new__
_ACK, _NAK, _REJ = Code.CONF_ACK, Code.CONF_NAK, Code.CONF_REJ  # verdicts (enum lookups are slow)


@functools.lru_cache(maxsize=256)  # the gateway and DNS servers come back for every session
def ip_bytes(address: str) -> bytes:
    """The 4 octets of a dotted-quad address (ValueError as ``ipaddress`` raises it)."""
    return ipv4.packed(address)


def ip_str(packed: bytes) -> str:
    if type(packed) is bytes and len(packed) == 4:
        return socket.inet_ntoa(packed)
    return str(ipaddress.IPv4Address(packed))


@functools.lru_cache(maxsize=64)
def _dns_options(dns: tuple[str, ...]) -> dict[int, bytes]:
    """Primary/Secondary-DNS option type -> address octets; shared by every session with these
    servers (never changed)."""
    options = {IPCP_DNS1: ip_bytes(dns[0])} if dns else {}
    if len(dns) > 1:
        options[IPCP_DNS2] = ip_bytes(dns[1])
    return options


class IpcpServerPolicy:
    def __init__(self, gateway: str, peer_ip: str, dns: Sequence[str] = ()) -> None:
        self.gateway = ip_bytes(gateway)
        self.peer_ip = ipv4.packed(peer_ip)  # one address per session: not worth an LRU slot
        self.dns = _dns_options(dns if type(dns) is tuple else tuple(dns))
        self.send_address = True
        self.prompts = 1  # how many times we append an IP-Address the peer did not ask for

    def request_options(self) -> list[Option]:
        return [new_option(IPCP_ADDRESS, self.gateway)] if self.send_address else []

    def check_request(self, options: Sequence[Option]) -> tuple[Code, Sequence[Option]]:
        dns = self.dns
        # Known and well-formed (``IPCP_OPTIONS``: IP-Address and the DNS options are 4 octets)
        # and one we serve: IP-Address, and the DNS options we have servers for.
        rej: list[Option] | None = None
        for o in options:
            if len(o[1]) != 4 or (o[0] != IPCP_ADDRESS and o[0] not in dns):
                if rej is None:
                    rej = []
                rej.append(o)
        if rej:
            return _REJ, rej
        nak: list[Option] = []
        has_address = False
        for otype, data in options:
            if otype == IPCP_ADDRESS:
                has_address = True
                want = self.peer_ip
            else:
                want = dns[otype]
            if data != want:
                nak.append(_tuple_new(Option, (otype, want)))  # = new_option(otype, want)
        if self.prompts > 0 and not has_address:
            # RFC 1661 §5.3: a Nak may carry options the peer did not request, to prompt it.
            self.prompts -= 1
            nak.insert(0, new_option(IPCP_ADDRESS, self.peer_ip))
        if nak:
            return _NAK, nak
        return _ACK, options  # the options themselves: the Negotiator echoes the request's bytes

    def _acceptable(self, o: Option) -> bool:
        """Known and well-formed (``IPCP_OPTIONS``: IP-Address and the DNS options are 4 octets)
        and one we serve: IP-Address, and the DNS options we have servers for."""
        otype, data = o
        return len(data) == 4 and (otype == IPCP_ADDRESS or otype in self.dns)

    def on_ack(self, options: Sequence[Option]) -> None:
        return None

    def on_nak(self, options: Sequence[Option]) -> None:
        return None  # our gateway address is not negotiable; Max-Failure bounds the loop

    def on_reject(self, options: Sequence[Option]) -> None:
        if any(o.type == IPCP_ADDRESS for o in options):
            self.send_address = False

    def failure(self) -> str | None:
        return None


_ASK_ALL = frozenset({IPCP_ADDRESS, IPCP_DNS1, IPCP_DNS2})
_ASK_ADDRESS = frozenset({IPCP_ADDRESS})


class IpcpClientPolicy:
    """Asks for an address and DNS servers (0.0.0.0 = "please assign"), takes what is Nak'ed."""

    def __init__(self, want_dns: bool = True) -> None:
        self.ip = ZERO
        self.dns1 = ZERO
        self.dns2 = ZERO
        # shared frozensets: on_reject makes a new one (no set built per session)
        self.asked: frozenset[int] = _ASK_ALL if want_dns else _ASK_ADDRESS
        self.gateway = ZERO

    def request_options(self) -> list[Option]:
        asked = self.asked
        if asked is _ASK_ALL:  # = the general case below, without the new_option calls
            return [
                _tuple_new(Option, (IPCP_ADDRESS, self.ip)),
                _tuple_new(Option, (IPCP_DNS1, self.dns1)),
                _tuple_new(Option, (IPCP_DNS2, self.dns2)),
            ]
        opts: list[Option] = []
        if IPCP_ADDRESS in asked:
            opts.append(new_option(IPCP_ADDRESS, self.ip))
        if IPCP_DNS1 in asked:
            opts.append(new_option(IPCP_DNS1, self.dns1))
        if IPCP_DNS2 in asked:
            opts.append(new_option(IPCP_DNS2, self.dns2))
        return opts

    def check_request(self, options: Sequence[Option]) -> tuple[Code, Sequence[Option]]:
        rej = [o for o in options if o[0] != IPCP_ADDRESS or len(o[1]) != 4]
        if rej:
            return _REJ, rej
        for o in options:
            self.gateway = o[1]
        return _ACK, options  # the options themselves: the Negotiator echoes the request's bytes

    def on_ack(self, options: Sequence[Option]) -> None:
        return None

    def on_nak(self, options: Sequence[Option]) -> None:
        for otype, data in options:
            if len(data) != 4:
                continue
            if otype == IPCP_ADDRESS:
                self.ip = data
            elif otype == IPCP_DNS1:
                self.dns1 = data
            elif otype == IPCP_DNS2:
                self.dns2 = data

    def on_reject(self, options: Sequence[Option]) -> None:
        self.asked = self.asked - {o.type for o in options}

    def failure(self) -> str | None:
        return None

    def dns(self) -> tuple[str, ...]:
        dns1, dns2 = self.dns1, self.dns2
        if dns1 != ZERO and dns2 != ZERO:
            return (ip_str(dns1), ip_str(dns2))
        return tuple(ip_str(d) for d in (dns1, dns2) if d != ZERO)

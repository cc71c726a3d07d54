"""IPCP option policies (RFC 1332 IP-Address, RFC 1877 DNS), server and client side.

Server: the address comes from the AAA result.  A peer asking 0.0.0.0, or any address other
than the assigned one, is Nak'ed with the assigned address; Primary/Secondary DNS are Nak'ed with
the configured servers (Rejected when none is configured); everything else (IP-Compression,
NBNS, the deprecated IP-Addresses...) is Rejected.  Our own Configure-Request carries our
gateway address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from abng.ppp.codec import (
    IPCP_ADDRESS,
    IPCP_DNS1,
    IPCP_DNS2,
    IPCP_OPTIONS,
    Code,
    Option,
)

ZERO = b"\x00\x00\x00\x00"


def ip_bytes(address: str) -> bytes:
    return ipaddress.IPv4Address(address).packed


def ip_str(packed: bytes) -> str:
    return str(ipaddress.IPv4Address(packed))


class IpcpServerPolicy:
    def __init__(self, gateway: str, peer_ip: str, dns: Sequence[str] = ()) -> None:
        self.gateway = ip_bytes(gateway)
        self.peer_ip = ip_bytes(peer_ip)
        self.dns = {IPCP_DNS1: ip_bytes(dns[0])} if dns else {}
        if len(dns) > 1:
            self.dns[IPCP_DNS2] = ip_bytes(dns[1])
        self.send_address = True
        self.prompts = 1  # how many times we append an IP-Address the peer did not ask for

    def request_options(self) -> list[Option]:
        return [Option(IPCP_ADDRESS, self.gateway)] if self.send_address else []

    def check_request(self, options: Sequence[Option]) -> tuple[Code, list[Option]]:
        rej = [o for o in options if not self._acceptable(o)]
        if rej:
            return Code.CONF_REJ, rej
        nak: list[Option] = []
        for o in options:
            want = self.peer_ip if o.type == IPCP_ADDRESS else self.dns[o.type]
            if o.data != want:
                nak.append(Option(o.type, want))
        if self.prompts > 0 and not any(o.type == IPCP_ADDRESS for o in options):
            # RFC 1661 §5.3: a Nak may carry options the peer did not request, to prompt it.
            self.prompts -= 1
            nak.insert(0, Option(IPCP_ADDRESS, self.peer_ip))
        if nak:
            return Code.CONF_NAK, nak
        return Code.CONF_ACK, list(options)

    def _acceptable(self, o: Option) -> bool:
        spec = IPCP_OPTIONS.get(o.type)
        if spec is None or not spec.valid(o):
            return False
        return o.type == IPCP_ADDRESS or o.type in self.dns

    def on_ack(self, options: Sequence[Option]) -> None:
        return None

    def on_nak(self, options: Sequence[Option]) -> None:
        return None  # our gateway address is not negotiable; Max-Failure bounds the loop

    def on_reject(self, options: Sequence[Option]) -> None:
        if any(o.type == IPCP_ADDRESS for o in options):
            self.send_address = False

    def failure(self) -> str | None:
        return None


class IpcpClientPolicy:
    """Asks for an address and DNS servers (0.0.0.0 = "please assign"), takes what is Nak'ed."""

    def __init__(self, want_dns: bool = True) -> None:
        self.ip = ZERO
        self.dns1 = ZERO
        self.dns2 = ZERO
        self.asked = {IPCP_ADDRESS} | ({IPCP_DNS1, IPCP_DNS2} if want_dns else set())
        self.gateway = ZERO

    def request_options(self) -> list[Option]:
        values = {IPCP_ADDRESS: self.ip, IPCP_DNS1: self.dns1, IPCP_DNS2: self.dns2}
        return [Option(t, values[t]) for t in (IPCP_ADDRESS, IPCP_DNS1, IPCP_DNS2) if t in self.asked]

    def check_request(self, options: Sequence[Option]) -> tuple[Code, list[Option]]:
        rej = [o for o in options if o.type != IPCP_ADDRESS or len(o.data) != 4]
        if rej:
            return Code.CONF_REJ, rej
        for o in options:
            self.gateway = o.data
        return Code.CONF_ACK, list(options)

    def on_ack(self, options: Sequence[Option]) -> None:
        return None

    def on_nak(self, options: Sequence[Option]) -> None:
        for o in options:
            if len(o.data) != 4:
                continue
            if o.type == IPCP_ADDRESS:
                self.ip = o.data
            elif o.type == IPCP_DNS1:
                self.dns1 = o.data
            elif o.type == IPCP_DNS2:
                self.dns2 = o.data

    def on_reject(self, options: Sequence[Option]) -> None:
        self.asked -= {o.type for o in options}

    def failure(self) -> str | None:
        return None

    def dns(self) -> tuple[str, ...]:
        return tuple(ip_str(d) for d in (self.dns1, self.dns2) if d != ZERO)

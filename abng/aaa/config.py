"""Plain configuration shapes for the AAA part; the integrator maps the pydantic model onto them.

``radius`` (reference §4.7, DECISIONS.md D22/D23) -> :class:`RadiusConfig`;
``aaa`` local subscribers and pools (D19) -> :class:`abng.aaa.local.LocalAaaConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class RadiusServerConfig:
    host: str
    secret: str = field(repr=False)
    port: int = 1812
    acct_port: int = 1813


@dataclass(frozen=True, slots=True)
class RadiusConfig:
    servers: tuple[RadiusServerConfig, ...]
    nas_identifier: str = "abng"
    nas_ip_address: str | None = None
    timeout: float = 5.0
    retries: int = 3
    interim_interval: int = 300
    coa_enabled: bool = False
    coa_port: int = 3799
    #: addresses allowed to send CoA/Disconnect; empty means the servers' hosts (D22)
    coa_clients: tuple[str, ...] = ()
    #: secret for CoA clients that are not one of ``servers`` (default: the first server's secret)
    coa_secret: str | None = field(default=None, repr=False)
    coa_bind: str = "0.0.0.0"
    #: local address the client sockets bind to (source of our requests)
    source_address: str = "0.0.0.0"
    dead_time: float = 30.0
    max_sockets: int = 8
    #: also drop Accounting-Responses without a valid Message-Authenticator (D22 read strictly;
    #: needs ``update reply { Message-Authenticator := 0x00 }`` in FreeRADIUS's accounting section)
    acct_require_message_authenticator: bool = False
    #: seconds between attempts to deliver spooled Accounting Stops
    spool_retry_interval: float = 30.0

    def coa_secrets(self) -> dict[str, bytes]:
        """Allowed CoA source address -> shared secret."""
        by_host = {s.host: s.secret.encode() for s in self.servers}
        default = (self.coa_secret or (self.servers[0].secret if self.servers else "")).encode()
        hosts = self.coa_clients or tuple(by_host)
        return {h: by_host.get(h, default) if self.coa_secret is None else default for h in hosts}

"""Warnings about a valid configuration: things that commit but probably are mistakes.

They never block a commit; ``commit`` returns them (``CommitResult.warnings``) so that the CLI
and the API can show them.
"""

from __future__ import annotations

import re

from abng.config.schema import Config
from abng.config.types import ConfigIssue

_FULL_BCRYPT = re.compile(r"^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$")
_EXAMPLE_SECRETS = {"testing123", "your-secret", "secret", "changeme", "change-this-secret"}


def config_warnings(c: Config) -> list[ConfigIssue]:
    out: list[ConfigIssue] = []
    for i, user in enumerate(c.api.users):
        if not _FULL_BCRYPT.match(user.password_hash):
            out.append(
                ConfigIssue(
                    f"api.users.{i}.password_hash", "not a complete bcrypt hash: this user cannot log in"
                )
            )
    for i, server in enumerate(c.radius.servers):
        if server.secret in _EXAMPLE_SECRETS:
            out.append(ConfigIssue(f"radius.servers.{i}.secret", "a well-known example secret: change it"))
    if c.snmp.enabled and c.snmp.community == "public":
        out.append(ConfigIssue("snmp.community", "'public' is a well-known community: change it"))
    services = {"pppoe": c.pppoe.enabled, "dhcp": c.dhcp.enabled}
    for i, profile in enumerate(c.demux.profiles):
        for service in profile.services:
            if c.demux.enabled and not services[service]:
                out.append(
                    ConfigIssue(
                        f"demux.profiles.{i}.services", f"{service} is disabled: it is not served here"
                    )
                )
    if (c.pppoe.enabled or c.dhcp.enabled) and not c.demux.enabled:
        out.append(
            ConfigIssue("demux.enabled", "no subscriber VLAN interfaces are created while demux is off")
        )
    return out

"""Every documented YAML example (reference §4.1-§4.13, the seed page) loads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bcrypt
import pytest
import yaml

from abng.config.schema import Config, load_config_file, validate_config
from abng.config.store import ConfigStore, default_config_path

ROOT = Path(__file__).resolve().parents[2]

# reference §4.13, verbatim
FULL_EXAMPLE = """
system: {hostname: "AthenaBNG-01"}
interfaces: {management: "eth0", subscriber_trunk: "eth1", upstream: "eth2", cgnat_handoff: "eth3"}
demux:
  enabled: true
  profiles:
    - {name: "residential", trunk_interface: "eth1", outer_vlans: [111, 112], stag_range: "100-999",
       ctag_range: "1-4094", stag_protocol: "802.1ad", services: ["pppoe","dhcp"], idle_timeout: 3600,
       max_interfaces: 50000, creation_rate_limit: 100, require_packets: 2, require_window: 5}
pppoe: {enabled: true, ac_name: "AthenaBNG", mtu: 1492, mru: 1492, lcp_echo_interval: 30, lcp_echo_failure: 3}
radius:
  servers: [{host: "10.255.0.10", port: 1812, secret: "your-secret"}]
  nas_identifier: "AthenaBNG"
  nas_ip_address: "10.255.0.1"
  coa_enabled: true
qos:
  enabled: true
  default_down: "100mbit"
  default_up: "40mbit"
  default_overhead_profile: "pppoe_ethernet"
  overhead_profiles: {pppoe_ethernet: {overhead: 34, mpu: 64}, ipoe_ethernet: {overhead: 22, mpu: 64}}
cgnat: {enabled: true, vrf_name: "cgnat", vrf_table: 100, handoff_interface: "eth3",
        handoff_gateway: "10.99.0.1", source_range: "100.64.0.0/10", fwmark: "0x64"}
routing: {bgp: {enabled: true, asn: 64512, neighbors: [{address: "10.255.0.254", remote_as: 64500}],
          announce_subscriber_routes: true}, ospf: {enabled: false}}
api: {enabled: true, listen: "0.0.0.0", port: 8443, tls_cert: "/opt/athena-bng/etc/cert.pem",
      tls_key: "/opt/athena-bng/etc/key.pem",
      users: [{username: admin, password_hash: "$2b$12$...", role: admin},
              {username: operator, password_hash: "$2b$12$...", role: operator}]}
"""

# the seed page's api.users snippet (api-authentication.txt), verbatim
SEED_API_USERS = """
api:
  enabled: true
  users:
    - username: admin
      password_hash: "$2b$12$..."
      role: admin
    - username: operator
      password_hash: "$2b$12$..."
      role: operator
"""

# reference §4.10
ROUTING_EXAMPLE = """
routing:
  bgp:
    enabled: true
    asn: 64512
    neighbors:
      - address: "10.255.0.254"
        remote_as: 64500
    announce_subscriber_routes: true
  ospf:
    enabled: false
"""

# performance-tuning page (reference §4.4 warning, §4.7, §4.8): limits directly under demux
TUNING_EXAMPLE = """
demux:
  enabled: true
  max_interfaces: 100000
  creation_rate_limit: 500
  idle_timeout: 7200
  profiles:
    - {name: "residential", trunk_interface: "eth1", outer_vlans: [111], stag_range: "100-999",
       ctag_range: "1-4094"}
radius:
  servers: [{host: "10.255.0.10", secret: "s"}]
  timeout: 5
  retries: 3
qos:
  overhead_profiles:
    custom: {overhead: 50, mpu: 64, rtt: "50ms"}
"""

BASE = {
    "system": {"hostname": "AthenaBNG-01"},
    "interfaces": {"management": "eth0", "subscriber_trunk": "eth1", "upstream": "eth2"},
}


def with_base(snippet: str) -> dict[str, Any]:
    data: dict[str, Any] = {**BASE, **yaml.safe_load(snippet)}
    return data


def test_full_example_loads_verbatim() -> None:
    config, issues = validate_config(yaml.safe_load(FULL_EXAMPLE))
    assert issues == []
    assert config is not None
    assert config.demux.profiles[0].outer_vlans == [111, 112]
    assert config.qos.overhead_profiles["pppoe_qinq"].overhead == 38  # built-in kept
    assert config.cgnat.fwmark == "0x64"
    assert config.api.users[1].role == "operator"


def test_seed_api_users_snippet_loads() -> None:
    config, issues = validate_config(with_base(SEED_API_USERS))
    assert issues == [] and config is not None
    assert [u.username for u in config.api.users] == ["admin", "operator"]
    assert config.api.port == 8443 and config.api.token_expiry == 3600


def test_routing_example_loads() -> None:
    config, issues = validate_config(with_base(ROUTING_EXAMPLE))
    assert issues == [] and config is not None
    assert config.routing.bgp.neighbors[0].remote_as == 64500


def test_tuning_example_top_level_limits_inherited_and_overridden() -> None:
    config, issues = validate_config(with_base(TUNING_EXAMPLE))
    assert issues == [] and config is not None
    resolved = config.demux.resolved(config.demux.profiles[0])
    assert (resolved.max_interfaces, resolved.creation_rate_limit, resolved.idle_timeout) == (
        100000,
        500,
        7200,
    )
    assert (resolved.require_packets, resolved.require_window) == (2, 5)
    data = with_base(TUNING_EXAMPLE)
    data["demux"]["profiles"][0]["max_interfaces"] = 1000
    config, issues = validate_config(data)
    assert config is not None
    assert config.demux.resolved(config.demux.profiles[0]).max_interfaces == 1000
    assert config.qos.overhead_profiles["custom"].rtt == "50ms"


@pytest.mark.parametrize(
    "command",
    [
        'set system hostname "AthenaBNG-01"',
        'set interfaces management "eth0"',
        'set interfaces cgnat_handoff "eth3"',
        "set routing bgp asn 64512",
        "set routing bgp announce_subscriber_routes true",
        "set qos enabled true",
        "set api enabled true",
        "set snmp enabled true",
        "set routing ospf enabled true",
        "set pppoe enabled true",
        "set dhcp enabled true",
    ],
)
def test_documented_cli_set_commands(tmp_path: Path, command: str) -> None:
    """§4.1 / §4.3 / §4.10 CLI lines are accepted by the store (values typed by the schema)."""
    store = ConfigStore(tmp_path)
    tokens = command.split()[1:]
    store.set(tokens[:-1], tokens[-1])
    store.commit()
    value: Any = store.running.model_dump(mode="json")
    for token in tokens[:-1]:
        value = value[token]
    expected: Any = tokens[-1].strip('"')
    expected = {"true": True}.get(expected, int(expected) if expected.isdigit() else expected)
    assert value == expected


def test_services_table_enable_commands_with_requirements(tmp_path: Path) -> None:
    """The 'all services off' table (§4.1): each enable command, with what it needs, commits."""
    store = ConfigStore(tmp_path, default=ROOT / "examples" / "full.yaml")
    for section in ("demux", "pppoe", "dhcp", "qos", "api", "snmp", "cgnat"):
        store.set(f"{section} enabled", "false")
    store.set("radius coa_enabled", "false")
    store.set("routing bgp enabled", "false")
    store.commit()
    for line in (
        "demux enabled true",
        "pppoe enabled true",
        "dhcp enabled true",
        "qos enabled true",
        "radius coa_enabled true",
        "api enabled true",
        "snmp enabled true",
        "routing bgp enabled true",
        "routing ospf enabled true",
        "cgnat enabled true",
    ):
        *path, value = line.split()
        store.set(path, value)
        store.commit(comment=line)
    assert store.generation == 11


def test_shipped_files_load() -> None:
    for path in (default_config_path(), ROOT / "examples" / "full.yaml"):
        assert isinstance(load_config_file(path), Config)


def test_default_config_lab_choices() -> None:
    c = load_config_file(default_config_path())
    assert c.system.hostname == "abng-lab"
    assert (c.interfaces.management, c.interfaces.subscriber_trunk, c.interfaces.upstream) == (
        "lo",
        "trunk0",
        "up0",
    )
    assert c.pppoe.enabled and c.dhcp.enabled and c.demux.enabled and c.qos.enabled and c.api.enabled
    assert not c.radius.servers and c.aaa.dhcp_default_pool is not None
    assert (c.qos.default_down, c.qos.default_up) == ("100mbit", "40mbit")
    assert (c.api.listen, c.api.port) == ("0.0.0.0", 8443)
    users = {u.username: u for u in c.api.users}
    assert users["admin"].role == "admin" and users["operator"].role == "operator"
    for user in users.values():
        assert user.password_hash.startswith("$2b$12$")
        assert bcrypt.checkpw(b"changeme", user.password_hash.encode())
    ppp = [s for s in c.aaa.subscribers if s.username is not None]
    assert ppp and ppp[0].username == "user1@lab" and ppp[0].password == "pass1"


def test_full_example_file_api_passwords() -> None:
    c = load_config_file(ROOT / "examples" / "full.yaml")
    admin = c.api.users[0]
    assert bcrypt.checkpw(b"admin-password-change-me", admin.password_hash.encode())

"""Schema: defaults, ranges, unknown keys, cross-section rules, issue paths."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from abng.config.schema import Config, ConfigLoadError, load_config_file, parse_yaml, validate_config

BASE: dict[str, Any] = {
    "system": {"hostname": "bng1"},
    "interfaces": {"management": "eth0", "subscriber_trunk": "eth1", "upstream": "eth2"},
}


def cfg(**sections: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key].update(value)
        else:
            data[key] = value
    return data


def issues_of(data: dict[str, Any]) -> dict[str, str]:
    config, issues = validate_config(data)
    assert (config is None) == bool(issues)
    return {i.path: i.message for i in issues}


def profile(**kw: Any) -> dict[str, Any]:
    p = {
        "name": "res",
        "trunk_interface": "eth1",
        "outer_vlans": [111],
        "stag_range": "100-999",
        "ctag_range": "1-4094",
    }
    p.update(kw)
    return p


def test_minimal_config_all_services_off() -> None:
    config, issues = validate_config(cfg())
    assert issues == [] and config is not None
    flags = [
        config.demux.enabled,
        config.pppoe.enabled,
        config.dhcp.enabled,
        config.qos.enabled,
        config.radius.coa_enabled,
        config.api.enabled,
        config.snmp.enabled,
        config.routing.bgp.enabled,
        config.routing.ospf.enabled,
        config.cgnat.enabled,
        config.monitoring.prometheus.enabled,
        config.monitoring.syslog.enabled,
    ]
    assert not any(flags)


def test_documented_defaults() -> None:
    config, _ = validate_config(cfg())
    assert config is not None
    p, r, q, g, a = config.pppoe, config.radius, config.qos, config.cgnat, config.api
    assert (p.ac_name, p.mtu, p.mru, p.lcp_echo_interval, p.lcp_echo_failure) == (
        "AthenaBNG",
        1492,
        1492,
        30,
        3,
    )
    assert p.auth == ["pap", "chap"]
    assert (r.coa_port, r.timeout, r.retries, r.interim_interval, r.coa_enabled) == (3799, 5, 3, 300, False)
    assert q.default_overhead_profile == "pppoe_ethernet"
    assert {n: (o.overhead, o.mpu) for n, o in q.overhead_profiles.items()} == {
        "pppoe_ethernet": (34, 64),
        "ipoe_ethernet": (22, 64),
        "pppoe_qinq": (38, 64),
    }
    assert (g.vrf_name, g.vrf_table, str(g.source_range), g.fwmark) == ("cgnat", 100, "100.64.0.0/10", "0x64")
    assert (a.listen, a.port, a.token_expiry) == ("0.0.0.0", 8443, 3600)
    assert (config.system.dataplane, config.system.timezone, config.system.log_level) == (
        "auto",
        "UTC",
        "info",
    )
    assert (config.demux.max_interfaces, config.demux.creation_rate_limit) == (50000, 100)
    assert (config.demux.require_packets, config.demux.require_window) == (2, 5)
    assert config.dhcp.lease_time == 3600


def test_radius_server_defaults() -> None:
    config, _ = validate_config(cfg(radius={"servers": [{"host": "10.0.0.1", "secret": "x"}]}))
    assert config is not None
    s = config.radius.servers[0]
    assert (s.port, s.acct_port) == (1812, 1813)


@pytest.mark.parametrize(
    ("data", "path", "fragment"),
    [
        (cfg(pppoe={"mtuu": 1400}), "pppoe.mtuu", "did you mean 'mtu'"),
        (cfg(sytem={"hostname": "x"}), "sytem", "did you mean 'system'"),
        (
            cfg(radius={"servers": [{"host": "10.0.0.1", "secret": "x", "prot": 1}]}),
            "radius.servers.0.prot",
            "did you mean 'port'",
        ),
        (cfg(routing={"bgp": {"enabeld": True}}), "routing.bgp.enabeld", "did you mean 'enabled'"),
        (
            cfg(qos={"overhead_profiles": {"x": {"overhead": 1, "mtu": 2}}}),
            "qos.overhead_profiles.x.mtu",
            "did you mean 'mpu'",
        ),
        (cfg(demux={"profiles": [profile(stag_rnage="1-2")]}), "demux.profiles.0.stag_rnage", "unknown key"),
        (
            cfg(aaa={"pools": {"p": {"network": "10.0.0.0/24", "gw": "10.0.0.1"}}}),
            "aaa.pools.p.gw",
            "unknown key",
        ),
    ],
)
def test_unknown_keys_rejected_with_path(data: dict[str, Any], path: str, fragment: str) -> None:
    found = issues_of(data)
    assert path in found
    assert fragment in found[path]


@pytest.mark.parametrize(
    ("section", "value", "path"),
    [
        ("pppoe", {"mtu": 1279}, "pppoe.mtu"),
        ("pppoe", {"mtu": 1501}, "pppoe.mtu"),
        ("pppoe", {"mru": 9000}, "pppoe.mru"),
        ("pppoe", {"ac_name": ""}, "pppoe.ac_name"),
        ("pppoe", {"ac_name": "x" * 65}, "pppoe.ac_name"),
        ("pppoe", {"lcp_echo_interval": 0}, "pppoe.lcp_echo_interval"),
        ("pppoe", {"lcp_echo_failure": -1}, "pppoe.lcp_echo_failure"),
        ("pppoe", {"auth": ["mschap"]}, "pppoe.auth.0"),
        ("pppoe", {"auth": []}, "pppoe.auth"),
        ("pppoe", {"auth": ["pap", "pap"]}, "pppoe.auth"),
        ("pppoe", {"enabled": "maybe"}, "pppoe.enabled"),
        ("radius", {"nas_identifier": "x" * 65}, "radius.nas_identifier"),
        ("radius", {"servers": [{"host": "10.0.0.1", "secret": ""}]}, "radius.servers.0.secret"),
        ("radius", {"servers": [{"host": "10.0.0.1"}]}, "radius.servers.0.secret"),
        ("radius", {"servers": [{"host": "10.0.0.1", "secret": "s", "port": 0}]}, "radius.servers.0.port"),
        (
            "radius",
            {"servers": [{"host": "10.0.0.1", "secret": "s", "port": 65536}]},
            "radius.servers.0.port",
        ),
        ("radius", {"servers": [{"host": "300.1.1.1", "secret": "s"}]}, "radius.servers.0.host"),
        ("radius", {"nas_ip_address": "10.0.0"}, "radius.nas_ip_address"),
        ("radius", {"interim_interval": 30}, "radius.interim_interval"),
        ("qos", {"default_down": "100mb"}, "qos.default_down"),
        ("qos", {"default_up": "1kbit"}, "qos.default_up"),
        ("qos", {"overhead_profiles": {"x": {"mpu": 64}}}, "qos.overhead_profiles.x.overhead"),
        ("qos", {"overhead_profiles": {"x": {"overhead": -1}}}, "qos.overhead_profiles.x.overhead"),
        ("qos", {"overhead_profiles": {"bad-name": {"overhead": 1}}}, "qos.overhead_profiles.bad-name"),
        ("qos", {"overhead_profiles": {"x": {"overhead": 1, "rtt": "fast"}}}, "qos.overhead_profiles.x.rtt"),
        ("cgnat", {"vrf_name": "x" * 16}, "cgnat.vrf_name"),
        ("cgnat", {"vrf_name": "cg-nat"}, "cgnat.vrf_name"),
        ("cgnat", {"vrf_table": 0}, "cgnat.vrf_table"),
        ("cgnat", {"vrf_table": 253}, "cgnat.vrf_table"),
        ("cgnat", {"source_range": "100.64.0.1/10"}, "cgnat.source_range"),
        ("cgnat", {"fwmark": "0xzz"}, "cgnat.fwmark"),
        ("routing", {"bgp": {"asn": 0}}, "routing.bgp.asn"),
        ("routing", {"bgp": {"asn": 4294967296}}, "routing.bgp.asn"),
        (
            "routing",
            {"bgp": {"neighbors": [{"address": "10.0.0.1", "remote_as": 0}]}},
            "routing.bgp.neighbors.0.remote_as",
        ),
        ("routing", {"bgp": {"neighbors": [{"remote_as": 1}]}}, "routing.bgp.neighbors.0.address"),
        ("api", {"port": 0}, "api.port"),
        ("api", {"token_expiry": 10}, "api.token_expiry"),
        (
            "api",
            {"users": [{"username": "a", "password_hash": "plain", "role": "admin"}]},
            "api.users.0.password_hash",
        ),
        (
            "api",
            {"users": [{"username": "a", "password_hash": "$2b$12$x", "role": "root"}]},
            "api.users.0.role",
        ),
        ("demux", {"profiles": [profile(name="bad name")]}, "demux.profiles.0.name"),
        ("demux", {"profiles": [profile(name="x" * 65)]}, "demux.profiles.0.name"),
        ("demux", {"profiles": [profile(outer_vlans=[0])]}, "demux.profiles.0.outer_vlans.0"),
        ("demux", {"profiles": [profile(outer_vlans=[4095])]}, "demux.profiles.0.outer_vlans.0"),
        ("demux", {"profiles": [profile(stag_range="0-10")]}, "demux.profiles.0.stag_range"),
        ("demux", {"profiles": [profile(stag_range="10-5")]}, "demux.profiles.0.stag_range"),
        ("demux", {"profiles": [profile(ctag_range="1-5000")]}, "demux.profiles.0.ctag_range"),
        ("demux", {"profiles": [profile(stag_protocol="802.1x")]}, "demux.profiles.0.stag_protocol"),
        ("demux", {"profiles": [profile(services=["ppp"])]}, "demux.profiles.0.services.0"),
        ("demux", {"max_interfaces": 0}, "demux.max_interfaces"),
        ("system", {"hostname": "-bad"}, "system.hostname"),
        ("system", {"timezone": "Mars/Olympus"}, "system.timezone"),
        ("system", {"dataplane": "dpdk"}, "system.dataplane"),
        ("system", {"router_id": "1.2.3"}, "system.router_id"),
        ("interfaces", {"upstream": "a-very-long-interface-name"}, "interfaces.upstream"),
        ("dhcp", {"lease_time": 10}, "dhcp.lease_time"),
        ("dhcp", {"option82": "drop"}, "dhcp.option82"),
        ("aaa", {"subscribers": [{"username": "u"}]}, "aaa.subscribers.0"),
        ("aaa", {"subscribers": [{"mac": "zz:00:00:00:00:00"}]}, "aaa.subscribers.0.mac"),
        ("aaa", {"subscribers": [{"password": "p"}]}, "aaa.subscribers.0"),
        ("aaa", {"pools": {"p": {"network": "10.0.0.0/24", "gateway": "10.0.1.1"}}}, "aaa.pools.p"),
        ("aaa", {"pools": {"p": {"network": "10.0.0.0/24", "range": "10.0.0.10-10.0.1.5"}}}, "aaa.pools.p"),
        ("aaa", {"pools": {"p": {"network": "10.0.0.0/24", "range": "10.0.0.0-10.0.0.9"}}}, "aaa.pools.p"),
        ("snmp", {"port": 70000}, "snmp.port"),
        ("monitoring", {"syslog": {"protocol": "sctp"}}, "monitoring.syslog.protocol"),
    ],
)
def test_ranges_and_types(section: str, value: dict[str, Any], path: str) -> None:
    found = issues_of(cfg(**{section: value}))
    assert path in found, found


@pytest.mark.parametrize(
    ("sections", "path"),
    [
        ({"pppoe": {"enabled": True}}, "pppoe.enabled"),
        ({"dhcp": {"enabled": True}}, "dhcp.enabled"),
        ({"demux": {"enabled": True}}, "demux.profiles"),
        ({"demux": {"profiles": [profile(trunk_interface="eth9")]}}, "demux.profiles.0.trunk_interface"),
        ({"demux": {"profiles": [profile(), profile()]}}, "demux.profiles.1.name"),
        (
            {"demux": {"profiles": [profile(), profile(name="b", stag_range="500-600")]}},
            "demux.profiles.1.stag_range",
        ),
        (
            {"routing": {"bgp": {"enabled": True, "neighbors": [{"address": "10.0.0.1", "remote_as": 1}]}}},
            "routing.bgp.asn",
        ),
        ({"routing": {"bgp": {"enabled": True, "asn": 64512}}}, "routing.bgp.neighbors"),
        ({"qos": {"default_overhead_profile": "nope"}}, "qos.default_overhead_profile"),
        ({"cgnat": {"enabled": True, "handoff_gateway": "10.99.0.1"}}, "cgnat.handoff_interface"),
        ({"cgnat": {"enabled": True, "handoff_interface": "eth3"}}, "cgnat.handoff_gateway"),
        ({"interfaces": {"upstream": "eth1"}}, "interfaces.upstream"),
        ({"radius": {"coa_enabled": True}}, "radius.coa_enabled"),
        ({"radius": {"coa_enabled": True, "coa_clients": ["10.0.0.5"]}}, "radius.coa_secret"),
        (
            {
                "radius": {
                    "servers": [{"host": "a.example", "secret": "s"}, {"host": "a.example", "secret": "t"}]
                }
            },
            "radius.servers.1.host",
        ),
        ({"api": {"enabled": True}}, "api.users"),
        ({"api": {"tls_cert": "/c.pem"}}, "api.tls_key"),
        ({"monitoring": {"syslog": {"enabled": True}}}, "monitoring.syslog.target"),
        ({"pppoe": {"pool": "nope"}}, "pppoe.pool"),
        ({"aaa": {"dhcp_default_pool": "nope"}}, "aaa.dhcp_default_pool"),
        ({"aaa": {"subscribers": [{"username": "u", "password": "p"}]}}, "aaa.subscribers.0"),
        (
            {
                "aaa": {
                    "subscribers": [
                        {"username": "u", "password": "p", "ip": "10.0.0.1"},
                        {"username": "u", "password": "q", "ip": "10.0.0.2"},
                    ]
                }
            },
            "aaa.subscribers.1.username",
        ),
        (
            {
                "aaa": {
                    "subscribers": [{"mac": "02:00:00:00:00:01", "ip": "10.0.0.1", "overhead_profile": "x"}]
                }
            },
            "aaa.subscribers.0.overhead_profile",
        ),
        (
            {"aaa": {"pools": {"a": {"network": "10.0.0.0/24"}, "b": {"network": "10.0.0.128/25"}}}},
            "aaa.pools.b.network",
        ),
    ],
)
def test_cross_section_rules(sections: dict[str, Any], path: str) -> None:
    found = issues_of(cfg(**sections))
    assert path in found, found


def test_cross_rules_satisfied() -> None:
    data = cfg(
        pppoe={"enabled": True},
        dhcp={"enabled": True},
        aaa={
            "pools": {"lab": {"network": "100.64.0.0/24"}},
            "default_pool": "lab",
            "dhcp_default_pool": "lab",
            "subscribers": [{"username": "u@x", "password": "p"}],
        },
        demux={"enabled": True, "profiles": [profile(), profile(name="b", stag_range="1000-1100")]},
    )
    config, issues = validate_config(data)
    assert issues == [] and config is not None
    assert config.aaa.pools["lab"].effective_gateway.compressed == "100.64.0.1"


def test_radius_alone_satisfies_pppoe_and_dhcp() -> None:
    data = cfg(
        pppoe={"enabled": True}, dhcp={"enabled": True}, radius={"servers": [{"host": "r1", "secret": "s"}]}
    )
    assert issues_of(data) == {}


def test_all_issues_reported_at_once() -> None:
    data = cfg(pppoe={"mtu": 1, "mru": 2}, radius={"timeout": 0}, cgnat={"vrf_table": 999})
    assert set(issues_of(data)) == {"pppoe.mtu", "pppoe.mru", "radius.timeout", "cgnat.vrf_table"}
    data = cfg(
        routing={"bgp": {"enabled": True}}, demux={"enabled": True}, qos={"default_overhead_profile": "z"}
    )
    assert set(issues_of(data)) == {
        "routing.bgp.asn",
        "routing.bgp.neighbors",
        "demux.profiles",
        "qos.default_overhead_profile",
    }


def test_required_sections_and_keys() -> None:
    assert set(issues_of({})) == {"system", "interfaces"}
    assert set(issues_of({"system": {}, "interfaces": {}})) == {
        "system.hostname",
        "interfaces.management",
        "interfaces.subscriber_trunk",
        "interfaces.upstream",
    }
    assert validate_config([1, 2])[1][0].path == ""


def test_model_validate_enforces_cross_rules_too() -> None:
    with pytest.raises(ValueError, match=r"demux\.profiles"):
        Config.model_validate(cfg(demux={"enabled": True}))


def test_values_normalised() -> None:
    data = cfg(
        cgnat={"fwmark": 100},
        aaa={"subscribers": [{"mac": "02-AA-bb-00-00-01", "ip": "10.0.0.9", "rate_down": 25_000_000}]},
        demux={"profiles": [profile(stag_range="7")]},
    )
    config, issues = validate_config(data)
    assert issues == [] and config is not None
    assert config.cgnat.fwmark == "0x64"
    assert config.aaa.subscribers[0].mac == "02:aa:bb:00:00:01"
    assert config.aaa.subscribers[0].rate_down == "25000000"
    assert config.demux.profiles[0].stag_range == "7-7"
    assert config.demux.profiles[0].ctag_bounds == (1, 4094)


def test_builtin_overhead_profiles_always_present() -> None:
    config, _ = validate_config(cfg(qos={"overhead_profiles": {"pppoe_ethernet": {"overhead": 40}}}))
    assert config is not None
    profiles = config.qos.overhead_profiles
    assert profiles["pppoe_ethernet"].overhead == 40  # overridable
    assert profiles["pppoe_qinq"].overhead == 38 and profiles["ipoe_ethernet"].overhead == 22


def test_yaml_errors_carry_line(tmp_path: Any) -> None:
    with pytest.raises(ConfigLoadError, match=r"YAML syntax error: line 3 column 1"):
        parse_yaml("system:\n  hostname: [unclosed\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "system: {hostname: x}\ninterfaces: {management: a, subscriber_trunk: b, upstream: c}\nfoo: 1\n"
    )
    with pytest.raises(ConfigLoadError) as info:
        load_config_file(bad)
    assert [i.path for i in info.value.issues] == ["foo"]


def test_file_issues_carry_yaml_lines(tmp_path: Any) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "system:\n  hostname: bng\ninterfaces:\n  management: eth0\n  subscriber_trunk: eth1\n"
        "  upstream: eth2\npppoe:\n  enabled: false\n  mtu: 9000\nradius:\n  servers:\n"
        "    - host: 10.0.0.1\n      secret: s\n    - host: 10.0.0.2\n"
    )
    with pytest.raises(ConfigLoadError) as info:
        load_config_file(path)
    lines = {i.path: i.line for i in info.value.issues}
    assert lines == {"pppoe.mtu": 9, "radius.servers.1.secret": 14}
    assert "pppoe.mtu: Input should be less than or equal to 1500 (line 9)" in str(info.value)

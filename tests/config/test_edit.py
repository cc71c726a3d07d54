"""Path editing: CLI strings typed by the schema, list indexes, deletes, diffs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from abng.config.edit import (
    canonical,
    changed_paths,
    coerce,
    delete_value,
    set_value,
    split_path,
    unified_diff,
)
from abng.config.introspect import PathError, node_at
from abng.config.store import ConfigError, ConfigStore


def test_split_path_forms() -> None:
    assert split_path("routing bgp asn") == ["routing", "bgp", "asn"]
    assert split_path("routing.bgp.asn") == ["routing", "bgp", "asn"]
    assert split_path(["radius", "servers", 0, "host"]) == ["radius", "servers", "0", "host"]  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("path", "text", "expected"),
    [
        ("pppoe enabled", "true", True),
        ("pppoe enabled", "false", False),
        ("pppoe enabled", "TRUE", True),
        ("pppoe mtu", "1400", 1400),
        ("system hostname", '"AthenaBNG-01"', "AthenaBNG-01"),
        ("system hostname", "AthenaBNG-01", "AthenaBNG-01"),
        ("pppoe ac_name", '"ISP \\"one\\""', 'ISP "one"'),
        ("qos default_down", "100mbit", "100mbit"),
        ("routing bgp asn", "4294967295", 4294967295),
        ("pppoe auth", '["chap", "pap"]', ["chap", "pap"]),
        ("pppoe mtu", "abc", "abc"),  # left for validation to refuse
    ],
)
def test_coerce_by_schema(path: str, text: str, expected: Any) -> None:
    assert coerce(node_at(path.split()), text) == expected


def test_json_values_pass_through() -> None:
    assert coerce(node_at(["pppoe", "mtu"]), 1400) == 1400
    assert coerce(node_at(["pppoe", "enabled"]), True) is True


def test_set_creates_sections_and_list_entries() -> None:
    data: dict[str, Any] = {}
    set_value(data, "radius servers 0 host", "10.0.0.1")
    set_value(data, "radius servers 0 secret", '"s3cret"')
    set_value(data, "radius servers 1 host", "10.0.0.2")
    assert data == {"radius": {"servers": [{"host": "10.0.0.1", "secret": "s3cret"}, {"host": "10.0.0.2"}]}}
    with pytest.raises(PathError, match="past the end"):
        set_value(data, "radius servers 5 host", "10.0.0.3")
    with pytest.raises(PathError, match="expected an index"):
        set_value(data, "radius servers x host", "10.0.0.3")
    set_value(data, "qos overhead_profiles custom overhead", "50")
    assert data["qos"] == {"overhead_profiles": {"custom": {"overhead": 50}}}


def test_set_whole_list_and_leaf_list_append() -> None:
    data: dict[str, Any] = {}
    set_value(data, "demux profiles", '[{"name": "a", "trunk_interface": "eth1", "stag_range": "1-10"}]')
    assert data["demux"]["profiles"][0]["name"] == "a"
    set_value(data, "demux profiles 0 outer_vlans", "111")
    set_value(data, "demux profiles 0 outer_vlans", "112")
    set_value(data, "demux profiles 0 outer_vlans", "111")  # already there
    assert data["demux"]["profiles"][0]["outer_vlans"] == [111, 112]
    set_value(data, "demux profiles 0 outer_vlans", [5])
    assert data["demux"]["profiles"][0]["outer_vlans"] == [5]
    with pytest.raises(PathError, match="invalid JSON"):
        set_value(data, "demux profiles", "[{oops")


def test_set_scalar_over_section_is_refused_later() -> None:
    data: dict[str, Any] = {"system": {"hostname": "x"}}
    with pytest.raises(PathError, match="is a value"):
        set_value(data, "system hostname extra", "1")


def test_delete_forms() -> None:
    data: dict[str, Any] = {
        "radius": {"servers": [{"host": "a", "secret": "s"}, {"host": "b", "secret": "t"}]},
        "demux": {"profiles": [{"name": "a", "outer_vlans": [111, 112]}]},
    }
    delete_value(data, "radius servers 0")
    assert data["radius"]["servers"] == [{"host": "b", "secret": "t"}]
    delete_value(data, "demux profiles 0 outer_vlans 112")  # one value of a leaf-list
    assert data["demux"]["profiles"][0]["outer_vlans"] == [111]
    delete_value(data, "radius servers 0 secret")
    assert data["radius"]["servers"] == [{"host": "b"}]
    delete_value(data, "radius")
    assert "radius" not in data
    with pytest.raises(PathError, match="nothing to delete"):
        delete_value(data, "radius")
    with pytest.raises(PathError, match="unknown key"):
        delete_value(data, "radiuss")


def test_changed_paths() -> None:
    old = {"a": {"b": 1, "c": [1, 2], "d": [{"x": 1}]}, "m": {"k": {"v": 1}}}
    new = {"a": {"b": 2, "c": [1, 2, 3], "d": [{"x": 1}, {"x": 2}]}, "m": {"j": {"v": 1}, "k": {"v": 1}}}
    assert changed_paths(old, new) == ["a.b", "a.c", "a.d.1", "m.j"]
    assert changed_paths(new, new) == []


def test_unified_diff_and_canonical_order() -> None:
    assert unified_diff({"a": 1}, {"a": 1}, "running", "candidate") == ""
    diff = unified_diff({"a": 1}, {"a": 2}, "running", "candidate")
    assert diff.startswith("--- running\n+++ candidate\n") and "-a: 1" in diff and "+a: 2" in diff
    data = {"routing": {"bgp": {"asn": 1, "enabled": True}}, "system": {"timezone": "UTC", "hostname": "h"}}
    ordered = canonical(data)
    assert list(ordered) == ["system", "routing"]
    assert list(ordered["system"]) == ["hostname", "timezone"]
    assert list(ordered["routing"]["bgp"]) == ["enabled", "asn"]


def test_store_set_list_index_and_append(tmp_path: Path) -> None:
    store = ConfigStore(tmp_path)
    store.set("radius servers 0 host", "10.0.0.1")
    store.set("radius servers 0 secret", "a")
    store.set("radius servers 1", '{"host": "10.0.0.2", "secret": "b"}')
    with pytest.raises(ConfigError) as info:
        store.set("radius servers 3 host", "10.0.0.3")
    assert info.value.issues[0]["path"] == "radius.servers.3.host"
    store.commit()
    assert [s.host for s in store.running.radius.servers] == ["10.0.0.1", "10.0.0.2"]
    store.delete("radius servers 0")
    store.commit()
    assert [s.host for s in store.running.radius.servers] == ["10.0.0.2"]
    with pytest.raises(ConfigError):
        store.delete("radius servers 4")


def test_map_entry_with_builtin_default_is_seeded(tmp_path: Path) -> None:
    store = ConfigStore(tmp_path)
    store.set("qos overhead_profiles pppoe_qinq mpu", "60")
    assert store.candidate_dict()["qos"]["overhead_profiles"]["pppoe_qinq"] == {
        "overhead": 38,
        "mpu": 60,
        "rtt": "20ms",
    }
    store.commit()
    assert store.running.qos.overhead_profiles["pppoe_qinq"].mpu == 60
    data: dict[str, Any] = {}
    set_value(data, "qos overhead_profiles custom mpu", "60")
    assert data["qos"]["overhead_profiles"]["custom"] == {"mpu": 60}


def test_junos_style_lists() -> None:
    node = node_at(["demux", "profiles", "0", "outer_vlans"])
    assert coerce(node, "[ 111 112 ]") == [111, 112]
    assert coerce(node_at(["pppoe", "auth"]), "[chap, pap]") == ["chap", "pap"]
    assert coerce(node_at(["pppoe", "auth"]), "[ ]") == []
    with pytest.raises(PathError, match="invalid JSON"):
        coerce(node_at(["radius", "servers"]), "[ a b ]")  # objects need JSON

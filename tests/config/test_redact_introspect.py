"""Secret redaction (D20) and schema introspection (CLI help/completion, API schema)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from abng.config.introspect import PathError, config_json_schema, describe_path, schema_tree
from abng.config.redact import redact, redact_section
from abng.config.schema import validate_config
from abng.config.store import default_config_path
from abng.config.types import SECRET_MASK

MASK = "********"


def walk(node: dict[str, Any]) -> list[dict[str, Any]]:
    out = [node]
    for child in node.get("children", []):
        out.extend(walk(child))
    if "item" in node:
        out.extend(walk(node["item"]))
    return out


def test_secret_paths_come_from_the_schema() -> None:
    secrets = {n["path"] for n in walk(schema_tree()) if n.get("secret")}
    assert secrets == {
        "aaa.subscribers.*.password",
        "radius.servers.*.secret",
        "radius.coa_secret",
        "api.users.*.password_hash",
        "snmp.community",
    }


def test_redact_masks_every_secret_and_nothing_else() -> None:
    data = yaml.safe_load(default_config_path().read_text())
    data["radius"] = {
        "servers": [{"host": "10.0.0.1", "secret": "s1"}, {"host": "10.0.0.2", "secret": "s2"}],
        "coa_secret": "c",
    }
    data["snmp"] = {"community": "public"}
    out = redact(data)
    assert MASK == SECRET_MASK
    assert [s["secret"] for s in out["radius"]["servers"]] == [MASK, MASK]
    assert out["radius"]["coa_secret"] == MASK
    assert out["snmp"]["community"] == MASK
    assert {u["password_hash"] for u in out["api"]["users"]} == {MASK}
    assert {s["password"] for s in out["aaa"]["subscribers"]} == {MASK}
    assert data["radius"]["servers"][0]["secret"] == "s1"  # input untouched
    # everything else is identical
    for section in ("system", "interfaces", "demux", "qos", "pppoe", "dhcp"):
        assert out[section] == data[section]
    assert out["aaa"]["subscribers"][0]["username"] == "user1@lab"
    assert "s1" not in repr(out) and "pass1" not in repr(out) and "$2b$" not in repr(out)


def test_redact_model_and_invalid_candidate() -> None:
    config, _ = validate_config(yaml.safe_load(default_config_path().read_text()))
    assert config is not None
    out = redact(config)
    assert out["api"]["users"][0]["password_hash"] == MASK
    assert out["radius"]["coa_secret"] is None  # unset secrets stay null
    # keys the schema does not know, but that look secret, are masked too
    weird = {
        "radius": {"servers": [{"host": "x", "secret": "s", "shared_secret": "leak"}]},
        "extra": {"password": "p", "items": [{"token": "t"}]},
    }
    out = redact(weird)
    assert out["radius"]["servers"][0]["shared_secret"] == MASK
    assert out["extra"]["password"] == MASK and out["extra"]["items"][0]["token"] == MASK


def test_redact_section() -> None:
    assert redact_section([{"host": "h", "secret": "s"}], ["radius", "servers"]) == [
        {"host": "h", "secret": MASK}
    ]
    assert redact_section({"servers": [{"secret": "s"}]}, ["radius"]) == {"servers": [{"secret": MASK}]}


def test_every_field_has_a_description() -> None:
    missing = [
        n["path"]
        for n in walk(schema_tree())
        if n["path"] and not n["path"].endswith("*") and not n.get("description")
    ]
    assert missing == []


def test_describe_path() -> None:
    top = describe_path([])
    assert [c["name"] for c in top["children"]][:3] == ["system", "interfaces", "demux"]
    mtu = describe_path(["pppoe", "mtu"])
    assert (mtu["kind"], mtu["default"], mtu["ge"], mtu["le"]) == ("int", 1492, 1280, 1500)
    proto = describe_path(["demux", "profiles", "0", "stag_protocol"])
    assert proto["kind"] == "enum" and proto["enum"] == ["802.1ad", "802.1q"]
    servers = describe_path(["radius", "servers"])
    assert servers["kind"] == "list"
    assert {c["name"] for c in servers["item"]["children"]} == {"host", "port", "acct_port", "secret"}
    assert describe_path(["radius", "servers", "0", "secret"])["secret"] is True
    assert describe_path(["radius", "servers", "0", "host"])["required"] is True
    profiles = describe_path(["qos", "overhead_profiles"])
    assert profiles["kind"] == "map" and "pppoe_qinq" in profiles["default"]
    assert describe_path(["qos", "overhead_profiles", "custom", "overhead"])["kind"] == "int"
    assert describe_path(["cgnat", "source_range"])["kind"] == "ipv4-network"
    assert describe_path(["pppoe", "auth"])["item"]["enum"] == ["pap", "chap"]
    assert describe_path(["interfaces", "cgnat_handoff"])["nullable"] is True


@pytest.mark.parametrize(
    ("tokens", "message"),
    [
        (["pppoe", "mtuu"], "did you mean 'mtu'"),
        (["nope"], "the top level"),
        (["radius", "servers", "first"], "expected an index"),
        (["pppoe", "mtu", "x"], "is a value"),
    ],
)
def test_describe_path_errors(tokens: list[str], message: str) -> None:
    with pytest.raises(PathError, match=message):
        describe_path(tokens)


def test_json_schema() -> None:
    schema = config_json_schema()
    assert set(schema["required"]) == {"system", "interfaces"}
    assert schema["additionalProperties"] is False
    server = schema["$defs"]["RadiusServer"]
    assert server["properties"]["secret"]["secret"] is True
    assert server["additionalProperties"] is False


def test_completions() -> None:
    from abng.config.introspect import completions

    data = yaml.safe_load(default_config_path().read_text())
    names = [c["name"] for c in completions([], data)]
    assert names[:3] == ["system", "interfaces", "demux"] and "aaa" in names
    assert [c["name"] for c in completions(["demux", "profiles"], data)] == ["0", "1", "2"]
    assert [c["name"] for c in completions(["radius", "servers"], data)] == ["0"]
    assert [c["name"] for c in completions(["pppoe", "auth"], data)] == ["0", "1", "2", "<value>"]
    pools = [c["name"] for c in completions(["aaa", "pools"], data)]
    assert pools == ["ppp", "ipoe", "<name>"]
    profiles = [c["name"] for c in completions(["qos", "overhead_profiles"], {})]
    assert profiles == ["pppoe_ethernet", "ipoe_ethernet", "pppoe_qinq", "<name>"]
    assert [c["name"] for c in completions(["pppoe", "enabled"])] == ["true", "false"]
    assert [c["name"] for c in completions(["system", "dataplane"])] == ["auto", "kernel", "userspace"]
    assert completions(["pppoe", "mtu"])[0]["name"] == "<int>"
    assert completions(["qos", "default_down"])[0]["name"].startswith("<rate")
    with pytest.raises(PathError):
        completions(["pppoe", "nope"])

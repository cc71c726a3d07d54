"""ConfigStore: set / delete / compare / commit / discard / rollback / history."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from abng.config.schema import Config
from abng.config.store import ConfigError, ConfigStore


@pytest.fixture
def store(tmp_path: Path) -> ConfigStore:
    return ConfigStore(tmp_path / "etc")


def test_running_created_from_packaged_default(store: ConfigStore) -> None:
    assert store.running_path.exists()
    assert isinstance(store.running, Config)
    assert store.running.system.hostname == "abng-lab"
    assert store.generation == 0
    assert store.compare() == ""
    assert [h["n"] for h in store.history()] == [0]


def test_set_commit_cycle(store: ConfigStore) -> None:
    store.set("system hostname", '"bng-1"')
    store.set(["routing", "bgp", "asn"], "64512")
    store.set("routing bgp enabled", "true")
    store.set("routing bgp neighbors 0 address", "10.255.0.254")
    store.set("routing bgp neighbors 0 remote_as", 64500)
    diff = store.compare()
    assert "-  hostname: abng-lab" in diff and "+  hostname: bng-1" in diff
    assert store.running.system.hostname == "abng-lab"  # candidate only
    result = store.commit(comment="bgp on", user="admin")
    assert result.committed and result.generation == 1
    assert set(result.changes) == {
        "system.hostname",
        "routing.bgp.enabled",
        "routing.bgp.asn",
        "routing.bgp.neighbors.0",
    }
    assert result.old.system.hostname == "abng-lab" and result.new.system.hostname == "bng-1"
    assert store.running.routing.bgp.asn == 64512
    assert store.compare() == ""
    assert store.history()[0] == {
        "n": 0,
        "generation": 1,
        "timestamp": store.history()[0]["timestamp"],
        "comment": "bgp on",
        "user": "admin",
    }


def test_invalid_commit_reports_all_issues_and_keeps_running(store: ConfigStore) -> None:
    before = store.running_path.read_bytes()
    store.set("routing bgp enabled", "true")
    store.set("radius servers 0 host", "10.0.0.1")
    with pytest.raises(ConfigError) as info:
        store.commit()
    paths = {i["path"] for i in info.value.issues}
    assert paths == {"radius.servers.0.secret"}
    store.set("radius servers 0 secret", "s3cret")
    with pytest.raises(ConfigError) as info:
        store.commit()
    assert {i["path"] for i in info.value.issues} == {"routing.bgp.asn", "routing.bgp.neighbors"}
    assert store.running_path.read_bytes() == before
    assert store.generation == 0


def test_set_rejects_bad_value_and_unknown_key(store: ConfigStore) -> None:
    with pytest.raises(ConfigError) as info:
        store.set("pppoe mtu", "9000")
    assert info.value.issues[0]["path"] == "pppoe.mtu"
    with pytest.raises(ConfigError) as info:
        store.set("pppoe mtuu", "1400")
    assert "did you mean 'mtu'" in info.value.issues[0]["message"]
    assert store.compare() == ""


def test_discard_and_rollback(store: ConfigStore) -> None:
    store.set("system hostname", "one")
    store.commit()
    store.set("system hostname", "two")
    store.commit()
    store.set("system hostname", "three")
    store.discard()
    assert store.candidate_dict()["system"]["hostname"] == "two"
    store.rollback(1)
    assert store.candidate_dict()["system"]["hostname"] == "one"
    store.rollback(2)
    assert store.candidate_dict()["system"]["hostname"] == "abng-lab"
    store.rollback(0)
    assert store.compare() == ""
    with pytest.raises(ConfigError):
        store.rollback(3)
    with pytest.raises(ConfigError):
        store.rollback(50)
    store.rollback(2)
    assert store.commit().generation == 3
    assert store.running.system.hostname == "abng-lab"


def test_running_file_is_yaml_with_header(store: ConfigStore) -> None:
    store.set("system hostname", "one")
    store.commit(comment="first", user="alice")
    text = store.running_path.read_text()
    assert text.startswith("# abng-generation: 1\n")
    assert yaml.safe_load(text)["system"]["hostname"] == "one"

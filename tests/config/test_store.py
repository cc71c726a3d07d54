"""ConfigStore: set / delete / compare / commit / discard / rollback / history."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from abng.config.schema import Config, ConfigLoadError
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


def test_hand_edited_running_file_keeps_the_archive(tmp_path: Path) -> None:
    store = ConfigStore(tmp_path)
    for name in ("one", "two"):
        store.set("system hostname", name)
        store.commit()
    data = yaml.safe_load(store.running_path.read_text())
    data["system"]["hostname"] = "by-hand"
    store.running_path.write_text(yaml.safe_dump(data))  # no header
    store = ConfigStore(tmp_path)
    assert store.running.system.hostname == "by-hand"
    assert store.generation == 3
    store.set("system hostname", "four")
    assert store.commit().generation == 4
    names = []
    for n in range(5):
        store.rollback(n)
        names.append(store.candidate_dict()["system"]["hostname"])
    assert names == ["four", "by-hand", "two", "one", "abng-lab"]


def test_invalid_running_file_refused_with_issues(tmp_path: Path) -> None:
    ConfigStore(tmp_path)
    (tmp_path / "running-config.yaml").write_text("system: {hostname: x}\n")
    with pytest.raises(ConfigLoadError) as info:
        ConfigStore(tmp_path)
    assert {i.path for i in info.value.issues} == {"interfaces"}


def test_removed_running_file_recreated_after_the_archive(tmp_path: Path) -> None:
    store = ConfigStore(tmp_path)
    store.set("system hostname", "one")
    store.commit()
    store.running_path.unlink()
    store = ConfigStore(tmp_path)
    assert store.generation == 2 and store.running.system.hostname == "abng-lab"
    store.rollback(1)
    assert store.candidate_dict()["system"]["hostname"] == "one"


def test_check_only_and_noop_commit(tmp_path: Path) -> None:
    store = ConfigStore(tmp_path)
    store.set("pppoe mtu", "1400")
    result = store.commit(check=True)
    assert not result.committed and result.changes == ["pppoe.mtu"] and result.generation == 0
    assert store.running.pppoe.mtu == 1492 and store.compare() != ""
    store.discard()
    result = store.commit()
    assert not result.committed and result.changes == [] and store.generation == 0


def test_show_sections(tmp_path: Path) -> None:
    store = ConfigStore(tmp_path)
    assert store.show("running", "system hostname") == "abng-lab"
    assert store.show("running", "api users 0 role") == "admin"
    assert store.show("running", "radius") is None
    store.set("radius nas_identifier", "bng")
    assert store.show("candidate", "radius") == {"nas_identifier": "bng"}
    assert store.effective_dict()["radius"]["nas_identifier"] == "AthenaBNG"
    with pytest.raises(ConfigError):
        store.show("startup")


def test_lock_timeout(tmp_path: Path) -> None:
    import fcntl
    import os

    store = ConfigStore(tmp_path, lock_timeout=0.2)
    fd = os.open(tmp_path / ".config.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        # flock belongs to an open file description: the store's own open blocks, then times out
        with pytest.raises(TimeoutError):
            store.set("system hostname", "x")
    finally:
        os.close(fd)
    store.set("system hostname", "x")


def test_commit_warnings(tmp_path: Path) -> None:
    store = ConfigStore(tmp_path)
    store.set("radius servers 0", '{"host": "10.0.0.1", "secret": "testing123"}')
    store.set("api users 0 password_hash", "$2b$12$...")
    store.set("pppoe enabled", "false")
    result = store.commit()
    assert result.committed
    assert {w["path"] for w in result.warnings} == {
        "radius.servers.0.secret",
        "api.users.0.password_hash",
        "demux.profiles.0.services",
        "demux.profiles.1.services",
    }
    store.set("radius servers 0 secret", "a-real-secret")
    assert "radius.servers.0.secret" not in {w["path"] for w in store.commit(check=True).warnings}


def test_candidate_file_forms(tmp_path: Path) -> None:
    store = ConfigStore(tmp_path)
    store.set("system hostname", "json-form")
    text = store.candidate_path.read_text()
    assert yaml.safe_load(text)["system"]["hostname"] == "json-form"  # JSON is YAML too
    data = yaml.safe_load(text)
    data["system"]["hostname"] = "yaml-form"
    store.candidate_path.write_text(yaml.safe_dump(data))  # edited by hand as YAML
    assert store.candidate_dict()["system"]["hostname"] == "yaml-form"
    store.candidate_path.write_text("system: [unclosed\n")  # garbage: candidate = running
    assert store.candidate_dict() == store.running_dict()
    assert store.compare() == ""


def test_two_store_objects_see_each_other(tmp_path: Path) -> None:
    a, b = ConfigStore(tmp_path), ConfigStore(tmp_path)
    for i in range(5):
        a.set("system hostname", f"a{i}")
        assert b.candidate_dict()["system"]["hostname"] == f"a{i}"
        b.commit()
        assert a.running.system.hostname == f"a{i}" and a.generation == b.generation == i + 1


def test_rollback_of_corrupt_archive_entry_is_a_config_error(tmp_path: Path) -> None:
    store = ConfigStore(tmp_path)
    store.set("system hostname", "one")
    store.commit()
    (oldest,) = [p for p in (tmp_path / "config-archive").iterdir() if p.name.endswith("-g0.yaml")]
    oldest.write_text("system: [broken\n")
    with pytest.raises(ConfigError, match="unreadable"):
        store.rollback(1)
    assert store.compare() == ""

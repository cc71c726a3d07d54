"""Seeded mutation fuzzing: validation and the store only ever answer with issues, never crash."""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import yaml

from abng.config.introspect import schema_tree
from abng.config.schema import load_config_file, validate_config
from abng.config.store import ConfigError, ConfigStore, default_config_path

VALUES: list[Any] = [
    0, 1, -1, 64512, 4294967296, 1492, 3.5, True, False, None, "", "x", "true", "eth1", "10.0.0.1",
    "100.64.0.0/10", "100mbit", "1-4094", "0x64", "802.1q", "pap", "é" * 70, [], [1, 2], ["pap"], {},
    {"overhead": 10}, {"host": "10.0.0.2", "secret": "s"}, "[1,", '"quoted value"', "99999999999999999999",
]  # fmt: skip


def leaf_paths() -> list[list[str]]:
    out: list[list[str]] = []

    def walk(node: dict[str, Any], path: list[str]) -> None:
        if path:
            out.append(path)
        for child in node.get("children", []):
            walk(child, [*path, child["name"]])
        if "item" in node:
            walk(node["item"], [*path, "0" if node["kind"] == "list" else "fz"])

    walk(schema_tree(), [])
    return out


def mutate(rng: random.Random, data: Any, depth: int = 0) -> Any:
    if isinstance(data, dict) and data and depth < 6:
        key = rng.choice(list(data))
        roll = rng.random()
        if roll < 0.15:
            del data[key]
        elif roll < 0.25:
            data[rng.choice(["typo", f"{key}x", 7])] = rng.choice(VALUES)
        elif roll < 0.5:
            data[key] = copy.deepcopy(rng.choice(VALUES))
        else:
            data[key] = mutate(rng, data[key], depth + 1)
        return data
    if isinstance(data, list) and data and depth < 6:
        i = rng.randrange(len(data))
        if rng.random() < 0.3:
            data.append(copy.deepcopy(data[i]))
        else:
            data[i] = mutate(rng, data[i], depth + 1)
        return data
    return copy.deepcopy(rng.choice(VALUES))


def test_validate_mutated_configs_never_raises() -> None:
    rng = random.Random(1234)
    base = yaml.safe_load(default_config_path().read_text())
    outcomes = {"valid": 0, "invalid": 0}
    for _ in range(1500):
        data = copy.deepcopy(base)
        for _ in range(rng.randint(1, 4)):
            data = mutate(rng, data)
        config, issues = validate_config(data)
        if config is None:
            assert issues and all(isinstance(i.path, str) and i.message for i in issues)
            outcomes["invalid"] += 1
        else:
            assert issues == []
            outcomes["valid"] += 1
    assert outcomes["valid"] > 0 and outcomes["invalid"] > 0


def test_store_random_edits_keep_running_valid(tmp_path: Path) -> None:
    rng = random.Random(99)
    paths = leaf_paths()
    store = ConfigStore(tmp_path)
    committed = 0
    for step in range(300):
        path = rng.choice(paths)
        try:
            if rng.random() < 0.2:
                store.delete(path)
            else:
                store.set(path, copy.deepcopy(rng.choice(VALUES)))
        except ConfigError as exc:
            assert exc.issues and all(i["path"] and i["message"] for i in exc.issues)
        if step % 10 == 9:
            try:
                committed += store.commit(comment=f"fuzz {step}").committed
            except ConfigError as exc:
                assert exc.issues
                store.discard()
            load_config_file(store.running_path)
    assert committed > 0
    assert ConfigStore(tmp_path).generation == committed

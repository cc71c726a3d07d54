"""Archive retention (D18), commits from several processes, crash safety (SIGKILL mid-commit)."""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from abng.config.schema import load_config_file
from abng.config.store import ARCHIVE_KEEP, ConfigError, ConfigStore

ROOT = Path(__file__).resolve().parents[2]

CHILD_COMMITTER = """
import json, sys
from abng.config.store import ConfigStore
store = ConfigStore(sys.argv[1])
me, count = sys.argv[2], int(sys.argv[3])
results = []
for i in range(count):
    store.set("radius coa_clients", f"10.{me}.0.{i + 1}")
    r = store.commit(comment=f"{me}-{i}", user=me)
    results.append([r.generation, r.committed])
print(json.dumps(results))
"""

CHILD_LOOPER = """
import sys
from abng.config.store import ConfigStore
store = ConfigStore(sys.argv[1])
i = 0
while True:
    i += 1
    store.set("system hostname", f"r{sys.argv[2]}-h{i}")
    store.set("radius coa_clients", f"10.0.{i % 250}.{i % 200 + 1}")
    store.commit(comment=f"loop {i}")
    if i == 1:
        print("ready", flush=True)
"""


def child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def test_archive_keeps_last_50_and_rollback_49(tmp_path: Path) -> None:
    store = ConfigStore(tmp_path)
    for i in range(1, 56):
        store.set("system hostname", f"h{i}")
        store.commit(comment=f"c{i}", user="tester")
    files = sorted((tmp_path / "config-archive").iterdir())
    assert len(files) == ARCHIVE_KEEP
    history = store.history()
    assert len(history) == ARCHIVE_KEEP
    assert [h["n"] for h in history] == list(range(ARCHIVE_KEEP))
    assert [h["generation"] for h in history] == list(range(55, 5, -1))
    assert history[0]["comment"] == "c55" and history[49]["comment"] == "c6"
    store.rollback(49)
    assert store.candidate_dict()["system"]["hostname"] == "h6"
    store.rollback(1)
    assert store.candidate_dict()["system"]["hostname"] == "h54"
    with pytest.raises(ConfigError):
        store.rollback(50)


def test_commits_from_several_processes_are_serialized(tmp_path: Path) -> None:
    ConfigStore(tmp_path)  # create running once
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD_COMMITTER, str(tmp_path), str(n), "8"],
            stdout=subprocess.PIPE,
            env=child_env(),
            text=True,
        )
        for n in range(1, 5)
    ]
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0
        results.extend(json.loads(out))
    committed = [gen for gen, ok in results if ok]
    assert len(committed) == len(set(committed))  # no two commits got the same generation
    store = ConfigStore(tmp_path)
    assert store.generation == len(committed) == max(committed)
    # no lost update: every client's append reached the running config
    clients = {str(ip) for ip in store.running.radius.coa_clients}
    assert clients == {f"10.{n}.0.{i}" for n in range(1, 5) for i in range(1, 9)}
    assert [h["generation"] for h in store.history()] == list(range(store.generation, -1, -1))


def test_sigkill_during_commits_leaves_a_valid_running_config(tmp_path: Path) -> None:
    rng = random.Random(20261204)
    ConfigStore(tmp_path)
    last_generation = 0
    for round_ in range(8):
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD_LOOPER, str(tmp_path), str(round_)],
            stdout=subprocess.PIPE,
            env=child_env(),
            text=True,
        )
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready"
            time.sleep(rng.uniform(0.0, 0.25))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        config = load_config_file(tmp_path / "running-config.yaml")  # parses and validates
        assert config.system.hostname.startswith(f"r{round_}-h")
        store = ConfigStore(tmp_path)  # cleans temporary files, re-reads everything
        assert store.generation > last_generation
        last_generation = store.generation
        history = store.history()
        assert history[0]["generation"] == store.generation
        assert all(a["generation"] > b["generation"] for a, b in itertools.pairwise(history))
        assert not [p for p in tmp_path.rglob(".*.tmp.*")]
        store.discard()
    # after all that the store still commits normally
    store = ConfigStore(tmp_path)
    store.set("system hostname", "final")
    assert store.commit().generation == last_generation + 1

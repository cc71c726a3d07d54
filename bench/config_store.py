"""Configuration store timings: validation, set, commit, with a small and a large config.

Run: .venv/bin/python bench/config_store.py [subscribers]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from abng.config.schema import validate_config
from abng.config.store import ConfigStore, default_config_path


def big_config(n: int) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(default_config_path().read_text())
    data["aaa"]["pools"]["big"] = {"network": "10.0.0.0/8"}
    data["aaa"]["subscribers"] = [
        {"username": f"user{i}@isp", "password": f"pw{i}", "pool": "big", "rate_down": "50mbit"}
        for i in range(n)
    ]
    return data


def timeit(label: str, fn: Any, repeat: int) -> None:
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    dt = (time.perf_counter() - t0) / repeat
    print(f"{label:55s} {dt * 1000:9.2f} ms")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    small = yaml.safe_load(default_config_path().read_text())
    timeit("validate default config", lambda: validate_config(small), 200)
    big = big_config(n)
    timeit(f"validate config with {n} local subscribers", lambda: validate_config(big), 5)
    with tempfile.TemporaryDirectory() as d:
        store = ConfigStore(Path(d))
        counter = iter(range(10**9))
        timeit("set (default config)", lambda: store.set("system hostname", f"h{next(counter)}"), 50)

        def set_commit() -> None:
            store.set("system hostname", f"h{next(counter)}")
            store.commit()

        timeit("set + commit (default config, 5 fsyncs)", set_commit, 30)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "big.yaml"
        path.write_text(yaml.safe_dump(big))
        t0 = time.perf_counter()
        store = ConfigStore(Path(d) / "etc", default=path)
        label = f"open store from {n}-subscriber default"
        print(f"{label:55s} {(time.perf_counter() - t0) * 1000:9.2f} ms")
        timeit(f"set ({n} subscribers)", lambda: store.set("system hostname", f"h{next(counter)}"), 5)
        timeit(f"set + commit ({n} subscribers)", set_commit, 5)


if __name__ == "__main__":
    main()

"""A parser Context for tests without abngd: the real configuration schema, fixed dynamic words."""

from __future__ import annotations

from typing import Any

from abng.config.introspect import schema_tree


class StaticContext:
    def __init__(self, data: Any = None) -> None:
        self.data = data if data is not None else {"aaa": {"pools": {"ppp": {}, "ipoe": {}}}}

    def schema(self) -> dict[str, Any]:
        return schema_tree()

    def config_data(self) -> Any:
        return self.data

    def session_ids(self) -> list[tuple[str, str]]:
        return [("1", "user1 10.0.1.1"), ("12", "alice 10.0.1.12")]

    def interfaces(self) -> list[tuple[str, str]]:
        return [("trunk0.101.2", "session 1"), ("trunk0.112.5", "session 12")]

    def rollbacks(self) -> list[tuple[str, str]]:
        return [("0", "running"), ("1", "previous")]

"""The API users of the running configuration (``auth.users`` RPC), kept current.

The directory is replaced as a whole whenever abngd reports a ``config_commit`` (and after
every reconnect), so a removed user or a lowered role stops working at once (D14).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

from abng.api.auth.passwords import hash_cost, hash_password

log = logging.getLogger("abng.api.auth")

ROLE_RANK = {"operator": 1, "admin": 2}


@dataclass(frozen=True, slots=True)
class User:
    username: str
    role: str
    password_hash: str


def parse_users(result: Any) -> tuple[int, dict[str, User]]:
    """Turn an ``auth.users`` result into (generation, users); bad entries are skipped."""
    if not isinstance(result, dict):
        raise ValueError("auth.users: expected an object")
    generation = result.get("generation", 0)
    users: dict[str, User] = {}
    for item in result.get("users") or []:
        if not isinstance(item, dict):
            continue
        name, role, pw = item.get("username"), item.get("role"), item.get("password_hash")
        if not isinstance(name, str) or not name or role not in ROLE_RANK or not isinstance(pw, str):
            log.warning("api.users: skipping an entry without username, role or password_hash")
            continue
        users[name] = User(name, str(role), pw)
    return (generation if isinstance(generation, int) else 0), users


class UserDirectory:
    def __init__(self) -> None:
        self.generation = -1
        self._users: dict[str, User] = {}
        self.dummy_cost = 0
        self.dummy_hash = ""

    def get(self, username: str) -> User | None:
        return self._users.get(username)

    def __len__(self) -> int:
        return len(self._users)

    def replace(self, generation: int, users: dict[str, User]) -> None:
        self.generation = generation
        self._users = users

    def wanted_dummy_cost(self) -> int:
        """The cost most users' hashes have, so an unknown user costs the same time."""
        costs = Counter(c for u in self._users.values() if (c := hash_cost(u.password_hash)) is not None)
        return costs.most_common(1)[0][0] if costs else 12

    def ensure_dummy(self) -> None:
        """Blocking (bcrypt): make the dummy hash match the users' cost."""
        cost = self.wanted_dummy_cost()
        if cost != self.dummy_cost:
            self.dummy_hash = hash_password("abng-api dummy password", cost)
            self.dummy_cost = cost

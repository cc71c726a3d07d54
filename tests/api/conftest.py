from __future__ import annotations

from collections.abc import Iterator

import pytest

from abng.core.model import SessionType
from tests.api.stack import ApiHandle, running_stack
from tests.helpers.daemon import sample_session


def seeded_sessions() -> list:  # type: ignore[type-arg]
    out = [sample_session(i, SessionType.PPPOE) for i in range(1, 6)]
    out += [sample_session(i, SessionType.DHCP) for i in range(6, 9)]
    return out


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiHandle]:
    """abngd (8 seeded sessions: 5 PPPoE, 3 DHCP) + abng-api, shared by a test module."""
    with running_stack(tmp_path_factory.mktemp("stack"), sessions=seeded_sessions()) as api:
        yield api


@pytest.fixture(scope="module")
def admin_token(stack: ApiHandle) -> str:
    return stack.login("admin")


@pytest.fixture(scope="module")
def operator_token(stack: ApiHandle) -> str:
    return stack.login("operator")

"""One live abngd for the CLI tests (seeded sessions), stopped by PID at the end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from abng.core.model import SessionType
from tests.helpers.daemon import AbngdHandle, running_abngd, sample_session


@pytest.fixture(scope="package")
def abngd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AbngdHandle]:
    sessions = [
        sample_session(1),
        sample_session(2, SessionType.DHCP),
        sample_session(3, username="alice@isp.example"),
        *(sample_session(i) for i in range(4, 12)),
    ]
    with running_abngd(tmp_path_factory.mktemp("cli"), sessions=sessions) as d:
        yield d


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A HOME of its own (the history file lands there)."""
    return tmp_path

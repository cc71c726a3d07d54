from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from abng.core.daemon import Daemon, Paths


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[Daemon]:
    """A real Daemon (config store, session store, socket) running in the test's event loop."""
    d = Daemon(Paths(tmp_path / "etc", tmp_path / "run", tmp_path / "var"))
    await d.start()
    try:
        yield d
    finally:
        await d.stop()

"""abng/core/sched.py: background threads in SCHED_BATCH, the caller's own thread untouched."""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from abng.core import sched


@pytest.mark.skipif(sys.platform != "linux", reason="SCHED_BATCH is Linux")
def test_background_executor_threads_are_batch_and_the_caller_is_not() -> None:
    before = os.sched_getscheduler(0)
    with ThreadPoolExecutor(1, initializer=sched.background_thread) as pool:
        assert pool.submit(sched.is_batch).result() is True
        assert pool.submit(os.sched_getscheduler, 0).result() == os.SCHED_BATCH
    assert os.sched_getscheduler(0) == before  # only the worker thread changed
    assert sched.is_batch() is (before == os.SCHED_BATCH)


def test_utc_timestamp_is_cached_per_second_but_exact() -> None:
    from abng.core.events import utc_timestamp

    assert utc_timestamp(0.0) == "1970-01-01T00:00:00Z"
    assert utc_timestamp(0.9) == "1970-01-01T00:00:00Z"
    assert utc_timestamp(1.0) == "1970-01-01T00:00:01Z"
    assert utc_timestamp(1_764_806_400.5) == "2025-12-04T00:00:00Z"
    assert utc_timestamp(0.5) == "1970-01-01T00:00:00Z"  # going back in time is fine too

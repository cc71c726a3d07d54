"""Scheduling classes: abngd's event loop first, bulk work in the background.

The event loop answers subscribers (PPP, DHCP, RADIUS round trips) and every exchange is a few
short steps, so it suffers most from being switched out.  Threads and processes that do bulk
work for it (the session store's SQLite writer, netlink batches for routes and shaping, the
dataplane policy worker) run as ``SCHED_BATCH``: the same CPU share as any other task, but the
kernel never lets them preempt a running task when they wake up (sched(7)), so handing them work
does not switch the loop out.  Best effort: where the call is refused, nothing changes.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger("abng.core.sched")


def background_thread() -> bool:
    """Put the calling thread in ``SCHED_BATCH`` (Linux: pid 0 is the calling thread).
    Usable as a ``ThreadPoolExecutor`` initializer.  True if it took effect."""
    try:
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    except (OSError, AttributeError) as exc:  # not Linux, or refused by a policy
        log.debug("SCHED_BATCH not available: %s", exc)
        return False
    return True


def is_batch() -> bool:
    """Whether the calling thread runs as ``SCHED_BATCH``."""
    try:
        return os.sched_getscheduler(0) == os.SCHED_BATCH
    except (OSError, AttributeError):
        return False

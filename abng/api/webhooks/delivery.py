"""Webhook delivery: queued, concurrent, retried with backoff, never blocking anything else.

Events go into a bounded queue (full: dropped and counted); one task fans each event out to the
matching webhooks; each delivery is its own task (bounded by a semaphore) that POSTs the JSON
body, signed when the webhook has a secret, and retries non-2xx answers and network errors with
exponential backoff.  Redirects are not followed (D16).  Only the process holding the delivery
lock (:func:`acquire_delivery_lock`) runs a dispatcher, so several workers deliver once.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from abng.api.settings import WebhookPolicy
from abng.api.webhooks import signing
from abng.api.webhooks.events import payload
from abng.api.webhooks.store import Webhook, WebhookStore
from abng.core.tasks import TaskSet

log = logging.getLogger("abng.api.webhooks")


def acquire_delivery_lock(path: Path) -> int | None:
    """Non-blocking exclusive lock; return the fd to keep, or None if another process has it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


class Dispatcher:
    def __init__(self, store: WebhookStore, policy: WebhookPolicy, queue_size: int = 10_000) -> None:
        self._store = store
        self._policy = policy
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(queue_size)
        self._tasks = TaskSet("abng-api-webhooks")
        self._sem = asyncio.Semaphore(policy.concurrency)
        self._http: httpx.AsyncClient | None = None
        self.stats = {"delivered": 0, "failed": 0, "attempts": 0, "dropped": 0}

    async def start(self) -> None:
        self._http = httpx.AsyncClient(follow_redirects=False, timeout=self._policy.timeout, trust_env=False)
        self._tasks.spawn("fanout", self._fanout())

    def submit(self, event: dict[str, Any]) -> None:
        """Called for every abngd event; returns at once."""
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.stats["dropped"] += 1

    async def _fanout(self) -> None:
        while True:
            event = await self._queue.get()
            body = payload(event)
            if body is None:
                continue
            hooks = await asyncio.to_thread(self._store.all)
            for hook in hooks:
                if body["event"] in hook.events:
                    self._tasks.spawn(f"deliver:{hook.id}", self.deliver(hook, body))

    async def deliver(self, hook: Webhook, body: dict[str, Any]) -> bool:
        data = json.dumps(body, separators=(",", ":")).encode()
        msg_id = f"msg_{uuid.uuid4().hex}"
        key = signing.secret_key(hook.secret) if hook.secret is not None else None
        pol = self._policy
        for attempt in range(1, pol.max_attempts + 1):
            async with self._sem:
                ok = await self._attempt(hook, msg_id, key, data)
            if ok:
                self.stats["delivered"] += 1
                return True
            if attempt < pol.max_attempts:
                await asyncio.sleep(min(pol.backoff_max, pol.backoff_base * 2 ** (attempt - 1)))
        self.stats["failed"] += 1
        log.warning("webhook %s: giving up on %s after %d attempts", hook.id, body["event"], pol.max_attempts)
        return False

    async def _attempt(self, hook: Webhook, msg_id: str, key: bytes | None, data: bytes) -> bool:
        assert self._http is not None
        self.stats["attempts"] += 1
        headers = signing.headers(key, msg_id, int(time.time()), data)
        try:
            resp = await self._http.post(hook.url, content=data, headers=headers)
        except httpx.HTTPError as exc:
            log.info("webhook %s: %s", hook.id, type(exc).__name__)
            return False
        if 200 <= resp.status_code < 300:
            return True
        log.info("webhook %s: HTTP %d", hook.id, resp.status_code)
        return False

    async def close(self) -> None:
        await self._tasks.close(grace=1.0)
        if self._http is not None:
            with contextlib.suppress(Exception):
                await self._http.aclose()

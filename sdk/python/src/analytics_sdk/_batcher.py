"""The background batcher: events and metric values are queued in memory and sent in batches by
one task, in order, one request at a time.

- A batch leaves when `flush_at` items or `flush_bytes` of JSON are queued, at the latest every
  `flush_interval` seconds, and on `flush()` and close.
- Network errors, 429 (its Retry-After as the least wait) and 5xx are retried with exponential
  backoff and full jitter, up to `max_retries` times. Events carry a client-made messageId and
  metric batches a batch_id, so a batch sent twice (its answer lost) is stored once.
- Other refusals are not retried: the server stores the valid items of a batch and lists the others,
  which are counted as failed and logged.
- The queue holds at most `max_queue` items. When it is full, `on_full` decides: "block" (default:
  the caller waits for room, nothing is lost), "drop_newest" (the new item is dropped and counted),
  or "raise" (QueueFullError).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from analytics_sdk import errors
from analytics_sdk._transport import Transport

logger = logging.getLogger("analytics_sdk")
ON_FULL = ("block", "drop_newest", "raise")


@dataclass
class Stats:
    """Counts since the client started: items enqueued, sent (accepted by the server), failed
    (refused, or out of retries), dropped (queue full), and requests retried and batches sent."""

    enqueued: int = 0
    sent: int = 0
    failed: int = 0
    dropped: int = 0
    retries: int = 0
    batches: int = 0


@dataclass
class _Channel:
    """Items queued for one endpoint, each JSON-encoded once, when queued."""

    path: str
    body: Callable[[bytes], bytes]  # the request body around the items' JSON array
    items: deque[bytes] = field(default_factory=deque)
    size: int = 0


class Batcher:
    def __init__(self, transport: Transport, key: str, *, flush_at: int, flush_bytes: int, flush_interval: float,
                 max_queue: int, on_full: str, gzip: bool,
                 on_error: Callable[[Exception, list[dict[str, Any]]], None] | None) -> None:
        if on_full not in ON_FULL:
            raise ValueError(f"on_full must be one of {ON_FULL}")
        self.transport, self.key, self.gzip, self.on_error = transport, key, gzip, on_error
        self.flush_at, self.flush_bytes, self.flush_interval = max(flush_at, 1), flush_bytes, flush_interval
        self.max_queue, self.on_full = max_queue, on_full
        self.stats = Stats()
        self.channels = {
            "events": _Channel("/api/v1/events/batch", lambda items: b'{"sent_at":"%s","events":%s}' % (
                datetime.now(timezone.utc).isoformat().encode(), items)),
            "metrics": _Channel("/api/v1/metrics/values/batch", lambda items: b'{"batch_id":"%s","values":%s}' % (
                uuid.uuid4().hex.encode(), items)),
        }
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._room = asyncio.Condition()
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    def queued(self) -> int:
        return sum(len(channel.items) for channel in self.channels.values())

    async def put(self, channel_name: str, item: dict[str, Any]) -> bool:
        """Queues `item`; False if it was dropped (queue full, policy drop_newest)."""
        if self._closing:
            raise RuntimeError("the client is closed")
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="analytics-sdk-batcher")
        if self.queued() >= self.max_queue:
            if self.on_full == "drop_newest":
                self.stats.dropped += 1
                return False
            if self.on_full == "raise":
                raise errors.QueueFullError(f"The queue holds {self.max_queue} items.", code="queue_full")
            self._wake.set()
            async with self._room:
                await self._room.wait_for(lambda: self.queued() < self.max_queue)
        channel = self.channels[channel_name]
        encoded = json.dumps(item, separators=(",", ":"), default=str).encode()
        channel.items.append(encoded)
        channel.size += len(encoded)
        self.stats.enqueued += 1
        self._idle.clear()
        if len(channel.items) >= self.flush_at or channel.size >= self.flush_bytes:
            self._wake.set()
        return True

    async def flush(self) -> None:
        """Returns once the queue is empty and no batch is in flight (sent, or failed for good)."""
        if self._task is None:
            return
        self._wake.set()
        await self._idle.wait()

    async def aclose(self) -> None:
        """Sends everything queued (retrying as usual), then stops the task."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.flush_interval)
            except TimeoutError:
                pass
            self._wake.clear()
            while self.queued():
                for channel in self.channels.values():
                    if channel.items:
                        await self._send(channel)
            self._idle.set()
            if self._closing:
                return

    async def _send(self, channel: _Channel) -> None:
        items: list[bytes] = []
        size = 0
        while channel.items and len(items) < self.flush_at and (not items or size + len(channel.items[0]) <= self.flush_bytes):
            items.append(channel.items.popleft())
            size += len(items[-1])
        channel.size -= size
        async with self._room:
            self._room.notify_all()

        def retried() -> None:
            self.stats.retries += 1

        try:
            answer = await self.transport.request("POST", channel.path, key=self.key,
                                                  content=channel.body(b"[" + b",".join(items) + b"]"),
                                                  retry=True, gzip=self.gzip, on_retry=retried)
        except errors.AnalyticsError as error:
            self._failed(error, items, answer=(error.details if isinstance(error, errors.ValidationError) else None))
            return
        except Exception as error:  # noqa: BLE001 - the task must outlive any bug; the items are reported
            logger.exception("analytics_sdk: a batch could not be sent")
            self._failed(error, items, answer=None)
            return
        self.stats.batches += 1
        self.stats.sent += int(answer.get("accepted", len(items))) if isinstance(answer, dict) else len(items)
        rejected = answer.get("rejected", []) if isinstance(answer, dict) else []
        if rejected:
            self.stats.failed += len(rejected)
            logger.warning("analytics_sdk: %d of %d items refused: %s", len(rejected), len(items), rejected[:5])

    def _failed(self, error: Exception, items: list[bytes], answer: Any) -> None:
        """A refused or undeliverable batch: a 400 listing `rejected` stored the others."""
        accepted = int(answer.get("accepted", 0)) if isinstance(answer, dict) else 0
        self.stats.batches += 1
        self.stats.sent += accepted
        self.stats.failed += len(items) - accepted
        logger.error("analytics_sdk: %d items not delivered: %s", len(items) - accepted, error)
        if self.on_error is not None:
            try:
                self.on_error(error, [json.loads(item) for item in items])
            except Exception:  # noqa: BLE001 - a failing callback must not stop delivery
                logger.exception("analytics_sdk: on_error raised")

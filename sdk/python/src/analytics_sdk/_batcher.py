"""The background sender: events and metric values wait in a bounded in-memory queue and one task
per client sends them in batches, one request at a time, oldest first.

- A batch of a channel (events, metric values: different endpoints) leaves when `flush_at` items or
  `flush_bytes` of JSON are queued; everything queued leaves every `flush_interval` seconds, on
  `flush()`, on close, and when a caller is blocked on a full queue.
- Network errors, timeouts, 429 and 5xx are retried with exponential backoff and full jitter, up
  to `max_retries` times. Events carry a client-made message_id and each metric batch a batch_id,
  so a batch that reached the server but whose answer was lost is stored once.
- Other refusals are final. The server stores a batch's valid items and lists the others; those,
  and batches out of retries, are logged at ERROR (logger "analytics_sdk") with the server's
  reasons, counted as `failed`, passed to `on_error` as an `errors.DeliveryError`, and returned by
  the next `flush()`. Nothing here ever raises into the caller's code.
- A `recover` hook may claim refused items and have them sent once more (the metrics resource
  creates a metric its convenience calls imply, then re-sends the values it refused).
- `max_queue` bounds the items waiting (the batch being sent is outside it). When it is full,
  `on_full` decides: "block" (the caller waits for room; lossless), "drop_newest" (the new item is
  dropped and counted), "raise" (QueueFullError).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import json
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from analytics_sdk import errors
from analytics_sdk._transport import Transport, dumps

logger = logging.getLogger("analytics_sdk")
OnFull = Literal["block", "drop_newest", "raise"]
# on_error(refusal) or, as before, on_error(refusal, items): the arity decides.
OnError = Callable[..., None]
# recover(channel, items, rejected) -> indexes of items to send once more.
Recover = Callable[[str, list[bytes], list[dict[str, Any]]], Awaitable[set[int]]]
MAX_KEPT_REFUSALS = 1000
ON_FULL: tuple[OnFull, ...] = ("block", "drop_newest", "raise")


@dataclass
class Stats:
    """Counters since the client was made, in items unless said otherwise: `enqueued`; `sent`
    (accepted by the server, re-sent duplicates included); `failed` (refused, or out of retries);
    `dropped` (queue full, "drop_newest"); `retries` (requests repeated); `batches` (requests the
    server accepted)."""

    enqueued: int = 0
    sent: int = 0
    failed: int = 0
    dropped: int = 0
    retries: int = 0
    batches: int = 0


@dataclass
class FlushResult:
    """What `flush()` reports: the refusals (`errors.DeliveryError`, one per refused batch or part
    of one) since the previous flush, oldest first. At most the last 1,000 are kept between flushes;
    all of them went to the log and to `on_error`."""

    refusals: list[errors.DeliveryError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.refusals

    @property
    def failed(self) -> int:
        """Items refused."""
        return sum(len(refusal.items) for refusal in self.refusals)


def _events_body(items: bytes) -> Callable[[], bytes]:
    """A native event batch (`POST /api/v1/events/batch`). The batch's `sent_at` is stamped at each
    attempt: the server shifts timestamps by (received_at - sent_at) to correct clock skew, so a
    stale sent_at on a retry would move every event of the batch by the time spent retrying."""
    return lambda: b'{"events":%s,"sent_at":"%s"}' % (items, datetime.now(UTC).isoformat().encode())


def _metrics_body(items: bytes) -> Callable[[], bytes]:
    """A metric batch with one batch_id for all its attempts: the server stores a batch_id once."""
    body = b'{"batch_id":"%s","values":%s}' % (uuid.uuid4().hex.encode(), items)
    return lambda: body


@dataclass
class _Channel:
    """The queue of one endpoint. Items are JSON-encoded when queued, so later changes to the
    caller's dicts do not leak in, and sizes are exact. Counters only grow: `flush()` waits for
    `done` to reach the `pushed` it saw."""

    name: str
    path: str
    body: Callable[[bytes], Callable[[], bytes]]
    items: deque[tuple[int, bytes]] = field(default_factory=deque)  # (order across channels, JSON)
    size: int = 0  # bytes queued
    pushed: int = 0  # items ever queued
    done: int = 0  # items sent or failed for good
    drain_to: int = 0  # items up to this count leave even in a partial batch

    @property
    def taken(self) -> int:
        return self.pushed - len(self.items)


class Batcher:
    def __init__(self, transport: Transport, key: str, *, flush_at: int, flush_bytes: int,
                 flush_interval: float, max_queue: int, on_full: OnFull, gzip: bool,
                 on_error: OnError | None) -> None:
        if on_full not in ON_FULL:
            raise ValueError(f"on_full must be one of {ON_FULL}, not {on_full!r}")
        if min(flush_at, flush_bytes, max_queue) < 1 or flush_interval <= 0:
            raise ValueError("flush_at, flush_bytes, max_queue and flush_interval must be positive")
        self.transport, self.key, self.gzip, self.on_error = transport, key, gzip, on_error
        self._on_error_items = on_error is not None and _takes_two(on_error)
        self.recover: Recover | None = None
        self._refusals: deque[errors.DeliveryError] = deque(maxlen=MAX_KEPT_REFUSALS)
        self.flush_at, self.flush_bytes, self.flush_interval = flush_at, flush_bytes, flush_interval
        self.max_queue, self.on_full = max_queue, on_full
        self.stats = Stats()
        self.channels = {"events": _Channel("events", "/api/v1/events/batch", _events_body),
                         "metrics": _Channel("metrics", "/api/v1/metrics/values/batch", _metrics_body)}
        self._order = itertools.count()
        self._changed = asyncio.Condition()  # items taken or finished: room, flush progress
        self._wake = asyncio.Event()  # something for the sender to look at
        self._blocked = 0  # callers waiting for room ("block")
        self._closing = False
        self._stopped = False
        self._warned_full = False
        self._task: asyncio.Task[None] | None = None

    @property
    def queued(self) -> int:
        return sum(len(channel.items) for channel in self.channels.values())

    async def put(self, channel_name: str, item: dict[str, Any]) -> None:
        """Queues `item` for its endpoint, or drops it when the queue is full under "drop_newest"."""
        if self._closing:
            raise RuntimeError("The analytics client is closed.")
        encoded = dumps(item)  # a value JSON cannot hold fails here, in the caller, not in a batch
        if self.queued >= self.max_queue:
            if self.on_full == "raise":
                raise errors.QueueFullError(f"The queue holds {self.max_queue} items.", code="queue_full")
            if self.on_full == "drop_newest":
                self.stats.dropped += 1
                if not self._warned_full:
                    logger.warning("analytics_sdk: the queue is full (%d items); new items are dropped",
                                   self.max_queue)
                    self._warned_full = True
                return
            await self._wait_for_room()
        self._warned_full = False
        channel = self.channels[channel_name]
        channel.items.append((next(self._order), encoded))
        channel.size += len(encoded)
        channel.pushed += 1
        self.stats.enqueued += 1
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="analytics-sdk-sender")
        if self._ready(channel):
            self._wake.set()

    async def _wait_for_room(self) -> None:
        """The "block" policy. What is queued leaves now, full batch or not, to make room soonest."""
        self._drain()
        self._blocked += 1
        try:
            async with self._changed:
                await self._changed.wait_for(lambda: self.queued < self.max_queue)
        finally:
            self._blocked -= 1

    async def wait(self, names: tuple[str, ...] | None = None) -> None:
        """Returns once every item queued before the call (in the channels `names`, or all) is sent
        or has failed for good."""
        targets = [(channel, channel.pushed) for name, channel in self.channels.items()
                   if names is None or name in names]
        if all(channel.done >= pushed for channel, pushed in targets) or self._task is None:
            return
        self._drain()
        async with self._changed:
            await self._changed.wait_for(
                lambda: self._stopped or all(channel.done >= pushed for channel, pushed in targets))

    async def flush(self) -> FlushResult:
        """`wait()` for everything, then the refusals since the previous flush."""
        await self.wait()
        result = FlushResult(list(self._refusals))
        self._refusals.clear()
        return result

    async def aclose(self) -> None:
        """Sends everything queued, retrying as usual, then ends the sending task."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task

    def _drain(self) -> None:
        for channel in self.channels.values():
            channel.drain_to = channel.pushed
        self._wake.set()

    def _ready(self, channel: _Channel) -> bool:
        return bool(channel.items) and (
            len(channel.items) >= self.flush_at or channel.size >= self.flush_bytes or self._closing
            or channel.taken < channel.drain_to)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        tick = loop.time() + self.flush_interval
        try:
            while True:
                self._wake.clear()
                ready = [channel for channel in self.channels.values() if self._ready(channel)]
                if ready:  # the channel holding the oldest item first: neither stream starves the other
                    await self._send(min(ready, key=lambda channel: channel.items[0][0]))
                    continue
                if self._closing and not self._blocked:
                    return
                if loop.time() >= tick:
                    tick = loop.time() + self.flush_interval
                    self._drain()
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), tick - loop.time())
        finally:
            self._stopped = True
            await self._notify()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _send(self, channel: _Channel) -> None:
        items: list[bytes] = []
        size = 0
        while channel.items and len(items) < self.flush_at:
            encoded = channel.items[0][1]
            if items and size + len(encoded) > self.flush_bytes:
                break
            items.append(channel.items.popleft()[1])
            size += len(encoded)
        channel.size -= size
        await self._notify()  # room for blocked callers
        try:
            await self._deliver(channel, items)
        except Exception as error:  # noqa: BLE001 - a bug here must not stop the batches after this one
            logger.exception("analytics_sdk: a batch could not be sent")
            self._failed(channel, error, items)
        channel.done += len(items)
        await self._notify()

    async def _deliver(self, channel: _Channel, items: list[bytes], *, recover: bool = True) -> None:
        def retried() -> None:
            self.stats.retries += 1

        try:
            body = channel.body(b"[" + b",".join(items) + b"]")
            answer = await self.transport.send_batch(channel.path, key=self.key, build=body, gzip=self.gzip,
                                                     on_retry=retried)
        except errors.ValidationError as error:
            if error.status == 413 and len(items) > 1:  # over the server's body or count limit: halve it
                half = len(items) // 2
                await self._deliver(channel, items[:half], recover=recover)
                await self._deliver(channel, items[half:], recover=recover)
                return
            rejected = error.details.get("rejected") if isinstance(error.details, dict) else None
            await self._refused(channel, error, items, rejected, recover=recover)
            return
        except errors.AnalyticsError as error:  # out of retries, or a bad key
            self._failed(channel, error, items)
            return
        answer = answer if isinstance(answer, dict) else {}
        rejected = answer.get("rejected") or []
        self.stats.batches += 1
        self.stats.sent += int(answer.get("accepted", len(items) - len(rejected)))
        if rejected:
            refusal = errors.ValidationError(f"The server refused {len(rejected)} of {len(items)} items.",
                                             status=200, code="rejected", details=answer)
            await self._refused(channel, refusal, items, rejected, recover=recover)

    async def _refused(self, channel: _Channel, error: errors.AnalyticsError, items: list[bytes],
                       rejected: list[dict[str, Any]] | None, *, recover: bool) -> None:
        """Refused items: those the `recover` hook claims are sent once more, the others failed."""
        again: set[int] = set()
        if recover and rejected and self.recover is not None:
            try:
                again = await self.recover(channel.name, items, rejected)
            except Exception:  # noqa: BLE001 - a failed recovery must still report the refusal
                logger.exception("analytics_sdk: recovering refused items failed")
        if again:
            rest = [r for r in rejected or [] if r.get("index") not in again]
            if rest:
                self._failed(channel, error, items, rest)
            await self._deliver(channel, [items[i] for i in sorted(again)], recover=False)
            return
        self._failed(channel, error, items, rejected)

    def _failed(self, channel: _Channel, error: Exception, items: list[bytes],
                rejected: list[dict[str, Any]] | None = None) -> None:
        """Items that will not be stored: those `rejected` lists (each with the server's reason), or
        all of them. Logged (without keys: the reasons are the server's), counted, handed to
        `on_error` and kept for the next `flush()`."""
        reasons: list[str]
        if rejected:
            pairs = [(r.get("index"), str(r.get("error", ""))) for r in rejected]
            pairs = [(i, reason) for i, reason in pairs if isinstance(i, int) and 0 <= i < len(items)]
            items = [items[i] for i, _ in pairs]
            reasons = [reason for _, reason in pairs]
        else:
            reasons = [getattr(error, "message", str(error))] * len(items)
        self.stats.failed += len(items)
        status = getattr(error, "status", None)
        code = getattr(error, "code", "error")
        message = getattr(error, "message", str(error))
        refusal = errors.DeliveryError(
            f"{len(items)} {channel.name} item(s) not stored: {message}", channel=channel.name,
            items=[json.loads(item) for item in items], reasons=reasons, cause=error, status=status,
            code=code, details=getattr(error, "details", None))
        distinct = sorted(set(reasons))
        logger.error("analytics_sdk: %d %s item(s) not stored (%s %s): %s", len(items), channel.name,
                     status or "-", code, "; ".join(distinct[:5]) + (" …" if len(distinct) > 5 else ""))
        self._refusals.append(refusal)
        if self.on_error is not None:
            try:
                if self._on_error_items:
                    self.on_error(refusal, refusal.items)
                else:
                    self.on_error(refusal)
            except Exception:  # noqa: BLE001 - the caller's callback must not stop delivery
                logger.exception("analytics_sdk: on_error raised")


def _takes_two(callback: Callable[..., Any]) -> bool:
    """Whether `callback` takes (refusal, items), the older form, rather than (refusal)."""
    try:
        parameters = inspect.signature(callback).parameters.values()
    except (TypeError, ValueError):
        return True
    if any(p.kind is p.VAR_POSITIONAL for p in parameters):
        return True
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in parameters) >= 2

"""`AnalyticsClient`, the async client, and `SyncAnalyticsClient`, its blocking facade for scripts."""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, Self, TypeVar

import httpx

from analytics_sdk._batcher import Batcher, OnError, OnFull, Stats
from analytics_sdk._transport import Backoff, Transport
from analytics_sdk.resources import Dashboards, Events, Metrics, Query, Reports, Segments, TenantApi

T = TypeVar("T")


class AnalyticsClient:
    """One client per process and server is enough: it holds a connection pool and one sending task.

    `api_key` authenticates everything; `secret_key`, when given, replaces it for the secret-key
    APIs, so one client can ingest with a write key and query with a secret key. Leave it with
    `async with` or `await client.aclose()`: closing sends everything still queued. Use a client
    from one event loop only."""

    def __init__(self, api_key: str, host: str = "http://127.0.0.1:8000", *, secret_key: str | None = None,
                 flush_at: int = 100, flush_bytes: int = 400_000, flush_interval: float = 1.0,
                 max_queue: int = 10_000, on_full: OnFull = "block", max_retries: int = 8,
                 backoff_base: float = 0.25, backoff_max: float = 30.0, gzip: bool = True,
                 timeout: float = 10.0, on_error: OnError | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        if not api_key:
            raise ValueError("api_key is required")
        backoff = Backoff(max_retries=max(max_retries, 0), base=backoff_base, cap=backoff_max)
        self._transport = Transport(host, timeout=timeout, transport=transport, backoff=backoff)
        self._batcher = Batcher(self._transport, api_key, flush_at=flush_at, flush_bytes=flush_bytes,
                                flush_interval=flush_interval, max_queue=max_queue, on_full=on_full,
                                gzip=gzip, on_error=on_error)
        secret = secret_key or api_key
        self.events = Events(self._batcher)
        self.metrics = Metrics(self._transport, secret, self._batcher)
        self.query = Query(self._transport, secret)
        self.dashboards = Dashboards(self._transport, secret)
        self.reports = Reports(self._transport, secret)
        self.segments = Segments(self._transport, secret)
        self.tenant = TenantApi(self._transport, secret)

    @property
    def stats(self) -> Stats:
        """Live counters of the background sender."""
        return self._batcher.stats

    async def flush(self) -> None:
        """Waits until everything queued before the call is sent, or has failed for good."""
        await self._batcher.flush()

    async def aclose(self) -> None:
        """Sends everything queued (retrying as configured), then closes the connections."""
        try:
            await self._batcher.aclose()
        finally:
            await self._transport.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class _Blocking:
    """A resource whose coroutine methods block until done, and whose async iterators become plain
    ones, run on the facade's event loop."""

    def __init__(self, target: object, client: SyncAnalyticsClient) -> None:
        self._target, self._client = target, client

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._target, name)
        if inspect.iscoroutinefunction(attribute):
            return lambda *args, **kwargs: self._client._run(attribute(*args, **kwargs))
        if inspect.isasyncgenfunction(attribute):
            return lambda *args, **kwargs: self._client._iterate(attribute(*args, **kwargs))
        return attribute


class SyncAnalyticsClient:
    """The same client for code without asyncio: the async client runs on an event loop in a
    background thread, so events still leave in batches while the script works, and every call
    blocks until done. Same arguments and resources as AnalyticsClient; leave it with `with` or
    `close()`, which sends everything queued."""

    def __init__(self, api_key: str, host: str = "http://127.0.0.1:8000", **options: Any) -> None:
        self._client = AnalyticsClient(api_key, host, **options)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="analytics-sdk-loop",
                                        daemon=True)
        self._thread.start()
        self.events = _Blocking(self._client.events, self)
        self.metrics = _Blocking(self._client.metrics, self)
        self.query = _Blocking(self._client.query, self)
        self.dashboards = _Blocking(self._client.dashboards, self)
        self.reports = _Blocking(self._client.reports, self)
        self.segments = _Blocking(self._client.segments, self)
        self.tenant = _Blocking(self._client.tenant, self)

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def _iterate(self, iterator: Any) -> Iterator[Any]:
        while True:
            try:
                yield self._run(iterator.__anext__())
            except StopAsyncIteration:
                return

    @property
    def stats(self) -> Stats:
        return self._client.stats

    def flush(self) -> None:
        self._run(self._client.flush())

    def close(self) -> None:
        """Sends everything queued, closes the connections and ends the loop's thread."""
        if self._loop.is_closed():
            return
        try:
            self._run(self._client.aclose())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

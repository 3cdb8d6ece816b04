"""`AnalyticsClient`, the async client, and `SyncAnalyticsClient`, its blocking facade for scripts."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Callable

import httpx

from analytics_sdk._batcher import Batcher, Stats
from analytics_sdk._transport import Backoff, Transport
from analytics_sdk.resources import Dashboards, Events, Metrics, Query, Reports, Segments, TenantApi


class AnalyticsClient:
    """One client per process and server is enough: it holds a connection pool and one batching task.

    `api_key` authenticates everything; `secret_key`, when given, is used instead for the secret-key
    APIs (so one client can ingest with a write key and query with a secret key). Leave it with
    `async with` or `await aclose()`: closing sends everything still queued."""

    def __init__(self, api_key: str, host: str = "http://localhost:8000", *, secret_key: str | None = None,
                 flush_at: int = 100, flush_bytes: int = 400_000, flush_interval: float = 1.0,
                 max_queue: int = 10_000, on_full: str = "block", max_retries: int = 8, backoff_base: float = 0.25,
                 backoff_max: float = 30.0, gzip: bool = True, timeout: float = 10.0,
                 on_error: Callable[[Exception, list[dict[str, Any]]], None] | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._transport = Transport(host, timeout=timeout, transport=transport,
                                    backoff=Backoff(max_retries=max_retries, base=backoff_base, cap=backoff_max))
        self._batcher = Batcher(self._transport, api_key, flush_at=flush_at, flush_bytes=flush_bytes,
                                flush_interval=flush_interval, max_queue=max_queue, on_full=on_full, gzip=gzip,
                                on_error=on_error)
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
        return self._batcher.stats

    async def flush(self) -> None:
        """Waits until everything queued has been sent (or has failed for good)."""
        await self._batcher.flush()

    async def aclose(self) -> None:
        """Sends everything queued, then closes the connections."""
        try:
            await self._batcher.aclose()
        finally:
            await self._transport.aclose()

    async def __aenter__(self) -> AnalyticsClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class _Blocking:
    """A resource whose coroutine methods block until done, on the facade's event loop."""

    def __init__(self, target: Any, run: Callable[[Any], Any]) -> None:
        self._target, self._run = target, run

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._target, name)
        if not asyncio.iscoroutinefunction(attribute):
            return attribute
        return lambda *args, **kwargs: self._run(attribute(*args, **kwargs))


class SyncAnalyticsClient:
    """The same client for scripts without asyncio: the async client runs on an event loop in a
    background thread, and each call blocks until it is done. Same arguments, same resources."""

    def __init__(self, api_key: str, host: str = "http://localhost:8000", **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="analytics-sdk-loop", daemon=True)
        self._thread.start()

        async def make() -> AnalyticsClient:
            return AnalyticsClient(api_key, host, **options)

        self._client = self._run(make())
        for name in ("events", "metrics", "query", "dashboards", "reports", "segments", "tenant"):
            setattr(self, name, _Blocking(getattr(self._client, name), self._run))

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    @property
    def stats(self) -> Stats:
        return self._client.stats

    def flush(self) -> None:
        self._run(self._client.flush())

    def close(self) -> None:
        """Sends everything queued, closes the connections and stops the loop's thread."""
        if self._loop.is_closed():
            return
        try:
            self._run(self._client.aclose())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()

    def __enter__(self) -> SyncAnalyticsClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

"""`AnalyticsClient`, the async client, and `SyncAnalyticsClient`, its blocking facade for scripts."""

from __future__ import annotations

import asyncio
import inspect
import os
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, Self, TypeVar

import httpx

from analytics_sdk import errors
from analytics_sdk._batcher import Batcher, FlushResult, OnError, OnFull, Stats
from analytics_sdk._transport import Backoff, Transport
from analytics_sdk.core.config import AnalyticsConfig
from analytics_sdk.resources import Dashboards, Events, Metrics, Query, Reports, Segments, TenantApi

T = TypeVar("T")


DEFAULT_HOST = "http://127.0.0.1:8000"
KEY_PREFIXES = ("wk_", "sk_")


class AnalyticsClient:
    """One client per process and server is enough: it holds a connection pool and one sending task.

    `AnalyticsClient(api_key=..., host=...)`, or the seed API's `AnalyticsClient("tenant_id")`,
    which takes the key and host from `config` (an AnalyticsConfig) or the environment
    (`ANALYTICS_API_KEY`, `ANALYTICS_HOST`). Given a tenant id, the client checks, when opened with
    `async with` or before its first secret-key request, that a secret key belongs to that tenant
    (the tenant's slug; `_` in the id stands for `-`, since slugs have no `_`), and raises
    `errors.TenantMismatchError` if not. A write key cannot read its tenant and is not checked.

    `api_key` authenticates everything; `secret_key`, when given, replaces it for the secret-key
    APIs, so one client can ingest with a write key and query with a secret key. Leave it with
    `async with` or `await client.aclose()`: closing sends everything still queued. Use a client
    from one event loop only. Refused items reach `on_error(refusal)` (an `errors.DeliveryError`;
    a callback taking two arguments gets `(refusal, items)`), the log, and `flush()`'s result."""

    def __init__(self, tenant_id: str | None = None, host: str | None = None, *, api_key: str | None = None,
                 config: AnalyticsConfig | None = None, secret_key: str | None = None,
                 flush_at: int | None = None, flush_bytes: int = 400_000, flush_interval: float | None = None,
                 max_queue: int = 10_000, on_full: OnFull = "block", max_retries: int | None = None,
                 backoff_base: float = 0.25, backoff_max: float = 30.0, gzip: bool = True,
                 timeout: float | None = None, on_error: OnError | None = None,
                 max_connections: int | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        if tenant_id and tenant_id.startswith(KEY_PREFIXES) and api_key is None:
            api_key, tenant_id = tenant_id, None  # the older positional form: AnalyticsClient(key, host)
        config = config or AnalyticsConfig()
        api_key = api_key or config.api_key or os.environ.get("ANALYTICS_API_KEY")
        host = host or config.host or os.environ.get("ANALYTICS_HOST") or DEFAULT_HOST
        if not api_key:
            raise ValueError("api_key is required (or the ANALYTICS_API_KEY environment variable)")
        self.tenant_id = tenant_id or config.tenant_id
        self.config = config
        backoff = Backoff(max_retries=max(config.max_retries if max_retries is None else max_retries, 0),
                          base=backoff_base, cap=backoff_max)
        self._transport = Transport(host, timeout=config.timeout if timeout is None else timeout,
                                    transport=transport, backoff=backoff,
                                    max_connections=max_connections or config.processing.max_workers)
        self._batcher = Batcher(self._transport, api_key,
                                flush_at=config.processing.batch_size if flush_at is None else flush_at,
                                flush_bytes=flush_bytes,
                                flush_interval=(config.flush_interval if flush_interval is None
                                                else flush_interval),
                                max_queue=max_queue, on_full=on_full, gzip=gzip, on_error=on_error)
        self._secret = secret_key or config.secret_key or api_key
        self._tenant_checked = not self.tenant_id
        self._tenant_lock = asyncio.Lock()
        guard = self._check_tenant if self.tenant_id else None
        secret = self._secret
        self.events = Events(self._batcher, self._transport, secret, guard)
        self.metrics = Metrics(self._transport, secret, self._batcher, guard)
        self.query = Query(self._transport, secret, guard)
        self.dashboards = Dashboards(self._transport, secret, guard)
        self.reports = Reports(self._transport, secret, guard)
        self.segments = Segments(self._transport, secret, guard)
        self.tenant = TenantApi(self._transport, secret, guard)

    async def _check_tenant(self) -> None:
        """Once per client: the secret key's tenant is the one this client was given."""
        if self._tenant_checked:
            return
        async with self._tenant_lock:
            if self._tenant_checked:
                return
            if not self._secret.startswith("wk_"):
                try:
                    answer = await self._transport.request("GET", "/api/v1/tenant", key=self._secret,
                                                           retry=True)
                except errors.PermissionDeniedError:
                    answer = None  # a write key (without the usual prefix): it cannot tell its tenant
                slug = answer.get("slug") if isinstance(answer, dict) else None
                wanted = str(self.tenant_id)
                if answer is not None and slug not in (wanted, wanted.replace("_", "-")):
                    raise errors.TenantMismatchError(
                        f"This client was given tenant {wanted!r}, but its key belongs to tenant {slug!r}.",
                        code="tenant_mismatch", details={"tenant_id": wanted, "key_tenant": slug})
            self._tenant_checked = True

    @property
    def stats(self) -> Stats:
        """Live counters of the background sender."""
        return self._batcher.stats

    async def flush(self) -> FlushResult:
        """Waits until everything queued before the call is sent, or has failed for good. Returns
        the refusals since the previous flush (`result.refusals`, each an `errors.DeliveryError`;
        `result.ok` when there were none)."""
        return await self._batcher.flush()

    async def aclose(self) -> None:
        """Sends everything queued (retrying as configured), then closes the connections."""
        try:
            await self._batcher.aclose()
        finally:
            await self._transport.aclose()

    async def __aenter__(self) -> Self:
        if not self._tenant_checked:
            try:
                await self._check_tenant()
            except BaseException:
                await self._transport.aclose()
                raise
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

    def __init__(self, tenant_id: str | None = None, host: str | None = None, **options: Any) -> None:
        self._client = AnalyticsClient(tenant_id, host, **options)
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

    def flush(self) -> FlushResult:
        return self._run(self._client.flush())

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

"""HTTP to the server: one httpx connection pool per client, error answers mapped to typed errors,
and retries with exponential backoff and full jitter where sending twice is harmless."""

from __future__ import annotations

import asyncio
import gzip as gzip_lib
import json
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import httpx

from analytics_sdk import errors

VERSION = "0.1.0"
logger = logging.getLogger("analytics_sdk")


def _json_default(value: Any) -> Any:
    """What JSON lacks: times as ISO 8601, decimals as numbers (so the server can sum them), and
    anything else (UUIDs, enums, paths) as its text rather than an error in the caller's code."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return str(value)


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON. NaN and infinities raise ValueError: they are not JSON, and one of them
    would make the server refuse a whole batch."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False,
                      default=_json_default).encode()


@dataclass(frozen=True)
class Backoff:
    max_retries: int
    base: float
    cap: float

    def delay(self, attempt: int, error: errors.AnalyticsError) -> float:
        """Full jitter under an exponential ceiling (spreads out clients that failed together).
        A 429's Retry-After is a floor, itself capped at `cap`: a quota answer may say "next
        month", and closing a client must not wait that long."""
        delay = random.uniform(0, min(self.cap, self.base * 2**attempt))
        retry_after = getattr(error, "retry_after", None)
        return max(delay, min(retry_after, self.cap)) if retry_after is not None else delay


def _retryable(error: errors.AnalyticsError) -> bool:
    return isinstance(error, (errors.TransportError, errors.RateLimitError, errors.ServerError))


class Transport:
    def __init__(self, host: str, *, timeout: float, backoff: Backoff,
                 transport: httpx.AsyncBaseTransport | None = None,
                 max_connections: int | None = None) -> None:
        self.backoff = backoff
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections) \
            if max_connections else httpx.Limits()
        self.http = httpx.AsyncClient(base_url=host.rstrip("/"), timeout=timeout, transport=transport,
                                      limits=limits,
                                      headers={"User-Agent": f"analytics-sdk-python/{VERSION}"})

    async def request(self, method: str, path: str, *, key: str, body: Any = None,
                      params: Mapping[str, Any] | None = None, retry: bool = False) -> Any:
        """The decoded JSON answer, or a typed error. `retry` is for requests that are safe to
        repeat (reads, and writes the server de-duplicates)."""
        content = dumps(body) if body is not None else None
        query = {name: value for name, value in (params or {}).items() if value is not None} or None
        return await self._retrying(lambda: self._send(method, path, key, content, query), retry=retry)

    async def send_batch(self, path: str, *, key: str, build: Callable[[], bytes], gzip: bool,
                         on_retry: Callable[[], None]) -> Any:
        """POSTs an ingestion batch, retrying as configured. `build` makes the body for each attempt,
        so that a retry carries its own send time (the batch's `sent_at`)."""
        async def attempt() -> Any:
            content = build()
            if gzip:  # level 1: most of the saving for a fraction of the CPU, on the event loop
                compressed = gzip_lib.compress(content, 1)
                return await self._send("POST", path, key, compressed, None, encoding="gzip")
            return await self._send("POST", path, key, content, None)

        return await self._retrying(attempt, retry=True, on_retry=on_retry)

    async def _retrying(self, call: Callable[[], Awaitable[Any]], *, retry: bool,
                        on_retry: Callable[[], None] | None = None) -> Any:
        attempt = 0
        while True:
            try:
                return await call()
            except errors.AnalyticsError as error:
                if not retry or not _retryable(error) or attempt >= self.backoff.max_retries:
                    raise
                delay = self.backoff.delay(attempt, error)
                logger.info("analytics_sdk: %s; retry %d of %d in %.2f s", error, attempt + 1,
                            self.backoff.max_retries, delay)
                await asyncio.sleep(delay)
                attempt += 1
                if on_retry is not None:
                    on_retry()

    async def _send(self, method: str, path: str, key: str, content: bytes | None,
                    params: Mapping[str, Any] | None, *, encoding: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {key}"}
        if content is not None:
            headers["Content-Type"] = "application/json"
        if encoding:
            headers["Content-Encoding"] = encoding
        try:
            response = await self.http.request(method, path, content=content, headers=headers, params=params)
        except httpx.TransportError as exc:
            raise errors.TransportError(f"{type(exc).__name__}: {exc}", code="network_error") from exc
        try:
            data = response.json() if response.content else None
        except ValueError:
            data = None
        if response.status_code >= 400:
            raise errors.from_response(response.status_code, data, response.headers.get("Retry-After"))
        return data

    async def aclose(self) -> None:
        await self.http.aclose()

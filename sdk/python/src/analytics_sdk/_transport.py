"""HTTP to the server: one httpx connection pool per client, the error body mapped to typed errors,
and retries with exponential backoff and full jitter where a retry is safe."""

from __future__ import annotations

import asyncio
import gzip as gzip_lib
import json
import random
from dataclasses import dataclass
from typing import Any

import httpx

from analytics_sdk import errors

VERSION = "0.1.0"


@dataclass(frozen=True)
class Backoff:
    max_retries: int
    base: float
    cap: float

    def delay(self, attempt: int, error: errors.AnalyticsError) -> float:
        """Full jitter on an exponential ceiling; a server's Retry-After is a floor."""
        delay = random.uniform(0, min(self.cap, self.base * 2**attempt))
        retry_after = getattr(error, "retry_after", None)
        return max(delay, min(retry_after, self.cap)) if retry_after is not None else delay


def retryable(error: errors.AnalyticsError) -> bool:
    return isinstance(error, (errors.TransportError, errors.RateLimitError, errors.ServerError))


class Transport:
    def __init__(self, host: str, *, timeout: float, backoff: Backoff,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.backoff = backoff
        self.http = httpx.AsyncClient(base_url=host.rstrip("/"), timeout=timeout, transport=transport,
                                      headers={"User-Agent": f"analytics-sdk-python/{VERSION}"})

    async def request(self, method: str, path: str, *, key: str, body: Any = None, content: bytes | None = None,
                      params: dict[str, Any] | None = None, retry: bool = False, gzip: bool = False,
                      on_retry: Any = None) -> Any:
        """The decoded JSON answer, or a typed error. The body is `body` as JSON, or `content`, JSON
        already encoded. With `retry`, network errors, 429 and 5xx are retried up to the backoff's
        max_retries (`on_retry()` is called before each retry)."""
        headers = {"Authorization": f"Bearer {key}"}
        if body is not None:
            content = json.dumps(body, separators=(",", ":"), default=str).encode()
        if content is not None:
            headers["Content-Type"] = "application/json"
            if gzip:
                content = gzip_lib.compress(content, 1)  # most of the gain for a fraction of the CPU
                headers["Content-Encoding"] = "gzip"
        # None, not {}: an empty mapping would replace the query string of a `next` link.
        query = {k: v for k, v in (params or {}).items() if v is not None} or None
        attempt = 0
        while True:
            try:
                return await self._once(method, path, content, headers, query)
            except errors.AnalyticsError as error:
                if not retry or not retryable(error) or attempt >= self.backoff.max_retries:
                    raise
                await asyncio.sleep(self.backoff.delay(attempt, error))
                attempt += 1
                if on_retry is not None:
                    on_retry()

    async def _once(self, method: str, path: str, content: bytes | None, headers: dict[str, str],
                    params: dict[str, Any] | None) -> Any:
        try:
            response = await self.http.request(method, path, content=content, headers=headers, params=params)
        except httpx.TransportError as exc:
            raise errors.TransportError(f"{type(exc).__name__}: {exc}" or "no answer") from exc
        try:
            data = response.json() if response.content else None
        except ValueError:
            data = None
        if response.status_code >= 400:
            raise errors.from_response(response.status_code, data, response.headers.get("Retry-After"))
        return data

    async def aclose(self) -> None:
        await self.http.aclose()

"""Automatic request tracking: middleware for Django, any ASGI app (FastAPI, Starlette) and any WSGI
app (Flask) that records each request's duration as a histogram metric value with the dimensions
`route`, `method` and `status`, and each error (a 5xx answer or an unhandled exception) as an event.

Recording never waits for the network: values and events are handed to an `AnalyticsClient` that
runs on an event loop in a background thread (the tracker's own, or that of the
`SyncAnalyticsClient` you give it), queued there and sent in batches. When the analytics server is
down, values wait and are retried, then logged and dropped; the host app is never slowed nor
broken by it. Exceptions of the app are re-raised unchanged. The middleware imports no framework.

    tracker = RequestTracker(api_key="sk_…", host="https://analytics.example.com",
                             exclude_paths=["/health"])
    app = AnalyticsASGIMiddleware(app, tracker)     # FastAPI, Starlette, any ASGI app
    app.wsgi_app = AnalyticsWSGIMiddleware(app.wsgi_app, tracker)   # Flask, any WSGI app
    # Django: MIDDLEWARE = ["analytics_sdk.tracking.AnalyticsDjangoMiddleware", ...] and
    # ANALYTICS_REQUEST_TRACKING = {"api_key": "sk_…", "host": "…", "exclude_paths": ["/health"]}
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import random
import re
import threading
import time
import weakref
from collections.abc import Callable, Coroutine, Iterable, Iterator, Sequence
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any

from analytics_sdk.client import SyncAnalyticsClient

logger = logging.getLogger("analytics_sdk")

DEFAULT_METRIC = "http.server.duration"
DEFAULT_ERROR_EVENT = "$request_error"
UNMATCHED = "(unmatched)"
CLIENT_CLOSED = 499  # an ASGI request cancelled (the client went away) before it answered
MAX_ROUTE = 200  # the server's limit on a dimension value
MAX_MESSAGE = 500
_ID_SEGMENT = re.compile(
    r"^(?:\d+|[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
    r"|[0-9a-fA-F]{16,}|(?=[A-Za-z0-9_-]*\d)[A-Za-z0-9_-]{20,})$")


def collapse_path(path: str) -> str:
    """The path with the segments that look like ids (numbers, UUIDs, long hex strings, long tokens
    with digits) replaced by `{id}`, so that `/orders/42` and `/orders/43` are one route."""
    route = "/".join("{id}" if _ID_SEGMENT.match(segment) else segment for segment in path.split("/"))
    return route[:MAX_ROUTE] or "/"


class RequestTracker:
    """What the middlewares share: the options and the client the figures go to.

    - `client`: a `SyncAnalyticsClient` to send through (it stays yours: `close()` only flushes
      it). Without it, the tracker makes its own from `api_key`, `host` and `client_options` (any
      `AnalyticsClient` argument), with `on_full="drop_newest"` and `max_retries=5` unless given.
    - `metric`: the histogram metric of durations, in ms, with dimensions `route`, `method` and
      `status`. When it does not exist, the first values create it (that takes a secret key; with a
      write key, create it beforehand, as a histogram in `ms`).
    - `error_event`: the event recorded for each 5xx answer or unhandled exception.
    - `exclude_paths`: paths not tracked at all; an entry ending in `*` is a prefix.
    - `sample_rate`: the share of requests whose duration is recorded (0 to 1). Errors are always
      recorded.
    - `distinct_id`: the user of the error events (default: the client's anonymous id).
    """

    def __init__(self, client: SyncAnalyticsClient | None = None, *, api_key: str | None = None,
                 host: str | None = None, metric: str = DEFAULT_METRIC,
                 error_event: str = DEFAULT_ERROR_EVENT,
                 exclude_paths: Sequence[str] = (), sample_rate: float = 1.0, distinct_id: str | None = None,
                 **client_options: Any) -> None:
        if not 0.0 <= sample_rate <= 1.0:
            raise ValueError("sample_rate must be between 0 and 1")
        if not metric or not error_event:
            raise ValueError("metric and error_event must be non-empty")
        self.metric, self.error_event, self.sample_rate = metric, error_event, sample_rate
        self.distinct_id = distinct_id
        self._exact = frozenset(p for p in exclude_paths if not p.endswith("*"))
        self._prefixes = tuple(p[:-1] for p in exclude_paths if p.endswith("*"))
        self._owned = client is None
        if client is None:
            client_options.setdefault("on_full", "drop_newest")
            client_options.setdefault("max_retries", 5)
            self._options = {"api_key": api_key, "host": host, **client_options}
            client = SyncAnalyticsClient(**self._options)  # made now, so a bad setting fails now
        self._client: SyncAnalyticsClient | None = client
        self._closed = False
        self._lock = threading.Lock()
        atexit.register(self.close)
        tracker = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _after_fork(tracker))

    @property
    def client(self) -> SyncAnalyticsClient | None:
        """The client the figures go to. A tracker that made its own makes another in a forked
        process (a pre-forking server's worker) at its first request: the thread of the parent's
        does not survive the fork."""
        if self._client is None and self._owned and not self._closed:
            with self._lock:
                if self._client is None and not self._closed:
                    self._client = SyncAnalyticsClient(**self._options)
        return self._client

    def _forked(self) -> None:
        self._lock = threading.Lock()
        if self._owned:
            self._client = None  # the parent's loop thread is gone; the next request makes a client
        else:
            self._closed = True  # a client given to the tracker cannot be remade: make both after forking
            logger.warning("Request tracking stops in this forked process: "
                           "make the tracker's client after forking")

    def excluded(self, path: str) -> bool:
        return path in self._exact or bool(self._prefixes and path.startswith(self._prefixes))

    def sampled(self) -> bool:
        return self.sample_rate >= 1.0 or random.random() < self.sample_rate

    def record(self, *, route: str, method: str, status: int, started: datetime, duration_ms: float,
               path: str = "", exception: BaseException | None = None) -> None:
        """Queues one request's figures on the client's loop and returns at once. Never raises."""
        try:
            route = (route or "/")[:MAX_ROUTE]
            dimensions = {"route": route, "method": method.upper()[:MAX_ROUTE], "status": str(status)}
            if self.sampled():
                self._submit(lambda client: client.metrics.record_timing(
                    self.metric, round(duration_ms, 3), dimensions=dimensions, timestamp=started))
            if status >= 500 or exception is not None:
                properties: dict[str, Any] = {**dimensions, "status": status, "path": path[:MAX_ROUTE],
                                              "duration_ms": round(duration_ms, 3)}
                if exception is not None:
                    properties["exception"] = f"{type(exception).__module__}.{type(exception).__qualname__}"
                    properties["message"] = str(exception)[:MAX_MESSAGE]
                self._submit(lambda client: client.events.track(
                    self.error_event, distinct_id=self.distinct_id, properties=properties, timestamp=started))
        except Exception:  # the host app comes first
            logger.exception("Request tracking failed to record a request")

    def _submit(self, make: Callable[[Any], Coroutine[Any, Any, Any]]) -> None:
        client = None if self._closed else self.client
        if client is None or client._loop.is_closed():
            return
        try:
            future = asyncio.run_coroutine_threadsafe(_call(make, client._client), client._loop)
        except RuntimeError:  # the loop stopped meanwhile
            return
        future.add_done_callback(_log_failure)

    def flush(self) -> None:
        """Blocks until what was recorded so far is sent (or has failed for good)."""
        client = self._client
        if not self._closed and client is not None and not client._loop.is_closed():
            # Recordings are scheduled on the loop in order: once this runs, they are all queued.
            client._run(asyncio.sleep(0))
            client.flush()

    def close(self) -> None:
        """Sends what is queued; closes the client if the tracker made it. Called at exit too."""
        with self._lock:
            if self._closed:
                return
            try:
                if self._owned and self._client is not None:
                    self._client._run(asyncio.sleep(0))
                    self._closed = True
                    self._client.close()
                elif not self._owned:
                    self.flush()
            except Exception:
                logger.exception("Request tracking failed to send what was queued")
            finally:
                self._closed = True
                atexit.unregister(self.close)


async def _call(make: Callable[[Any], Coroutine[Any, Any, Any]], client: Any) -> None:
    await make(client)


def _after_fork(tracker: weakref.ref[RequestTracker]) -> None:
    alive = tracker()
    if alive is not None and not alive._closed:
        alive._forked()


def _log_failure(future: Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        logger.error("Request tracking failed to queue a value: %r", future.exception())


def _now() -> tuple[datetime, float]:
    return datetime.now(UTC), time.perf_counter()


def _elapsed_ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0


# --- ASGI -----------------------------------------------------------------------------------------


def asgi_route(scope: dict[str, Any], root_path: str) -> str:
    """The matched route's pattern when the framework left it in the scope: FastAPI's
    `scope["route"]` (`path_format`, or `path`), or, for Starlette, the router's route whose
    endpoint handled the request; else the path with ids collapsed."""
    route = scope.get("route")
    pattern = getattr(route, "path_format", None) or getattr(route, "path", None)
    if not isinstance(pattern, str) and scope.get("endpoint") is not None:
        for candidate in getattr(scope.get("router"), "routes", ()):
            if getattr(candidate, "endpoint", None) == scope["endpoint"]:
                pattern = getattr(candidate, "path_format", None) or getattr(candidate, "path", None)
                break
    if isinstance(pattern, str):
        mount = str(scope.get("root_path", ""))[len(root_path):]  # a Mount's prefix
        return (mount + pattern)[:MAX_ROUTE] or "/"
    return collapse_path(str(scope.get("path", "/")))


class AnalyticsASGIMiddleware:
    """Wraps an ASGI app. HTTP requests are tracked; websockets pass through; at the lifespan's
    shutdown, the tracker sends what is queued."""

    def __init__(self, app: Callable[..., Any], tracker: RequestTracker) -> None:
        self.app, self.tracker = app, tracker

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any],
                       send: Callable[..., Any]) -> None:
        if scope.get("type") == "lifespan":
            await self.app(scope, self._lifespan_receive(receive), send)
            return
        path = str(scope.get("path", ""))
        if scope.get("type") != "http" or self.tracker.excluded(path):
            await self.app(scope, receive, send)
            return
        root_path = str(scope.get("root_path", ""))
        status = 0

        async def tracked_send(message: dict[str, Any]) -> None:
            nonlocal status
            if message.get("type") == "http.response.start":
                status = int(message.get("status", 0))
            await send(message)

        started, start = _now()
        try:
            await self.app(scope, receive, tracked_send)
        except BaseException as error:
            self._record(scope, root_path, path, status, started, start, error)
            raise
        self._record(scope, root_path, path, status, started, start, None)

    def _record(self, scope: dict[str, Any], root_path: str, path: str, status: int, started: datetime,
                start: float, error: BaseException | None) -> None:
        if isinstance(error, asyncio.CancelledError):  # the client went away: not the app's error
            error, status = None, status or CLIENT_CLOSED
        status = status or 500  # the app raised, or ended without answering
        try:
            route = asgi_route(scope, root_path)
        except Exception:  # an odd scope: the request still counts, by its path
            route = collapse_path(path)
        self.tracker.record(route=route, method=str(scope.get("method", "GET")), status=status,
                            started=started, duration_ms=_elapsed_ms(start), path=path, exception=error)

    def _lifespan_receive(self, receive: Callable[..., Any]) -> Callable[..., Any]:
        async def wrapped() -> dict[str, Any]:
            message = await receive()
            if message.get("type") == "lifespan.shutdown":
                await asyncio.to_thread(self.tracker.flush)
            return message
        return wrapped


# --- WSGI -----------------------------------------------------------------------------------------


class AnalyticsWSGIMiddleware:
    """Wraps a WSGI app (for Flask: `app.wsgi_app = AnalyticsWSGIMiddleware(app.wsgi_app, tracker)`).
    The duration runs until the server closes the response, so streamed bodies count whole. The
    route is the path with ids collapsed, or, for Flask, its URL rule (`request.url_rule`)."""

    def __init__(self, app: Callable[..., Any], tracker: RequestTracker) -> None:
        self.app, self.tracker = app, tracker

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO", "") or "/")
        if self.tracker.excluded(path):
            return self.app(environ, start_response)
        state = {"status": 0}

        def tracked_start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            try:
                state["status"] = int(str(status).split(" ", 1)[0])
            except ValueError:
                state["status"] = 0
            if exc_info is not None:
                return start_response(status, headers, exc_info)
            return start_response(status, headers)

        started, start = _now()
        try:
            body = self.app(environ, tracked_start_response)
        except BaseException as error:
            self._record(environ, path, 500, started, start, error)
            raise
        return _TrackedBody(body, lambda error: self._record(environ, path, state["status"] or 500, started,
                                                             start, error))

    def _record(self, environ: dict[str, Any], path: str, status: int, started: datetime, start: float,
                error: BaseException | None) -> None:
        try:
            route = _wsgi_route(environ, path)
        except Exception:  # an odd request object: the request still counts, by its path
            route = collapse_path(path)
        self.tracker.record(route=route, method=str(environ.get("REQUEST_METHOD", "GET")),
                            status=status, started=started, duration_ms=_elapsed_ms(start), path=path,
                            exception=error)


def _wsgi_route(environ: dict[str, Any], path: str) -> str:
    request = environ.get("werkzeug.request")  # Flask's request, with the matched URL rule
    rule = getattr(getattr(request, "url_rule", None), "rule", None)
    if isinstance(rule, str):
        return (str(environ.get("SCRIPT_NAME", "")) + rule)[:MAX_ROUTE] or "/"
    return collapse_path(path)


class _TrackedBody:
    """The app's response iterable; records the request once, when the server closes it."""

    def __init__(self, body: Iterable[bytes], done: Callable[[BaseException | None], None]) -> None:
        self._body, self._done, self._error = body, done, None
        self._recorded = False

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._body
        except BaseException as error:
            self._error = error
            raise

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        except BaseException as error:
            self._error = self._error or error
            raise
        finally:
            if not self._recorded:
                self._recorded = True
                self._done(self._error)


# --- Django ---------------------------------------------------------------------------------------

_django_tracker: RequestTracker | None = None
_django_lock = threading.Lock()


def django_tracker() -> RequestTracker:
    """The process's tracker for Django, made once from `settings.ANALYTICS_REQUEST_TRACKING` (the
    keyword arguments of RequestTracker)."""
    global _django_tracker
    with _django_lock:
        if _django_tracker is None:
            from django.conf import settings  # noqa: PLC0415 (only Django apps get here)

            _django_tracker = RequestTracker(**dict(getattr(settings, "ANALYTICS_REQUEST_TRACKING", {})))
        return _django_tracker


class AnalyticsDjangoMiddleware:
    """Django middleware (sync and async). The route is the URL pattern Django matched
    (`request.resolver_match.route`, e.g. `/orders/<int:pk>/`); a request no pattern matched is
    `(unmatched)`. Put it first in MIDDLEWARE to time the other middlewares too."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[..., Any], tracker: RequestTracker | None = None) -> None:
        self.get_response = get_response
        self.tracker = tracker or django_tracker()
        from asgiref.sync import iscoroutinefunction, markcoroutinefunction  # noqa: PLC0415 (Django's)

        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: Any) -> Any:
        if self.is_async:
            return self._acall(request)
        if self.tracker.excluded(request.path):
            return self.get_response(request)
        started, start = _now()
        try:
            response = self.get_response(request)
        except BaseException as error:
            self._record(request, 500, started, start, error)
            raise
        self._record(request, response.status_code, started, start, None)
        return response

    async def _acall(self, request: Any) -> Any:
        if self.tracker.excluded(request.path):
            return await self.get_response(request)
        started, start = _now()
        try:
            response = await self.get_response(request)
        except BaseException as error:
            self._record(request, 500, started, start, error)
            raise
        self._record(request, response.status_code, started, start, None)
        return response

    def process_exception(self, request: Any, exception: Exception) -> None:
        """A view's exception, seen before Django turns it into a 500 answer; handled as usual."""
        request._analytics_exception = exception

    def _record(self, request: Any, status: int, started: datetime, start: float,
                error: BaseException | None) -> None:
        try:
            match = getattr(request, "resolver_match", None)
            route = getattr(match, "route", None)
            route = ("/" + route.lstrip("^").rstrip("$").lstrip("/")) if isinstance(route, str) else UNMATCHED
            error = error or getattr(request, "_analytics_exception", None)
            self.tracker.record(route=route, method=request.method or "GET", status=status, started=started,
                                duration_ms=_elapsed_ms(start), path=request.path, exception=error)
        except Exception:  # the host app comes first
            logger.exception("Request tracking failed to record a request")

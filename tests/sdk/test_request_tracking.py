"""Automatic request tracking (analytics_sdk.tracking): a real WSGI app served by wsgiref, a real
Django app served by its own handler, and an ASGI app driven over httpx's ASGI transport, all
recording into the live analytics server; the figures are read back through the API."""

from __future__ import annotations

import asyncio
import inspect
import os
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.util import setup_testing_defaults

import httpx
import pytest
from analytics_sdk import AnalyticsClient, tracking
from analytics_sdk.tracking import (AnalyticsASGIMiddleware, AnalyticsWSGIMiddleware, RequestTracker,
                                    collapse_path)
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.wsgi import WSGIHandler
from django.test import override_settings

DIMENSIONS = ["route", "method", "status"]


def read_back(host: str, secret_key: str, metric: str, event: str) -> tuple[Counter, dict, list]:
    """(count of values per (route, method, status), their least value, the error events), read
    through `GET /api/v1/metrics/{name}/aggregate` and `GET /api/v1/events`."""
    async def main() -> tuple[Any, Any, Any]:
        async with AnalyticsClient(api_key=secret_key, host=host) as client:
            counts = await client.metrics.aggregate(metric, aggregation="count", granularity="day",
                                                    date_from="-2d", group_by=DIMENSIONS, refresh=True)
            least = await client.metrics.aggregate(metric, aggregation="min", granularity="day",
                                                   date_from="-2d", group_by=DIMENSIONS, refresh=True)
            events = await client.events.get_events(event_name=event, limit=1000)
            return counts, least, events

    counts, least, events = asyncio.run(main())
    key = lambda series: tuple(series["group"][name] for name in DIMENSIONS)  # noqa: E731
    tally = Counter({key(s): int(sum(s["values"])) for s in counts.series if sum(s["values"])})
    minima = {key(s): min(v for v in s["values"] if v is not None) for s in least.series
              if any(v is not None for v in s["values"])}
    return tally, minima, events


def wait_for(condition, timeout: float = 15.0):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


class _QuietServer(WSGIServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


def serve(app: Any) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, server_class=_QuietServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# --- a plain WSGI app -------------------------------------------------------------------------------

class Failure(Exception):
    pass


def wsgi_app(environ: dict[str, Any], start_response: Any) -> Any:
    path = environ["PATH_INFO"]
    if path == "/boom":
        raise Failure("the app failed")
    if path == "/unavailable":
        start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
        return [b"down"]
    if path.startswith("/flask/"):  # Flask (werkzeug) leaves its request, with the matched rule, here
        environ["werkzeug.request"] = SimpleNamespace(url_rule=SimpleNamespace(rule="/flask/<int:n>"))
    if path.startswith("/stream/"):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return (chunk for chunk in (b"a", b"b", b"c"))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def test_wsgi_app_served_by_wsgiref_records_routes_statuses_durations_and_errors(sdk_tenant, host):
    tracker = RequestTracker(api_key=sdk_tenant.secret_key, host=host, flush_interval=0.05,
                             exclude_paths=["/health", "/internal/*"])
    for url in serve(AnalyticsWSGIMiddleware(wsgi_app, tracker)):
        with httpx.Client(base_url=url) as http:
            for order in (41, 42, 43):
                assert http.get(f"/orders/{order}").text == "ok"
            assert http.get("/orders/7c9e6679-7425-40de-944b-e07fc1f90ae7/items").status_code == 200
            assert http.get("/stream/5").text == "abc"
            assert http.get("/flask/9").text == "ok"
            assert http.post("/unavailable").status_code == 503
            assert http.get("/boom").status_code == 500  # wsgiref answers the exception the app raised
            assert http.get("/health").status_code == 200
            assert http.get("/internal/metrics").status_code == 200
    tracker.close()  # the shutdown sends what is queued

    counts, minima, events = read_back(host, sdk_tenant.secret_key, tracking.DEFAULT_METRIC,
                                       tracking.DEFAULT_ERROR_EVENT)
    assert counts == Counter({("/orders/{id}", "GET", "200"): 3, ("/orders/{id}/items", "GET", "200"): 1,
                              ("/stream/{id}", "GET", "200"): 1, ("/flask/<int:n>", "GET", "200"): 1,
                              ("/unavailable", "POST", "503"): 1,
                              ("/boom", "GET", "500"): 1})
    assert set(minima) == set(counts) and all(value > 0 for value in minima.values())
    errors = {event.properties["route"]: event.properties for event in events}
    assert sorted(errors) == ["/boom", "/unavailable"] and len(events) == 2
    assert errors["/boom"]["status"] == 500 and errors["/boom"]["method"] == "GET"
    assert errors["/boom"]["exception"].endswith("test_request_tracking.Failure")
    assert errors["/boom"]["message"] == "the app failed"
    assert errors["/unavailable"]["status"] == 503 and "exception" not in errors["/unavailable"]
    assert all(props["duration_ms"] > 0 for props in errors.values())


def test_wsgi_exception_is_re_raised_unchanged_and_options_apply(sdk_tenant, host):
    tracker = RequestTracker(api_key=sdk_tenant.secret_key, host=host, flush_interval=0.05, sample_rate=0.0,
                             metric="web.latency", error_event="Web Error")
    raised = Failure("exact object")

    def failing(environ: dict[str, Any], start_response: Any) -> Any:
        raise raised

    app = AnalyticsWSGIMiddleware(failing, tracker)
    environ: dict[str, Any] = {"PATH_INFO": "/checkout", "REQUEST_METHOD": "POST"}
    setup_testing_defaults(environ)
    with pytest.raises(Failure) as caught:
        app(environ, lambda *args: None)
    assert caught.value is raised
    ok = AnalyticsWSGIMiddleware(wsgi_app, tracker)
    body = ok(dict(environ, PATH_INFO="/fine"), lambda *args: None)
    assert list(body) == [b"ok"]
    body.close()
    tracker.close()

    async def main() -> tuple[Any, Any]:
        async with AnalyticsClient(api_key=sdk_tenant.secret_key, host=host) as client:
            events = await client.events.get_events(event_name="Web Error")
            try:
                await client.metrics.get_metric("web.latency")
                metric = True
            except Exception:  # noqa: BLE001 (NotFound: no value was sampled, so none created it)
                metric = False
            return events, metric

    events, metric_exists = asyncio.run(main())
    assert [(e.properties["route"], e.properties["method"], e.properties["status"]) for e in events] == [
        ("/checkout", "POST", 500)]
    assert metric_exists is False  # sample_rate 0: no duration was recorded


# --- Django -------------------------------------------------------------------------------------

def test_django_app_records_url_patterns(sdk_tenant, host, settings, monkeypatch):
    monkeypatch.setattr(tracking, "_django_tracker", None)
    settings.ANALYTICS_REQUEST_TRACKING = {"api_key": sdk_tenant.secret_key, "host": host,
                                           "flush_interval": 0.05,
                                           "exclude_paths": ["/health/"], "metric": "django.duration"}
    with override_settings(MIDDLEWARE=["analytics_sdk.tracking.AnalyticsDjangoMiddleware",
                                       "tests.sdk.reqtrack_django_app.UseTheseUrls"]):
        handler = WSGIHandler()  # loads its middleware now
    tracker = tracking.django_tracker()
    for url in serve(handler):
        with httpx.Client(base_url=url) as http:
            assert http.get("/orders/7/").json() == {"order": 7}
            assert http.get("/orders/8/").json() == {"order": 8}
            assert http.delete("/orders/8/").status_code == 200
            assert http.get("/boom/").status_code == 500
            assert http.get("/unavailable/").status_code == 503
            assert http.get("/no/such/page").status_code == 404
            assert http.get("/health/").status_code == 200
    tracker.close()

    counts, minima, events = read_back(host, sdk_tenant.secret_key, "django.duration", "$request_error")
    assert counts == Counter({("/orders/<int:pk>/", "GET", "200"): 2,
                              ("/orders/<int:pk>/", "DELETE", "200"): 1,
                              ("/boom/", "GET", "500"): 1, ("/unavailable/", "GET", "503"): 1,
                              ("(unmatched)", "GET", "404"): 1})
    assert all(value > 0 for value in minima.values()) and set(minima) == set(counts)
    errors = {event.properties["route"]: event.properties for event in events}
    assert sorted(errors) == ["/boom/", "/unavailable/"] and len(events) == 2
    assert errors["/boom/"]["exception"] == "builtins.ValueError"
    assert errors["/boom/"]["message"] == "the view failed" and errors["/boom/"]["path"] == "/boom/"


def test_django_app_under_asgi_records_the_same(sdk_tenant, host, settings, monkeypatch):
    monkeypatch.setattr(tracking, "_django_tracker", None)
    settings.ANALYTICS_REQUEST_TRACKING = {"api_key": sdk_tenant.secret_key, "host": host,
                                           "flush_interval": 0.05,
                                           "metric": "django.asgi.duration", "error_event": "Django Error"}
    with override_settings(MIDDLEWARE=["analytics_sdk.tracking.AnalyticsDjangoMiddleware",
                                       "tests.sdk.reqtrack_django_app.UseTheseUrls"]):
        handler = ASGIHandler()
    middleware = inspect.unwrap(handler._middleware_chain)  # the outermost, under Django's wrappers
    assert isinstance(middleware, tracking.AnalyticsDjangoMiddleware) and middleware.is_async
    tracker = tracking.django_tracker()

    async def main() -> None:
        transport = httpx.ASGITransport(app=handler)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            assert (await http.get("/orders/3/")).json() == {"order": 3}
            assert (await http.get("/boom/")).status_code == 500

    asyncio.run(main())
    tracker.close()
    counts, minima, events = read_back(host, sdk_tenant.secret_key, "django.asgi.duration", "Django Error")
    assert counts == Counter({("/orders/<int:pk>/", "GET", "200"): 1, ("/boom/", "GET", "500"): 1})
    assert all(value > 0 for value in minima.values()) and set(minima) == set(counts)
    assert [(e.properties["route"], e.properties["exception"]) for e in events] == [
        ("/boom/", "builtins.ValueError")]


# --- ASGI ---------------------------------------------------------------------------------------

class Router:
    """Starlette's shape: `scope["router"]` and `scope["endpoint"]` once a route matched."""

    def __init__(self) -> None:
        self.routes = [SimpleNamespace(path="/users/{name}", endpoint=self.user)]

    async def user(self) -> None:
        pass


ROUTER = Router()


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    path = scope["path"]
    if path.startswith("/items/"):
        # FastAPI's shape
        scope["route"] = SimpleNamespace(path="/items/{item_id:int}", path_format="/items/{item_id}")
    elif path.startswith("/users/"):
        scope.update(router=ROUTER, endpoint=ROUTER.user)  # Starlette
    if path == "/crash":
        raise Failure("asgi crash")
    if path == "/slow":  # never answers; the test cancels it, as a server does when the client leaves
        scope["started"].set()
        await asyncio.Event().wait()
    status = 502 if path == "/bad-gateway" else 200
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


def test_asgi_app_records_framework_routes_and_flushes_at_shutdown(sdk_tenant, host):
    tracker = RequestTracker(api_key=sdk_tenant.secret_key, host=host, flush_interval=30,
                             metric="asgi.duration", exclude_paths=["/health"])
    app = AnalyticsASGIMiddleware(asgi_app, tracker)

    async def main() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
            assert (await http.get("/items/5")).text == "ok"
            assert (await http.put("/items/6")).text == "ok"
            assert (await http.get("/users/ann")).status_code == 200
            assert (await http.get("/files/123456")).status_code == 200
            assert (await http.get("/bad-gateway")).status_code == 502
            assert (await http.get("/health")).status_code == 200
            with pytest.raises(Failure, match="asgi crash"):
                await http.get("/crash")
        started = asyncio.Event()
        scope = {"type": "http", "path": "/slow", "method": "GET", "root_path": "", "started": started}
        request = asyncio.create_task(app(scope, None, None))
        await started.wait()
        request.cancel()
        with pytest.raises(asyncio.CancelledError):
            await request
        # The server's shutdown: the lifespan's shutdown message sends what is queued.
        messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return next(messages)

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
        assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]

    asyncio.run(main())
    # Sent at the shutdown, not by the 30 s timer.
    assert tracker.client.stats.enqueued == 9 and tracker.client.stats.sent == 9

    counts, minima, events = read_back(host, sdk_tenant.secret_key, "asgi.duration", "$request_error")
    tracker.close()
    assert counts == Counter({("/items/{item_id}", "GET", "200"): 1, ("/items/{item_id}", "PUT", "200"): 1,
                              ("/users/{name}", "GET", "200"): 1, ("/files/{id}", "GET", "200"): 1,
                              ("/bad-gateway", "GET", "502"): 1, ("/crash", "GET", "500"): 1,
                              ("/slow", "GET", "499"): 1})
    assert all(value > 0 for value in minima.values()) and set(minima) == set(counts)
    errors = {event.properties["route"]: event.properties for event in events}
    assert sorted(errors) == ["/bad-gateway", "/crash"] and len(events) == 2
    assert errors["/crash"]["message"] == "asgi crash" and errors["/bad-gateway"]["status"] == 502


# --- the analytics server down ------------------------------------------------------------------

def test_a_hanging_analytics_server_never_slows_or_breaks_the_app():
    """The analytics server accepts connections and never answers: requests are as fast as without
    tracking, and closing gives up within the client's timeout and retries."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    try:
        tracker = RequestTracker(api_key="sk_test", host=f"http://127.0.0.1:{silent.getsockname()[1]}",
                                 flush_interval=0.01, timeout=2.0, max_retries=0)
        app = AnalyticsWSGIMiddleware(wsgi_app, tracker)
        environ: dict[str, Any] = {"PATH_INFO": "/orders/1"}
        setup_testing_defaults(environ)
        started = time.monotonic()
        for _ in range(200):
            body = app(dict(environ), lambda *args: None)
            assert list(body) == [b"ok"]
            body.close()
        with pytest.raises(Failure):
            app(dict(environ, PATH_INFO="/boom"), lambda *args: None)
        assert time.monotonic() - started < 1.5  # a request waiting on the server would take 2 s alone
        assert wait_for(lambda: tracker.client.stats.enqueued == 202)
        closing = time.monotonic()
        tracker.close()
        assert time.monotonic() - closing < 10
        assert tracker.client.stats.sent == 0 and tracker.client.stats.failed == 202
        app(dict(environ), lambda *args: None).close()  # after closing: still served, nothing recorded
    finally:
        silent.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_worker_records_through_a_client_of_its_own(sdk_tenant, host):
    """A pre-forking server (gunicorn --preload) makes the tracker in the parent; the parent's
    sending thread does not survive the fork, so each worker makes its own client."""
    tracker = RequestTracker(api_key=sdk_tenant.secret_key, host=host, flush_interval=0.05, metric="forked")
    app = AnalyticsWSGIMiddleware(wsgi_app, tracker)
    environ: dict[str, Any] = {}
    setup_testing_defaults(environ)
    app(dict(environ, PATH_INFO="/parent"), lambda *args: None).close()
    parent_client = tracker.client
    pid = os.fork()
    if pid == 0:  # the worker
        code = 3
        try:
            app(dict(environ, PATH_INFO="/child"), lambda *args: None).close()
            tracker.close()
            code = 0 if tracker.client is not parent_client and tracker.client.stats.sent == 1 else 4
        finally:
            os._exit(code)
    deadline = time.monotonic() + 30
    while (done := os.waitpid(pid, os.WNOHANG)) == (0, 0) and time.monotonic() < deadline:
        time.sleep(0.05)
    if done == (0, 0):
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    assert done != (0, 0) and os.waitstatus_to_exitcode(done[1]) == 0
    tracker.close()
    counts, _, _ = read_back(host, sdk_tenant.secret_key, "forked", "$request_error")
    assert counts == Counter({("/parent", "GET", "200"): 1, ("/child", "GET", "200"): 1})


def test_collapse_path():
    assert collapse_path("/orders/42/lines/7") == "/orders/{id}/lines/{id}"
    assert collapse_path("/u/7c9e6679-7425-40de-944b-e07fc1f90ae7") == "/u/{id}"
    assert collapse_path("/t/abcdef0123456789abcd") == "/t/{id}"
    assert collapse_path("/t/Ab3dE6gH9jK2mN5pQ8sT") == "/t/{id}"
    assert collapse_path("/pricing/enterprise-plan") == "/pricing/enterprise-plan"
    assert collapse_path("/v2/items") == "/v2/items"
    assert collapse_path("") == "/"

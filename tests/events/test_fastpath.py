"""The WSGI fast path for ingestion (analytics_project.wsgi.application) behaves like the Django path."""

from __future__ import annotations

import io
import json
import sys

import pytest
from django.core import signals
from django.db import close_old_connections

from analytics_project.wsgi import application
from apps.core import metrics
from tests.events.conftest import stored_events


def call(path: str, body: bytes | dict | None = None, *, method: str = "POST", key: str | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else b""
    environ = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "SERVER_NAME": "localhost", "SERVER_PORT": "80",
        "HTTP_HOST": "localhost", "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(raw)),
        "wsgi.input": io.BytesIO(raw), "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr,
        **({"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}), **(headers or {}),
    }
    captured: dict = {}

    def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
        captured["status"] = int(status.split()[0])
        captured["headers"] = {name.lower(): value for name, value in response_headers}

    # As Django's test client does: the test's transaction must survive the request signals.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        result = application(environ, start_response)
        content = b"".join(result)
        getattr(result, "close", lambda: None)()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)
    return captured["status"], captured["headers"], content


def test_a_track_goes_the_fast_way_and_is_stored(acme):
    status, headers, content = call("/v1/track", {"userId": "u", "event": "Fast"}, key=acme.write_key)
    assert status == 200 and json.loads(content) == {"accepted": 1, "rejected": []}
    assert headers["content-length"] == str(len(content)) and headers["content-type"] == "application/json"
    assert [e["event"] for e in stored_events(acme.tenant)] == ["Fast"]


def test_the_key_in_the_body_works_and_bad_keys_are_401(acme):
    assert call("/v1/batch", {"batch": [{"type": "track", "userId": "u", "event": "e"}],
                              "writeKey": acme.write_key})[0] == 200
    status, _, content = call("/v1/batch", {"batch": [{"type": "track", "userId": "u", "event": "e"}]},
                              key="wk_" + "z" * 40)
    assert status == 401 and json.loads(content)["error"]["code"] == "unauthenticated"
    assert call("/v1/track", {"userId": "u", "event": "e"})[0] == 401
    assert len(stored_events(acme.tenant)) == 1


def test_errors_have_the_same_body_as_the_django_path(client, acme):
    fast = call("/v1/batch", b"{broken", key=acme.write_key)
    slow = client.generic("POST", "/v1/batch", b"{broken", content_type="application/json",
                          HTTP_AUTHORIZATION=f"Bearer {acme.write_key}")
    assert fast[0] == slow.status_code == 400
    assert json.loads(fast[2]) == slow.json()


def test_cors_header_for_browser_origins(acme):
    _, headers, _ = call("/v1/track", {"userId": "u", "event": "e"}, key=acme.write_key,
                         headers={"HTTP_ORIGIN": "https://shop.example"})
    assert headers["access-control-allow-origin"] == "*"


def test_other_methods_and_paths_go_through_django(acme):
    assert call("/v1/track", method="GET", key=acme.write_key)[0] == 405
    assert call("/health/live", method="GET")[0] == 200
    status, headers, _ = call("/v1/track", method="OPTIONS", headers={
        "HTTP_ORIGIN": "https://shop.example", "HTTP_ACCESS_CONTROL_REQUEST_METHOD": "POST"})
    assert status == 200 and headers["access-control-allow-origin"] == "*"


def test_an_unexpected_error_is_a_500_with_the_error_body_and_the_schema_is_reset(acme, monkeypatch):
    from django.db import connection

    from apps.events.api import ingest

    def explode(**kwargs):  # noqa: ANN003, ANN202
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(ingest, "events_store", explode)
    status, _, content = call("/v1/track", {"userId": "u", "event": "e"}, key=acme.write_key)
    assert status == 500
    assert json.loads(content) == {"error": {"code": "server_error", "message": "Internal server error.",
                                             "details": None}}
    assert connection.schema_name == "public"


def test_requests_are_counted_in_the_metrics(acme):
    before = metrics.REQUESTS.labels("POST", "v1/track", "200")._value.get()
    call("/v1/track", {"userId": "u", "event": "e"}, key=acme.write_key)
    assert metrics.REQUESTS.labels("POST", "v1/track", "200")._value.get() == before + 1


@pytest.mark.parametrize("path", ["/v1/identify", "/api/v1/events/track", "/capture/"])
def test_every_ingestion_path_is_routed(acme, path):
    body = {"/v1/identify": {"userId": "u", "traits": {"a": 1}},
            "/api/v1/events/track": {"event_name": "n", "user_id": "u"},
            "/capture/": {"event": "c", "distinct_id": "u"}}[path]
    assert call(path, body, key=acme.write_key)[0] == 200

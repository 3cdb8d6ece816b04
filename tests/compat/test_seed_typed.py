"""Seed 003's typed tracking forms (`/api/analytics/track/action|api-request|error|system-metrics`)
under /api/v1/track/ (and the seed's own prefix): each is stored as an event or metric values, read
back from storage and through our API."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from apps.tenancy.services import api_key_create
from tests.helpers import assert_error, bearer


def post(client, key: str, path: str, body):  # noqa: ANN001, ANN201
    return client.post(path, json.dumps(body), content_type="application/json", **bearer(key))


def events(tenant) -> list[tuple]:  # noqa: ANN001
    with schema_context(tenant.schema_name), connection.cursor() as cursor:
        cursor.execute("SELECT event, user_id, anonymous_id, session_id, properties FROM events ORDER BY id")
        return [(e, u, a, s, json.loads(p)) for e, u, a, s, p in cursor.fetchall()]


def values(tenant) -> list[tuple]:  # noqa: ANN001
    with schema_context(tenant.schema_name), connection.cursor() as cursor:
        cursor.execute("SELECT m.name, m.metric_type, v.value, v.dimensions FROM metric_values v "
                       "JOIN metrics m ON m.id = v.metric_id ORDER BY m.name, v.value")
        return [(n, t, v, json.loads(d) if isinstance(d, str) else d) for n, t, v, d in cursor.fetchall()]


@pytest.mark.parametrize("prefix", ["/api/v1/track", "/api/analytics/track"])
def test_an_action_is_an_event_named_by_it(client, acme, prefix):
    response = post(client, acme.write_key, f"{prefix}/action",
                    {"user_id": "user123", "session_id": "s1", "action": "login", "details": {"method": "oauth"}})
    assert response.status_code == 200, response.content
    assert response.json() == {"accepted": 1, "rejected": []}
    assert events(acme.tenant) == [("login", "user123", None, "s1", {"method": "oauth"})]
    listed = client.get("/api/v1/events?event=login", **bearer(acme.secret_key))
    assert listed.status_code == 200 and [e["event"] for e in listed.json()["results"]] == ["login"]


def test_an_api_request_is_a_duration_value_and_a_server_error_also_an_event(client, acme):
    for status, duration in ((200, 12.5), (503, 900)):
        response = post(client, acme.write_key, "/api/v1/track/api-request",
                        {"endpoint": "/orders", "method": "get", "status": status, "duration_ms": duration,
                         "user_id": "u1"})
        assert response.status_code == 200, response.content
        assert response.json()["events"] == (1 if status >= 500 else 0)
    assert values(acme.tenant) == [
        ("api_request.duration", "histogram", 12.5, {"endpoint": "/orders", "method": "GET", "status": "200"}),
        ("api_request.duration", "histogram", 900.0, {"endpoint": "/orders", "method": "GET", "status": "503"}),
    ]
    assert events(acme.tenant) == [("$api_error", "u1", None, None,
                                    {"endpoint": "/orders", "method": "GET", "status": 503, "duration_ms": 900})]
    metric = client.get("/api/v1/metrics/api_request.duration", **bearer(acme.secret_key))
    assert metric.status_code == 200 and metric.json()["metric_type"] == "histogram"


def test_an_error_is_an_error_event_with_bounded_fields(client, acme):
    response = post(client, acme.write_key, "/api/v1/track/error",
                    {"error_type": "ValueError", "message": "bad", "stack": "Traceback...", "session_id": "s9"})
    assert response.status_code == 200, response.content
    assert events(acme.tenant) == [("$error", None, "$server", "s9",
                                    {"error_type": "ValueError", "message": "bad", "stack": "Traceback..."})]
    too_long = post(client, acme.write_key, "/api/v1/track/error",
                    {"error_type": "E", "message": "m", "stack": "x" * 16_001})
    assert "stack" in assert_error(too_long, 400, "invalid")["message"]
    assert len(events(acme.tenant)) == 1


def test_system_metrics_are_gauge_values(client, acme):
    response = post(client, acme.write_key, "/api/analytics/track/system-metrics",
                    {"cpu_percent": 41.5, "memory_percent": 70, "dimensions": {"host": "web-1"}})
    assert response.status_code == 200, response.content
    assert response.json() == {"accepted": 2, "rejected": []}
    assert values(acme.tenant) == [("system.cpu_percent", "gauge", 41.5, {"host": "web-1"}),
                                   ("system.memory_percent", "gauge", 70.0, {"host": "web-1"})]


@pytest.mark.parametrize(("path", "body"), [
    ("action", {"user_id": "u1"}),  # no action
    ("action", {"action": "login"}),  # no user
    ("action", {"action": "login", "user_id": "u1", "details": [1]}),
    ("action", {"action": "login", "user_id": "u1", "extra": 1}),
    ("action", [1, 2]),
    ("api-request", {"endpoint": "/a", "method": "GET", "status": 999, "duration_ms": 1}),
    ("api-request", {"endpoint": "/a", "method": "GET", "status": 200, "duration_ms": -1}),
    ("api-request", {"endpoint": "/a", "method": "GET", "status": 200, "duration_ms": 10**400}),
    ("api-request", {"endpoint": "/a", "method": "GET", "status": "200", "duration_ms": 1}),
    ("api-request", {"endpoint": "x" * 201, "method": "GET", "status": 200, "duration_ms": 1}),
    ("error", {"message": "no type"}),
    ("error", {"error_type": "E", "message": "m" * 2001}),
    ("system-metrics", {}),
    ("system-metrics", {"cpu_percent": "high"}),
    ("system-metrics", {"CPU": 1}),
    ("system-metrics", {"cpu_percent": 1, "dimensions": {"bad name": "x"}}),
    ("system-metrics", [1]),
])
def test_bad_input_is_a_400_and_stores_nothing(client, acme, path, body):
    assert_error(post(client, acme.write_key, f"/api/v1/track/{path}", body), 400, "invalid")
    assert events(acme.tenant) == [] and values(acme.tenant) == []


def test_keys_and_scopes(client, acme):
    body = {"action": "login", "user_id": "u1"}
    assert_error(client.post("/api/v1/track/action", json.dumps(body), content_type="application/json"),
                 401, "unauthenticated")
    assert_error(client.post("/api/v1/track/system-metrics", json.dumps({"cpu_percent": 1}),
                             content_type="application/json"), 401, "unauthenticated")
    assert post(client, acme.secret_key, "/api/v1/track/action", body).status_code == 200
    reader = api_key_create(tenant=acme.tenant, kind="secret", scopes=["read"]).raw
    response = post(client, reader, "/api/v1/track/system-metrics", {"cpu_percent": 1})
    assert response.status_code == 403, response.content
    assert values(acme.tenant) == []


def test_a_tenant_tracks_into_its_own_schema(client, acme, globex):
    assert post(client, globex.write_key, "/api/v1/track/action", {"action": "a", "user_id": "u"}).status_code == 200
    assert post(client, globex.write_key, "/api/v1/track/system-metrics", {"cpu_percent": 3}).status_code == 200
    assert events(acme.tenant) == [] and values(acme.tenant) == []
    assert len(events(globex.tenant)) == 1 and len(values(globex.tenant)) == 1

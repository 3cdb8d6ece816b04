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
    assert post(client, acme.write_key, "/api/v1/track/action/", body).status_code == 200  # trailing slash
    reader = api_key_create(tenant=acme.tenant, kind="secret", scopes=["read"]).raw
    response = post(client, reader, "/api/v1/track/system-metrics", {"cpu_percent": 1})
    assert response.status_code == 403, response.content
    assert values(acme.tenant) == []


def test_a_tenant_tracks_into_its_own_schema(client, acme, globex):
    assert post(client, globex.write_key, "/api/v1/track/action", {"action": "a", "user_id": "u"}).status_code == 200
    assert post(client, globex.write_key, "/api/v1/track/system-metrics", {"cpu_percent": 3}).status_code == 200
    assert events(acme.tenant) == [] and values(acme.tenant) == []
    assert len(events(globex.tenant)) == 1 and len(values(globex.tenant)) == 1


# --- GET /api/v1/status (seed 000) -----------------------------------------------------------------


def status(client, key: str) -> dict:  # noqa: ANN001
    response = client.get("/api/v1/status", **bearer(key))
    assert response.status_code == 200, response.content
    return response.json()


def test_status_of_a_new_tenant(client, acme):
    body = status(client, acme.secret_key)
    assert body["ingestion"] == {"last_event_received_at": None, "lag_seconds": None, "known": True}
    assert body["usage"]["events"] == 0 and body["usage"]["monthly_event_quota"] == acme.tenant.monthly_event_quota
    assert isinstance(body["queue_depth"], int)
    jobs = body["jobs"]
    assert jobs["alerts"] == {"every_seconds": 60.0, "rules": 0, "enabled": 0, "firing": 0, "errors": 0, "firings": 0,
                              "last_check_at": None, "last_firing_at": None}
    assert jobs["metric_rollups"]["state"] == "up_to_date" and jobs["metric_rollups"]["oldest_pending_minute"] is None
    assert jobs["segment_refreshes"]["segments"] == 0 and jobs["segment_refreshes"]["next_due_at"] is None
    assert jobs["reports"] == {"scheduled": 0, "next_due_at": None, "last_run": None, "last_failure_at": None}


def test_status_follows_ingestion_and_jobs(client, acme, globex):
    from datetime import datetime, timedelta, timezone

    from apps.reports.models import Report, ReportRun
    from apps.segments.models import Segment

    before = datetime.now(timezone.utc)
    assert post(client, acme.write_key, "/api/v1/track/action", {"action": "a", "user_id": "u"}).status_code == 200
    assert post(client, acme.write_key, "/api/v1/track/system-metrics", {"cpu_percent": 5}).status_code == 200
    now = datetime.now(timezone.utc)
    refreshed, due = now - timedelta(hours=1), now + timedelta(hours=2)
    with schema_context(acme.tenant.schema_name):
        Segment.objects.create(name="fresh", refreshed_at=refreshed)
        report = Report.objects.create(name="weekly", report_type="dashboard", next_run_at=due)
        ReportRun.objects.create(report=report, status=ReportRun.Status.FAILED, finished_at=now)
    body = status(client, acme.secret_key)
    received = datetime.fromisoformat(body["ingestion"]["last_event_received_at"])
    assert before <= received <= datetime.now(timezone.utc)
    assert 0 <= body["ingestion"]["lag_seconds"] < 60
    assert body["usage"]["events"] == 1  # the action (metric values are not events)
    rollups = body["jobs"]["metric_rollups"]
    assert rollups["state"] == "pending" and rollups["oldest_pending_minute"] is not None
    segments = body["jobs"]["segment_refreshes"]
    assert segments["segments"] == 1 and segments["never_refreshed"] == 0
    assert datetime.fromisoformat(segments["last_run_at"]) == refreshed
    assert datetime.fromisoformat(segments["next_due_at"]) >= now
    reports = body["jobs"]["reports"]
    assert reports["scheduled"] == 1 and datetime.fromisoformat(reports["next_due_at"]) == due
    assert reports["last_run"]["status"] == "failed" and reports["last_failure_at"] is not None
    # Tenant isolation: globex sees none of it.
    theirs = status(client, globex.secret_key)
    assert theirs["ingestion"]["last_event_received_at"] is None and theirs["usage"]["events"] == 0
    assert theirs["jobs"]["metric_rollups"]["state"] == "up_to_date"
    assert theirs["jobs"]["segment_refreshes"]["segments"] == 0 and theirs["jobs"]["reports"]["last_run"] is None


def test_status_needs_a_secret_key_with_read_scope(client, acme):
    assert_error(client.get("/api/v1/status"), 401, "unauthenticated")
    assert_error(client.get("/api/v1/status", **bearer(acme.write_key)), 403, "forbidden")
    writer = api_key_create(tenant=acme.tenant, kind="secret", scopes=["write"]).raw
    assert client.get("/api/v1/status", **bearer(writer)).status_code == 403
    reader = api_key_create(tenant=acme.tenant, kind="secret", scopes=["read"]).raw
    assert status(client, reader)["jobs"]["alerts"]["rules"] == 0

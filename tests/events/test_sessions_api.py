"""Explicit sessions (seed 003): POST /api/v1/sessions/start and /api/v1/sessions/{id}/end, also at
the seed's /api/analytics/session/... paths: events stored through ingestion, idempotent end, 404 for
unknown and other tenants' ids, the query engine seeing one session."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from django_tenants.utils import schema_context

from apps.events.models import ExplicitSession
from apps.insights.engine import query_run
from apps.tenancy.services import api_key_create
from tests.events.conftest import stored_events
from tests.helpers import assert_error, bearer


def post(client, path: str, key: str, body: dict | None = None):  # noqa: ANN001, ANN201
    return client.post(path, body if body is not None else {}, content_type="application/json", **bearer(key))


@pytest.mark.parametrize("prefix", ["/api/v1/sessions", "/api/analytics/session"])
def test_start_and_end_store_events_and_end_is_idempotent(client, acme, prefix):
    started = post(client, f"{prefix}/start", acme.write_key,
                   {"user_id": "u1", "ip_address": "203.0.113.9", "properties": {"plan": "pro"},
                    "timestamp": "2026-11-20T10:00:00Z"})
    assert started.status_code == 201, started.content
    body = started.json()
    session_id = body["session_id"]
    assert session_id.startswith("ses_") and body["started_at"] == "2026-11-20T10:00:00+00:00"
    [event] = stored_events(acme.tenant)
    assert (event["event"], event["distinct_id"], event["session_id"]) == ("$session_start", "u1", session_id)
    assert event["context"] == {"ip": "203.0.113.9"} and event["properties"] == {"plan": "pro"}

    ended = post(client, f"{prefix}/{session_id}/end", acme.write_key, {"timestamp": "2026-11-20T10:12:30Z"})
    assert ended.status_code == 200, ended.content
    assert ended.json() == {"session_id": session_id, "started_at": "2026-11-20T10:00:00+00:00",
                            "ended_at": "2026-11-20T10:12:30+00:00", "duration_seconds": 750.0}
    again = post(client, f"{prefix}/{session_id}/end", acme.write_key)
    assert again.status_code == 200 and again.json() == ended.json()
    events = stored_events(acme.tenant)
    assert [e["event"] for e in events] == ["$session_start", "$session_end"]
    assert events[1]["session_id"] == session_id and events[1]["distinct_id"] == "u1"
    assert events[1]["properties"] == {"duration_seconds": 750.0}


def test_the_query_engine_sees_one_session(client, acme):
    session_id = post(client, "/api/v1/sessions/start", acme.write_key,
                      {"anonymous_id": "a1", "timestamp": "2026-11-20T10:00:00Z"}).json()["session_id"]
    # Events of the session two hours apart: one session all the same (its id, not the gap).
    response = client.post("/api/v1/events/track", {"event_name": "Click", "anonymous_id": "a1",
                                                     "session_id": session_id, "timestamp": "2026-11-20T11:00:00Z"},
                           content_type="application/json", **bearer(acme.write_key))
    assert response.status_code == 200
    post(client, f"/api/v1/sessions/{session_id}/end", acme.write_key, {"timestamp": "2026-11-20T12:00:00Z"})
    with schema_context(acme.tenant.schema_name):
        answer = query_run(data={"kind": "sessions", "date_from": "2026-11-20", "date_to": "2026-11-21",
                                 "timezone": "UTC", "measures": ["sessions", "mean_duration", "events_per_session"]},
                           tenant=acme.tenant)
    assert [s["total"] for s in answer["series"]] == [1, 7200, 3]


def test_default_times_are_now(client, acme):
    before = datetime.now(timezone.utc)
    body = post(client, "/api/v1/sessions/start", acme.write_key, {"user_id": "u1"}).json()
    ended = post(client, f"/api/v1/sessions/{body['session_id']}/end", acme.write_key).json()
    after = datetime.now(timezone.utc)
    started_at, ended_at = datetime.fromisoformat(ended["started_at"]), datetime.fromisoformat(ended["ended_at"])
    assert before <= started_at <= ended_at <= after
    assert ended["duration_seconds"] == (ended_at - started_at).total_seconds()


def test_bad_requests_are_400_and_store_nothing(client, acme):
    for body in [{}, {"ip_address": "1.2.3.4"}, {"user_id": "u", "ip_address": "not an ip"},
                 {"user_id": "u", "properties": "x"}, {"user_id": "u", "timestamp": "yesterday"}]:
        assert_error(post(client, "/api/v1/sessions/start", acme.write_key, body), 400, "invalid")
    assert stored_events(acme.tenant) == []
    session_id = post(client, "/api/v1/sessions/start", acme.write_key,
                      {"user_id": "u", "timestamp": "2026-11-20T10:00:00Z"}).json()["session_id"]
    assert_error(post(client, f"/api/v1/sessions/{session_id}/end", acme.write_key,
                      {"timestamp": "2026-11-20T09:00:00Z"}), 400, "invalid")
    assert_error(post(client, f"/api/v1/sessions/{session_id}/end", acme.write_key, {"timestamp": "soon"}),
                 400, "invalid")
    assert [e["event"] for e in stored_events(acme.tenant)] == ["$session_start"]
    with schema_context(acme.tenant.schema_name):
        assert ExplicitSession.objects.get(pk=session_id).ended_at is None


def test_unknown_and_other_tenants_sessions_are_404(client, acme, globex):
    assert_error(post(client, "/api/v1/sessions/ses_nope/end", acme.write_key), 404, "not_found")
    theirs = post(client, "/api/v1/sessions/start", globex.write_key, {"user_id": "g"}).json()["session_id"]
    assert_error(post(client, f"/api/v1/sessions/{theirs}/end", acme.write_key), 404, "not_found")
    assert_error(post(client, f"/api/analytics/session/{theirs}/end", acme.secret_key), 404, "not_found")
    assert stored_events(acme.tenant) == []
    assert [e["event"] for e in stored_events(globex.tenant)] == ["$session_start"]
    with schema_context(globex.tenant.schema_name):
        assert ExplicitSession.objects.get(pk=theirs).ended_at is None


def test_keys(client, acme):
    assert_error(client.post("/api/v1/sessions/start", {"user_id": "u"}, content_type="application/json"),
                 401, "unauthenticated")
    reader = api_key_create(tenant=acme.tenant, kind="secret", scopes=["read"]).raw
    assert_error(post(client, "/api/v1/sessions/start", reader, {"user_id": "u"}), 403, "insufficient_scope")
    assert_error(post(client, "/api/analytics/session/start", reader, {"user_id": "u"}), 403, "insufficient_scope")
    assert post(client, "/api/v1/sessions/start", acme.secret_key, {"user_id": "u"}).status_code == 201

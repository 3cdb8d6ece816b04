"""Seed 002's REST API (its "API Documentation" and "Monitoring" sections) under /api/v1/, as one
compatibility surface: the requests are sent as the seed writes them, and each effect is read back
from storage or through our own API."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from django.db import connection
from django_tenants.utils import schema_context

from tests.helpers import assert_error, bearer

NOW = datetime.now(timezone.utc).replace(microsecond=0)
DAY_BEFORE = (NOW - timedelta(days=2)).date().isoformat()
DAY_AFTER = (NOW + timedelta(days=2)).date().isoformat()


def post(client, key: str, path: str, body: dict):  # noqa: ANN001, ANN201
    return client.post(path, json.dumps(body), content_type="application/json", **bearer(key))


def stored(tenant) -> list[tuple]:  # noqa: ANN001
    with schema_context(tenant.schema_name), connection.cursor() as cursor:
        cursor.execute("SELECT event_type, event, properties, context FROM events ORDER BY id")
        return [(t, e, json.loads(p), json.loads(c)) for t, e, p, c in cursor.fetchall()]


def count(client, key: str, series: dict) -> int:  # noqa: ANN001
    spec = {"kind": "trends", "date_from": DAY_BEFORE, "date_to": DAY_AFTER, "interval": "day", "series": [series]}
    response = post(client, key, "/api/v1/query", spec)
    assert response.status_code == 200, response.content
    return response.json()["series"][0]["total"]


def test_a_seed_page_view_and_a_segment_page_are_the_same_event(client, acme):
    # Seed: POST /events/track {"event_type": "page_view", "event_name": "dashboard_view", ...}
    seed = post(client, acme.write_key, "/api/v1/events/track", {
        "event_type": "page_view", "event_name": "dashboard_view", "user_id": "user_123",
        "properties": {"page": "/dashboard"}})
    assert seed.status_code == 200 and seed.json() == {"accepted": 1, "rejected": []}
    segment = post(client, acme.write_key, "/v1/page", {"userId": "user_9", "name": "Home"})
    assert segment.status_code == 200
    rows = stored(acme.tenant)
    assert [(t, e) for t, e, _, _ in rows] == [("page", "$pageview"), ("page", "$pageview")]
    assert rows[0][2] == {"page": "/dashboard", "name": "dashboard_view"}
    for series in ({"event": "$pageview"}, {"event_type": "page_view"}, {"event_type": "page"}):
        assert count(client, acme.secret_key, series) == 2


def test_seed_event_types_click_conversion_custom_are_kept(client, acme):
    for event_type, name in (("click", "button_1"), ("conversion", "purchase"), ("custom", "sync_done")):
        response = post(client, acme.write_key, "/api/v1/events/track/",
                        {"event_type": event_type, "event_name": name, "user_id": "u1"})
        assert response.status_code == 200, response.content
    assert [(t, e) for t, e, _, _ in stored(acme.tenant)] == [
        ("click", "button_1"), ("conversion", "purchase"), ("custom", "sync_done")]
    assert count(client, acme.secret_key, {"event_type": "conversion"}) == 1
    assert count(client, acme.secret_key, {"event": "purchase"}) == 1
    bad = post(client, acme.write_key, "/api/v1/events/track", {"event_type": "teleport", "event_name": "x",
                                                                 "user_id": "u1"})
    assert_error(bad, 400, "invalid")
    assert len(stored(acme.tenant)) == 3


def test_the_seed_batch_path_with_its_source(client, acme):
    response = post(client, acme.write_key, "/api/v1/events/track/batch", {
        "events": [{"event_type": "page_view", "event_name": "home", "user_id": "u1"},
                   {"event_type": "click", "event_name": "cta", "user_id": "u1", "context": {"source": "ios"}},
                   {"event_type": "nope", "event_name": "x", "user_id": "u1"}],
        "source": "web_app"})
    assert response.status_code == 200
    assert response.json()["accepted"] == 2 and [r["index"] for r in response.json()["rejected"]] == [2]
    assert [c.get("source") for _, _, _, c in stored(acme.tenant)] == ["web_app", "ios"]
    assert_error(post(client, acme.write_key, "/api/v1/events/track/batch", {"events": [], "source": 5}),
                 400, "invalid")


def test_events_query_filters_by_seed_type_and_time(client, acme):
    for n in range(3):
        post(client, acme.write_key, "/api/v1/events/track", {
            "event_type": "page_view", "event_name": f"p{n}", "user_id": "u1",
            "timestamp": (NOW - timedelta(hours=n)).isoformat()})
    post(client, acme.write_key, "/api/v1/events/track", {"event_type": "click", "event_name": "b", "user_id": "u1"})
    # Seed: POST /events/query {"event_type": "page_view", "start_time": ..., "limit": 100}
    body = {"event_type": "page_view", "start_time": (NOW - timedelta(hours=1, minutes=30)).isoformat(), "limit": 100}
    response = post(client, acme.secret_key, "/api/v1/events/query", body)
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [e["properties"]["name"] for e in results] == ["p0", "p1"]
    assert {e["event_type"] for e in results} == {"page"} and response.json()["next"] is None
    page = post(client, acme.secret_key, "/api/v1/events/query", {"event_type": "page_view", "limit": 2})
    assert len(page.json()["results"]) == 2 and page.json()["next"]
    rest = client.post(page.json()["next"], json.dumps({"event_type": "page_view", "limit": 2}),
                       content_type="application/json", **bearer(acme.secret_key))
    assert [e["properties"]["name"] for e in rest.json()["results"]] == ["p2"]
    assert_error(post(client, acme.write_key, "/api/v1/events/query", body), 403, "forbidden")
    assert_error(post(client, acme.secret_key, "/api/v1/events/query", {"event_type": "nope"}), 400, "invalid")


def test_seed_metrics_create_record_by_metric_id_and_aggregate(client, acme):
    created = post(client, acme.secret_key, "/api/v1/metrics/", {
        "name": "response_time", "display_name": "Response Time", "metric_type": "histogram",
        "unit": "milliseconds"})
    assert created.status_code == 201, created.content
    hour = NOW.replace(minute=0, second=0) - timedelta(hours=1)
    for value in (120.5, 79.5):
        # Seed: POST /metrics/values {"metric_id", "value", "dimensions"} (a write key is enough)
        recorded = post(client, acme.write_key, "/api/v1/metrics/values", {
            "metric_id": "response_time", "value": value, "dimensions": {"endpoint": "/api/users"},
            "timestamp": (hour + timedelta(minutes=5)).isoformat()})
        assert recorded.status_code == 200, recorded.content
    answer = post(client, acme.secret_key, "/api/v1/metrics/aggregate", {
        "metric_id": "response_time", "aggregation_method": "avg", "granularity": "hour",
        "start_time": hour.isoformat(), "end_time": (hour + timedelta(hours=2)).isoformat()})
    assert answer.status_code == 200, answer.content
    series = answer.json()["series"]
    assert series[0]["values"][0] == 100.0 and answer.json()["aggregation"] == "avg"
    assert_error(post(client, acme.write_key, "/api/v1/metrics/values", {"value": 1}), 400, "invalid")
    assert_error(post(client, acme.write_key, "/api/v1/metrics/values", {"metric_id": "nope", "value": 1}),
                 404, "metric_not_found")


def test_a_metric_without_a_dimension_list_takes_any_until_its_series_limit(client, acme, settings):
    settings.METRIC_MAX_SERIES = 3
    post(client, acme.secret_key, "/api/v1/metrics", {"name": "active_users", "metric_type": "gauge"})
    for region in ("us-east", "eu-west", "ap-south"):
        response = post(client, acme.write_key, "/api/v1/metrics/values",
                        {"metric_id": "active_users", "value": 150, "dimensions": {"region": region}})
        assert response.status_code == 200, response.content
    again = post(client, acme.write_key, "/api/v1/metrics/values",
                 {"metric_id": "active_users", "value": 151, "dimensions": {"region": "us-east"}})
    assert again.status_code == 200
    over = post(client, acme.write_key, "/api/v1/metrics/values",
                {"metric_id": "active_users", "value": 1, "dimensions": {"region": "sa-east"}})
    assert_error(over, 400, "too_many_series")
    batch = post(client, acme.write_key, "/api/v1/metrics/values/batch", {"values": [
        {"metric": "active_users", "value": 2, "dimensions": {"region": "eu-west"}},
        {"metric": "active_users", "value": 3, "dimensions": {"region": "af-south"}}]})
    assert batch.status_code == 200 and batch.json()["accepted"] == 1
    assert [r["index"] for r in batch.json()["rejected"]] == [0 + 1] and "limit" in batch.json()["rejected"][0]["error"]
    bad_name = post(client, acme.write_key, "/api/v1/metrics/values",
                    {"metric_id": "active_users", "value": 1, "dimensions": {"bad name!": "x"}})
    assert_error(bad_name, 400, "invalid")
    with schema_context(acme.tenant.schema_name), connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM metric_values")
        assert cursor.fetchone()[0] == 5


def test_a_funnel_of_seed_event_types(client, acme):
    for user in ("a", "b", "c"):
        post(client, acme.write_key, "/api/v1/events/track", {"event_type": "page_view", "user_id": user,
                                                              "timestamp": (NOW - timedelta(minutes=30)).isoformat()})
    for user in ("a", "b"):
        post(client, acme.write_key, "/api/v1/events/track", {"event_type": "click", "event_name": "buy-button",
                                                              "user_id": user,
                                                              "timestamp": (NOW - timedelta(minutes=20)).isoformat()})
    post(client, acme.write_key, "/api/v1/events/track", {"event_type": "conversion", "event_name": "purchase",
                                                          "user_id": "a",
                                                          "timestamp": (NOW - timedelta(minutes=10)).isoformat()})
    spec = {"kind": "funnel", "date_from": DAY_BEFORE, "date_to": DAY_AFTER,
            "steps": [{"event_type": "page_view"}, {"event_type": "click"}, {"event": "purchase"}]}
    response = post(client, acme.secret_key, "/api/v1/query", spec)
    assert response.status_code == 200, response.content
    assert [(s["event"], s["count"]) for s in response.json()["steps"]] == [
        ("page_view", 3), ("click", 2), ("purchase", 1)]
    both = post(client, acme.secret_key, "/api/v1/query", {**spec, "steps": [{"event": "x", "event_type": "click"},
                                                                               {"event": "y"}]})
    assert_error(both, 400, "invalid")


def test_seed_rest_is_isolated_between_tenants(client, acme, globex):
    post(client, acme.write_key, "/api/v1/events/track", {"event_type": "page_view", "user_id": "u1"})
    post(client, acme.secret_key, "/api/v1/metrics", {"name": "m", "metric_type": "gauge"})
    assert post(client, globex.secret_key, "/api/v1/events/query", {}).json()["results"] == []
    assert_error(post(client, globex.write_key, "/api/v1/metrics/values", {"metric_id": "m", "value": 1}),
                 404, "metric_not_found")
    assert_error(post(client, globex.secret_key, "/api/v1/metrics/aggregate", {"metric_id": "m"}), 404, "metric_not_found")

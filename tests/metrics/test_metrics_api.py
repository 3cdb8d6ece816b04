"""Metric definitions and values over the API: validation, per-value errors, keys, isolation."""

from __future__ import annotations

import json

from django.db import connection
from django_tenants.utils import schema_context

from tests.helpers import assert_error, bearer


def stored(tenant) -> list[tuple]:  # noqa: ANN001
    with schema_context(tenant.schema_name), connection.cursor() as cursor:
        cursor.execute("SELECT m.name, v.value, v.dimensions::text FROM metric_values v "
                       "JOIN metrics m ON m.id = v.metric_id ORDER BY v.id")
        return [(name, value, json.loads(dimensions)) for name, value, dimensions in cursor.fetchall()]


def create(client, key: str, **fields):  # noqa: ANN001, ANN003, ANN201
    body = {"name": "api.latency", "metric_type": "histogram", "unit": "ms", "dimensions": ["region", "route"],
            **fields}
    return client.post("/api/v1/metrics", body, content_type="application/json", **bearer(key))


def test_create_read_change_list_and_delete(client, acme):
    response = create(client, acme.secret_key, tags=["api"], display_name="API latency")
    assert response.status_code == 201
    assert response.json()["name"] == "api.latency" and response.json()["dimensions"] == ["region", "route"]
    assert_error(create(client, acme.secret_key), 409, "metric_exists")
    changed = client.patch("/api/v1/metrics/api.latency", {"unit": "s", "dimensions": ["region"]},
                           content_type="application/json", **bearer(acme.secret_key))
    assert changed.status_code == 200 and changed.json()["unit"] == "s" and changed.json()["dimensions"] == ["region"]
    error = assert_error(client.patch("/api/v1/metrics/api.latency", {"metric_type": "gauge"},
                                      content_type="application/json", **bearer(acme.secret_key)), 400, "invalid")
    assert error["details"] == {"metric_type": "immutable"}
    create(client, acme.secret_key, name="signups", metric_type="counter", tags=["growth"])
    listed = client.get("/api/v1/metrics", **bearer(acme.secret_key)).json()
    assert [m["name"] for m in listed["results"]] == ["api.latency", "signups"]
    assert [m["name"] for m in client.get("/api/v1/metrics?tag=growth", **bearer(acme.secret_key)).json()["results"]] \
        == ["signups"]
    client.post("/api/v1/metrics/signups/values", {"value": 3}, content_type="application/json",
                **bearer(acme.write_key))
    assert client.delete("/api/v1/metrics/signups", **bearer(acme.secret_key)).status_code == 204
    assert_error(client.get("/api/v1/metrics/signups", **bearer(acme.secret_key)), 404, "metric_not_found")
    assert stored(acme.tenant) == []  # its values went with it


def test_invalid_definitions_are_400_naming_the_field(client, acme):
    assert "name" in assert_error(create(client, acme.secret_key, name="Bad Name"), 400, "invalid")["details"]
    assert "metric_type" in assert_error(create(client, acme.secret_key, metric_type="meter"), 400, "invalid")["details"]
    assert "dimensions" in assert_error(create(client, acme.secret_key, dimensions=["a", "a"]), 400, "invalid")["details"]
    assert client.get("/api/v1/metrics", **bearer(acme.secret_key)).json()["results"] == []


def test_values_are_checked_against_the_metric(client, acme):
    create(client, acme.secret_key)
    create(client, acme.secret_key, name="orders", metric_type="counter", dimensions=[])

    def post(name: str, body: dict):  # noqa: ANN202
        return client.post(f"/api/v1/metrics/{name}/values", body, content_type="application/json",
                           **bearer(acme.write_key))

    assert post("api.latency", {"value": 12.5, "dimensions": {"region": "eu", "route": 3}}).json() == \
        {"accepted": 1, "rejected": []}
    assert post("orders", {"value": 2, "timestamp": "2026-11-01T10:00:00Z"}).status_code == 200
    assert "counter" in assert_error(post("orders", {"value": -1}), 400, "invalid")["message"]
    assert "not allowed" in assert_error(post("api.latency", {"value": 1, "dimensions": {"host": "a"}}), 400,
                                         "invalid")["message"]
    assert_error(post("api.latency", {"value": "fast"}), 400, "invalid")
    assert_error(post("api.latency", {"value": True}), 400, "invalid")
    assert_error(post("api.latency", {"value": 10**400}), 400, "invalid")  # beyond any float
    assert_error(post("api.latency", {"value": 1, "dimensions": {"region": 10**400}}), 400, "invalid")
    assert_error(post("api.latency", {"value": 1, "timestamp": "yesterday"}), 400, "invalid")
    assert_error(post("api.latency", {"value": 1, "timestamp": "2026-11-01T10:00:00"}), 400, "invalid")  # no zone
    assert_error(post("api.latency", {"value": 1, "timestamp": "2099-01-01T00:00:00Z"}), 400, "invalid")
    assert_error(post("api.latency", {"value": 1, "extra": True}), 400, "invalid")
    assert_error(post("nope", {"value": 1}), 404, "metric_not_found")
    assert stored(acme.tenant) == [("api.latency", 12.5, {"region": "eu", "route": "3"}), ("orders", 2.0, {})]


def test_a_batch_stores_the_good_values_and_lists_the_bad(client, acme):
    create(client, acme.secret_key)
    create(client, acme.secret_key, name="orders", metric_type="counter", dimensions=["plan"])
    response = client.post("/api/v1/metrics/values/batch", {"values": [
        {"metric": "orders", "value": 1, "dimensions": {"plan": "pro"}},
        {"metric": "orders", "value": -1},
        {"metric": "missing", "value": 1},
        {"metric": "api.latency", "value": 80},
        "not an object",
    ]}, content_type="application/json", **bearer(acme.write_key))
    body = response.json()
    assert response.status_code == 200 and body["accepted"] == 2
    assert [r["index"] for r in body["rejected"]] == [1, 2, 4]
    assert stored(acme.tenant) == [("orders", 1.0, {"plan": "pro"}), ("api.latency", 80.0, {})]
    error = assert_error(client.post("/api/v1/metrics/values/batch", {"values": [{"metric": "orders", "value": -5}]},
                                     content_type="application/json", **bearer(acme.write_key)), 400, "invalid")
    assert error["details"]["accepted"] == 0
    assert_error(client.post("/api/v1/metrics/values/batch", {"values": []}, content_type="application/json",
                             **bearer(acme.write_key)), 400, "invalid")
    assert len(stored(acme.tenant)) == 2


def test_a_batch_sent_again_with_its_batch_id_is_stored_once(client, acme):
    create(client, acme.secret_key)

    def send(batch_id, values):  # noqa: ANN001, ANN202
        return client.post("/api/v1/metrics/values/batch", {"batch_id": batch_id, "values": values},
                           content_type="application/json", **bearer(acme.write_key))

    values = [{"metric": "api.latency", "value": 80}, {"metric": "missing", "value": 1}]
    first = send("b-1", values)
    assert first.json() == {"accepted": 1, "rejected": [{"index": 1, "error": "No metric 'missing'."}]}
    again = send("b-1", values)
    assert again.status_code == 200 and again.json() == {**first.json(), "duplicate": True}
    assert send("b-2", values[:1]).json() == {"accepted": 1, "rejected": []}
    assert stored(acme.tenant) == [("api.latency", 80.0, {}), ("api.latency", 80.0, {})]
    assert_error(send("not ok!", values), 400, "invalid")
    assert_error(send(7, values), 400, "invalid")


def test_a_write_key_records_values_but_cannot_define_or_read(client, acme):
    assert_error(create(client, acme.write_key), 403, "forbidden")
    create(client, acme.secret_key)
    assert_error(client.get("/api/v1/metrics/api.latency", **bearer(acme.write_key)), 403, "forbidden")
    assert_error(client.get("/api/v1/metrics/api.latency/aggregate", **bearer(acme.write_key)), 403, "forbidden")


def test_metrics_are_isolated_between_tenants(client, acme, globex):
    create(client, acme.secret_key)
    assert_error(client.get("/api/v1/metrics/api.latency", **bearer(globex.secret_key)), 404, "metric_not_found")
    assert client.get("/api/v1/metrics", **bearer(globex.secret_key)).json()["results"] == []
    assert_error(client.post("/api/v1/metrics/api.latency/values", {"value": 1}, content_type="application/json",
                             **bearer(globex.write_key)), 404, "metric_not_found")
    assert_error(client.get("/api/v1/metrics/api.latency/aggregate", **bearer(globex.secret_key)), 404,
                 "metric_not_found")
    assert_error(client.delete("/api/v1/metrics/api.latency", **bearer(globex.secret_key)), 404, "metric_not_found")
    body = client.post("/api/v1/metrics/values/batch", {"values": [{"metric": "api.latency", "value": 1}]},
                       content_type="application/json", **bearer(globex.write_key))
    assert body.status_code == 400
    assert stored(acme.tenant) == [] and stored(globex.tenant) == []
    assert client.get("/api/v1/metrics/api.latency", **bearer(acme.secret_key)).status_code == 200


def test_upkeep_makes_partitions_ahead_and_drops_values_past_retention(make_tenant):
    from datetime import datetime, timedelta, timezone

    from apps.metrics.services import VALUES
    from apps.metrics.tasks import metrics_upkeep_all

    handle = make_tenant("short-metrics", retention_days=40)
    now = datetime.now(timezone.utc)
    with schema_context(handle.tenant.schema_name), connection.cursor() as cursor:
        old = VALUES.month_of(now - timedelta(days=100))
        cursor.execute(f"CREATE TABLE {old.name} PARTITION OF metric_values FOR VALUES FROM (%s) TO (%s)",
                       [old.start, old.end])
        cursor.execute(f"DROP TABLE {VALUES.month_of(now).next().name}")
    assert metrics_upkeep_all() >= 1  # eager in tests: each tenant's upkeep ran in its schema
    with schema_context(handle.tenant.schema_name):
        names = VALUES.partitions()
    assert old.name not in names and VALUES.month_of(now).next().name in names


def test_value_endpoints_apply_the_per_key_rate_limit(client, acme, settings):
    create(client, acme.secret_key)
    settings.INGEST_RATE_LIMIT_PER_SECOND = 2
    responses = [client.post("/api/v1/metrics/api.latency/values", {"value": 1}, content_type="application/json",
                             **bearer(acme.write_key)) for _ in range(4)]
    responses += [client.post("/api/v1/metrics/values/batch", {"values": [{"metric": "api.latency", "value": 1}]},
                              content_type="application/json", **bearer(acme.write_key)) for _ in range(4)]
    limited = [r for r in responses if r.status_code == 429]
    assert limited and all(r.status_code in (200, 429) for r in responses)
    assert_error(limited[0], 429, "rate_limited")
    assert int(limited[0]["Retry-After"]) >= 1
    # Refused requests store nothing; the others store their value.
    assert len(stored(acme.tenant)) == len(responses) - len(limited)

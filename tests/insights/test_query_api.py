"""POST /api/v1/query: trends behaviour on hand-made rows, validation, injection, caching, isolation."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from django_tenants.utils import schema_context

from apps.events.ingestion import Clock, parse_segment
from apps.events.storage import events_write
from tests.helpers import assert_error, bearer


def ingest(tenant, messages: list[dict]) -> None:  # noqa: ANN001
    now = datetime.now(timezone.utc)
    with schema_context(tenant.schema_name):
        clock = Clock(received_at=now, sent_at=None, retention_days=3650)
        rows = [parse_segment({"messageId": f"m{i}", **m}, clock) for i, m in enumerate(messages)]
        events_write(rows=rows, received_at=now)


@pytest.fixture
def query(client, acme):  # noqa: ANN001, ANN201
    def run(spec: dict, key: str | None = None):  # noqa: ANN202
        return client.post("/api/v1/query", spec, content_type="application/json",
                           **bearer(key or acme.secret_key))

    return run


def trends(series: list[dict], **extra) -> dict:  # noqa: ANN003
    return {"kind": "trends", "date_from": "2026-11-01", "date_to": "2026-11-04", "timezone": "UTC",
            "interval": "day", "series": series, **extra}


def test_daily_totals_unique_persons_and_zero_filled_buckets(query, acme):
    ingest(acme.tenant, [
        {"type": "track", "anonymousId": "a1", "event": "View", "timestamp": "2026-11-01T10:00:00Z"},
        {"type": "track", "anonymousId": "a1", "event": "View", "timestamp": "2026-11-01T11:00:00Z"},
        {"type": "identify", "anonymousId": "a1", "userId": "u1", "timestamp": "2026-11-01T12:00:00Z"},
        {"type": "track", "userId": "u1", "event": "View", "timestamp": "2026-11-01T13:00:00Z"},
        {"type": "track", "userId": "u2", "event": "View", "timestamp": "2026-11-03T23:59:59Z"},
        {"type": "track", "userId": "u2", "event": "View", "timestamp": "2026-11-04T00:00:00Z"},  # past date_to
    ])
    body = query(trends([{"event": "View"}, {"event": "View", "math": "unique_persons"}])).json()
    total, unique = body["series"]
    assert total["buckets"] == ["2026-11-01T00:00:00+00:00", "2026-11-02T00:00:00+00:00",
                                "2026-11-03T00:00:00+00:00"]
    assert total["values"] == [3, 0, 1] and total["total"] == 4
    # a1's anonymous views and u1's view are one person after the merge.
    assert unique["values"] == [1, 0, 1] and unique["total"] == 2
    assert body["kind"] == "trends" and body["interval"] == "day" and body["timezone"] == "UTC"
    assert body["cached"] is False and body["computed_at"]


def test_buckets_follow_the_query_time_zone_across_dst(query, acme):
    # Europe/Paris leaves summer time on 2026-10-25: that day has 25 hours.
    ingest(acme.tenant, [
        {"type": "track", "userId": "u", "event": "E", "timestamp": "2026-10-24T22:30:00Z"},  # 25th 00:30 local
        {"type": "track", "userId": "u", "event": "E", "timestamp": "2026-10-25T22:30:00Z"},  # 25th 23:30 local
        {"type": "track", "userId": "u", "event": "E", "timestamp": "2026-10-25T23:30:00Z"},  # 26th 00:30 local
    ])
    body = query({"kind": "trends", "date_from": "2026-10-25", "date_to": "2026-10-27", "timezone": "Europe/Paris",
                  "interval": "day", "series": [{"event": "E"}]}).json()
    [series] = body["series"]
    assert series["buckets"] == ["2026-10-25T00:00:00+02:00", "2026-10-26T00:00:00+01:00"]
    assert series["values"] == [2, 1]


def test_property_math_and_percentiles(query, acme):
    ingest(acme.tenant, [{"type": "track", "userId": "u", "event": "Buy", "properties": {"amount": amount},
                          "timestamp": "2026-11-02T10:00:00Z"} for amount in (10, 20, 30, 40, "oops")])
    spec = trends([{"event": "Buy", "math": m, "property": "amount"} for m in ("sum", "avg", "min", "max", "p50",
                                                                              "p90")])
    values = [s["values"][1] for s in query(spec).json()["series"]]
    assert values == [100, 25, 10, 40, 25, 37]
    empty = [s["values"][0] for s in query(spec).json()["series"]]
    assert empty == [0, None, None, None, None, None]


def test_filters_and_breakdown_with_other(query, acme):
    ingest(acme.tenant, [
        {"type": "track", "userId": f"u{i}", "event": "View", "properties": {"path": path},
         "timestamp": "2026-11-02T10:00:00Z"}
        for i, path in enumerate(["/a", "/a", "/a", "/b", "/b", "/c", "/d"])
    ] + [{"type": "identify", "userId": "u0", "traits": {"plan": "pro"}, "timestamp": "2026-11-02T09:00:00Z"}])
    body = query(trends([{"event": "View"}], breakdown={"property": "path", "limit": 2})).json()
    assert [(s["breakdown_value"], s["total"]) for s in body["series"]] == [("/a", 3), ("/b", 2), ("$other", 2)]
    body = query(trends([{"event": "View"}], filters=[{"property": "path", "operator": "in", "value": ["/a", "/c"]}]))
    assert body.json()["series"][0]["total"] == 4
    body = query(trends([{"event": "View"}], filters=[{"property": "plan", "operator": "eq", "value": "pro",
                                                       "type": "person"}]))
    assert body.json()["series"][0]["total"] == 1


@pytest.mark.parametrize("spec, field", [
    ({"kind": "trends", "series": []}, "$.series"),
    ({"kind": "trends", "series": [{"event": "E", "math": "median"}]}, "$.series[0].math"),
    ({"kind": "trends", "series": [{"event": "E"}], "interval": "fortnight"}, "$.interval"),
    ({"kind": "trends", "series": [{"event": "E"}], "colour": "red"}, "$"),
    ({"kind": "trends", "series": [{"event": "E"}] * 11}, "$.series"),
    ({"kind": "nope"}, "$.kind"),
    ({"kind": "trends", "series": [{"event": "E"}], "filters": [{"property": "x", "operator": "like"}]},
     "$.filters[0].operator"),
    ({"kind": "trends", "series": [{"event": "E", "math": "sum"}]}, "series[0].property"),
    ({"kind": "trends", "series": [{"event": "E"}], "timezone": "Mars/Base"}, "timezone"),
    ({"kind": "trends", "series": [{"event": "E"}], "date_from": "last tuesday"}, "date_from"),
    ({"kind": "trends", "series": [{"event": "E"}], "date_from": "2026-11-05", "date_to": "2026-11-01"}, "date_to"),
    ({"kind": "trends", "series": [{"event": "E"}], "date_from": "-3y", "interval": "minute"}, "interval"),
    ({"kind": "trends", "series": [{"event": "E"}], "filters": [{"property": "n", "operator": "gt", "value": "5"}]},
     "filters[0]"),
    ({"kind": "trends", "series": [{"event": "E"}], "segment": "pros"}, "segment"),
])
def test_invalid_specs_are_400_naming_the_field(query, acme, spec, field):
    error = assert_error(query(spec), 400, "invalid")
    assert field in error["details"], error


@pytest.mark.parametrize("name, value", [
    ("it's", "O'Brien"), ("a\\b", "back\\slash"), ("100%", "50%_off"), ("ünï", "日本語"),
    ("x') OR 1=1; --", "'); DROP TABLE events; --"), ("$set", "$x"),
])
def test_hostile_property_names_and_values_are_data_not_sql(query, acme, name, value):
    ingest(acme.tenant, [
        {"type": "track", "userId": "u", "event": "E", "properties": {name: value}, "timestamp": "2026-11-02T10:00:00Z"},
        {"type": "track", "userId": "u", "event": "E", "properties": {name: "other"}, "timestamp": "2026-11-02T10:00:00Z"},
    ])
    for operator, expected in (("eq", 1), ("neq", 1), ("contains", 1), ("is_set", 2)):
        spec = trends([{"event": "E"}], filters=[{"property": name, "operator": operator, "value": value}])
        response = query(spec)
        assert response.status_code == 200, response.content
        assert response.json()["series"][0]["total"] == expected, (operator, response.json())
    body = query(trends([{"event": "E"}], breakdown={"property": name})).json()
    assert sorted(s["breakdown_value"] for s in body["series"]) == sorted([value, "other"])
    with schema_context(acme.tenant.schema_name):
        from apps.events.models import Event

        assert Event.objects.count() == 2


def test_answers_are_cached_and_refresh_recomputes(query, acme):
    ingest(acme.tenant, [{"type": "track", "userId": "u", "event": "E", "timestamp": "2026-11-02T10:00:00Z"}])
    first = query(trends([{"event": "E"}])).json()
    second = query(trends([{"event": "E"}])).json()
    assert (first["cached"], second["cached"]) == (False, True)
    assert second["computed_at"] == first["computed_at"] and second["series"] == first["series"]
    ingest(acme.tenant, [{"type": "track", "userId": "u", "event": "E", "timestamp": "2026-11-02T11:00:00Z",
                          "messageId": "another"}])
    fresh = query(trends([{"event": "E"}], refresh=True)).json()
    assert fresh["cached"] is False and fresh["series"][0]["total"] == 2


def test_queries_are_isolated_between_tenants(query, acme, globex):
    ingest(acme.tenant, [{"type": "track", "userId": "u", "event": "E", "timestamp": "2026-11-02T10:00:00Z"}])
    assert query(trends([{"event": "E"}])).json()["series"][0]["total"] == 1
    other = query(trends([{"event": "E"}]), key=globex.secret_key).json()
    assert other["series"][0]["total"] == 0 and other["cached"] is False


def test_write_key_cannot_query(query, acme):
    assert_error(query(trends([{"event": "E"}]), key=acme.write_key), 403, "forbidden")


def test_events_kind(query, acme):
    ingest(acme.tenant, [{"type": "track", "userId": "u", "event": "E", "timestamp": "2026-11-02T10:00:00Z"},
                         {"type": "track", "userId": "v", "event": "F", "timestamp": "2026-11-02T11:00:00Z"}])
    body = query({"kind": "events", "date_from": "2026-11-01", "date_to": "2026-11-04", "event": "E"}).json()
    assert [e["distinct_id"] for e in body["results"]] == ["u"]


def test_a_segment_keeps_only_its_persons_through_the_resolver_interface(query, acme):
    from apps.insights import segments

    ingest(acme.tenant, [{"type": "track", "userId": u, "event": "E", "timestamp": "2026-11-02T10:00:00Z"}
                         for u in ("in-1", "in-2", "out")])
    previous = segments._resolver
    segments.segment_resolver_register(
        lambda key: ("{person} IN (SELECT person_id FROM person_distinct_ids WHERE distinct_id LIKE %s)",
                     ["in-%"], "v1") if key == "insiders" else None)
    try:
        body = query(trends([{"event": "E"}], segment="insiders")).json()
        assert body["series"][0]["total"] == 2
        funnel = query({"kind": "funnel", "date_from": "2026-11-01", "date_to": "2026-11-04", "segment": "insiders",
                        "steps": [{"event": "E"}, {"event": "E"}]}).json()
        assert funnel["steps"][0]["count"] == 2
        assert_error(query(trends([{"event": "E"}], segment="nobody")), 400, "invalid")
    finally:
        segments._resolver = previous


def test_a_query_past_its_time_limit_is_a_503(query, dataset, settings):
    settings.QUERY_TIMEOUT_MS = 1  # the generated dataset takes longer than a millisecond
    spec = trends([{"event": "View", "math": "unique_persons"}], date_from="2026-01-01", date_to="2026-12-01",
                  breakdown={"property": "path"})
    assert_error(query(spec), 503, "query_timeout")
    settings.QUERY_TIMEOUT_MS = 60000
    assert query(spec).json()["cached"] is False  # the limit is per query, and nothing was cached

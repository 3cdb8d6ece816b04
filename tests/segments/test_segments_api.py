"""Segments over the API: CRUD, rules, refused trees with their path, preview, members, contains,
the query filter in every kind, size over time, refresh races, keys and tenant isolation."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from apps.events.ingestion import Clock, parse_segment
from apps.events.storage import events_write
from apps.segments import services
from apps.segments.models import Segment
from apps.tenancy.services import tenant_create
from tests.helpers import assert_error, bearer

NOW = datetime.now(timezone.utc).replace(microsecond=0)


def ingest(tenant, messages: list[dict]) -> None:  # noqa: ANN001
    with schema_context(tenant.schema_name):
        clock = Clock(received_at=NOW, sent_at=None, retention_days=3650)
        rows = [parse_segment({"messageId": f"m{i}", **m}, clock) for i, m in enumerate(messages)]
        events_write(rows=rows, received_at=NOW)


def ago(**delta: float) -> str:
    return (NOW - timedelta(**delta)).isoformat()


@pytest.fixture
def shop(acme):  # noqa: ANN001, ANN201
    """Four persons: ann (pro, bought twice this week), bob (pro, bought once a month ago), cid (free,
    bought three times, first as an anonymous visitor later identified), dee (free, never bought)."""
    ingest(acme.tenant, [
        {"type": "identify", "userId": "ann", "traits": {"plan": "pro", "seats": 12}, "timestamp": ago(days=40)},
        {"type": "identify", "userId": "bob", "traits": {"plan": "pro", "seats": 2}, "timestamp": ago(days=40)},
        {"type": "identify", "userId": "dee", "traits": {"plan": "free"}, "timestamp": ago(days=40)},
        {"type": "track", "userId": "ann", "event": "Buy", "timestamp": ago(days=1)},
        {"type": "track", "userId": "ann", "event": "Buy", "timestamp": ago(days=2)},
        {"type": "track", "userId": "bob", "event": "Buy", "timestamp": ago(days=30)},
        {"type": "track", "anonymousId": "visitor-9", "event": "Buy", "timestamp": ago(days=3)},
        {"type": "track", "anonymousId": "visitor-9", "event": "Buy", "timestamp": ago(days=3, hours=1)},
        {"type": "identify", "anonymousId": "visitor-9", "userId": "cid", "traits": {"plan": "free"},
         "timestamp": ago(days=2)},
        {"type": "track", "userId": "cid", "event": "Buy", "timestamp": ago(days=1)},
        {"type": "track", "userId": "dee", "event": "View", "timestamp": ago(days=1)},
    ])
    return acme


def api(client, key: str, method: str, path: str, body: dict | None = None):  # noqa: ANN001, ANN201
    call = getattr(client, method)
    if body is None:
        return call(f"/api/v1/{path}", **bearer(key))
    return call(f"/api/v1/{path}", body, content_type="application/json", **bearer(key))


def member_ids(client, key: str, segment_id: int) -> set[str]:  # noqa: ANN001
    body = api(client, key, "get", f"segments/{segment_id}/members").json()
    return {distinct_id for person in body["results"] for distinct_id in person["distinct_ids"]}


BUYERS = {"op": "and", "rules": [{"event": "Buy", "operator": "gte", "value": 2, "within": "7d"}]}


def test_create_add_and_remove_rules_and_members_follow(client, shop):
    key = shop.secret_key
    created = api(client, key, "post", "segments", {"name": "frequent-buyers", "rules": BUYERS})
    assert created.status_code == 201
    segment = created.json()
    assert segment["size"] == 2 and segment["refreshed_at"]
    # cid's anonymous purchases count for cid after the merge.
    assert member_ids(client, key, segment["id"]) == {"ann", "cid", "visitor-9"}
    added = api(client, key, "post", f"segments/{segment['id']}/rules",
                {"field_name": "plan", "operator": "eq", "value": "pro"})
    assert added.status_code == 201
    rule = added.json()["rule"]
    assert rule == {"id": rule["id"], "field": "plan", "operator": "eq", "value": "pro"}
    assert added.json()["segment"]["size"] == 1
    assert member_ids(client, key, segment["id"]) == {"ann"}
    # A nested group, then removing the trait rule.
    group = api(client, key, "post", f"segments/{segment['id']}/rules",
                {"op": "or", "rules": [{"field": "seats", "operator": "gt", "value": 10},
                                       {"event": "View", "operator": "gte", "value": 1}]}).json()["rule"]
    assert [child["id"] for child in group["rules"]] and group["id"] != rule["id"]
    assert api(client, key, "delete", f"segments/{segment['id']}/rules/{rule['id']}").status_code == 204
    assert member_ids(client, key, segment["id"]) == {"ann"}  # ann: 2 buys and 12 seats
    assert api(client, key, "delete", f"segments/{segment['id']}/rules/{group['id']}").status_code == 204
    assert member_ids(client, key, segment["id"]) == {"ann", "cid", "visitor-9"}
    assert_error(api(client, key, "delete", f"segments/{segment['id']}/rules/{group['id']}"), 404, "not_found")
    assert_error(api(client, key, "delete", f"segments/{segment['id']}/rules/root"), 404, "not_found")
    detail = api(client, key, "get", f"segments/{segment['id']}").json()
    assert detail["rules"]["id"] == "root" and detail["size"] == 2
    # PATCH replaces the rules and refreshes; DELETE removes everything.
    changed = api(client, key, "patch", f"segments/{segment['id']}",
                  {"rules": {"op": "and", "rules": [{"event": "Buy", "operator": "eq", "value": 0}]}}).json()
    assert changed["size"] == 1 and member_ids(client, key, segment["id"]) == {"dee"}
    assert_error(api(client, key, "post", "segments", {"name": "frequent-buyers"}), 409, "segment_exists")
    assert [s["name"] for s in api(client, key, "get", "segments").json()["results"]] == ["frequent-buyers"]
    assert api(client, key, "delete", f"segments/{segment['id']}").status_code == 204
    assert_error(api(client, key, "get", f"segments/{segment['id']}"), 404, "not_found")
    with schema_context(shop.tenant.schema_name), connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM segment_members")
        assert cursor.fetchone()[0] == 0


@pytest.mark.parametrize(("rules", "path"), [
    ({"op": "xor", "rules": []}, "rules.op"),
    ({"op": "and", "rules": [{"field": "plan", "operator": "bigger", "value": 1}]}, "rules[0].operator"),
    ({"op": "and", "rules": [{"op": "or", "rules": [{"field": "plan", "operator": "in", "value": "pro"}]}]},
     "rules[0].rules[0].value"),
    ({"op": "and", "rules": [{"event": "Buy", "operator": "gte", "value": -1}]}, "rules[0].value"),
    ({"op": "and", "rules": [{"event": "Buy", "operator": "gte", "value": 1, "within": "forever"}]},
     "rules[0].within"),
    ({"op": "and", "rules": [{"event": "Buy", "value": 1, "date_from": "2026-01-02", "date_to": "2026-01-01"}]},
     "rules[0].date_to"),
    ({"op": "and", "rules": [{"event": "Buy", "filters": [{"property": "x", "operator": "gt", "value": "a"}]}]},
     "rules[0].filters[0]"),
    ({"op": "and", "rules": [{"field": "signed_up", "operator": "gte", "value": "last week"}]}, "rules[0].value"),
    ({"op": "and", "rules": [{"colour": "red"}]}, "rules[0]"),
    ({"op": "and", "rules": [{"field": "plan", "operator": "is_set", "value": 1}]}, "rules[0].value"),
    ([1, 2], "rules"),
])
def test_invalid_trees_are_refused_with_the_path_to_the_bad_node(client, acme, rules, path):
    error = assert_error(api(client, acme.secret_key, "post", "segments", {"name": "bad", "rules": rules}),
                         400, "invalid")
    assert error["details"]["path"] == path
    error = assert_error(api(client, acme.secret_key, "post", "segments/preview", {"rules": rules}), 400, "invalid")
    assert error["details"]["path"] == path
    assert_error(api(client, acme.secret_key, "post", "segments", {"name": "Bad Name!"}), 400, "invalid")


def test_preview_counts_and_samples_without_saving(client, shop):
    body = api(client, shop.secret_key, "post", "segments/preview", {"rules": BUYERS}).json()
    assert body["count"] == 2
    assert {d for person in body["sample"] for d in person["distinct_ids"]} == {"ann", "cid", "visitor-9"}
    assert all(set(person) == {"id", "distinct_ids", "traits", "created_at", "updated_at"} for person in body["sample"])
    assert api(client, shop.secret_key, "get", "segments").json()["results"] == []


def test_members_are_paginated_with_traits_and_contains_answers_per_distinct_id(client, shop):
    segment = api(client, shop.secret_key, "post", "segments",
                  {"name": "everyone", "rules": {"op": "and", "rules": []}}).json()
    assert segment["size"] == 4
    first = api(client, shop.secret_key, "get", f"segments/{segment['id']}/members?limit=3").json()
    assert len(first["results"]) == 3 and first["next"]
    rest = client.get(first["next"], **bearer(shop.secret_key)).json()
    assert len(rest["results"]) == 1 and rest["next"] is None
    traits = {p["distinct_ids"][0]: p["traits"] for p in first["results"] + rest["results"]}
    assert traits["ann"] == {"plan": "pro", "seats": 12}
    buyers = api(client, shop.secret_key, "post", "segments", {"name": "buyers", "rules": BUYERS}).json()
    contains = api(client, shop.secret_key, "get", f"segments/{buyers['id']}/contains/visitor-9").json()
    assert contains["member"] is True and contains["segment"] == "buyers"
    assert api(client, shop.secret_key, "get", f"segments/{buyers['id']}/contains/bob").json()["member"] is False
    assert_error(api(client, shop.secret_key, "get", f"segments/{buyers['id']}/contains/nobody"), 404, "not_found")


def test_the_segment_filter_works_in_every_query_kind(client, shop):
    api(client, shop.secret_key, "post", "segments", {"name": "buyers", "rules": BUYERS})
    window = {"date_from": ago(days=10), "date_to": (NOW + timedelta(hours=1)).isoformat(), "timezone": "UTC"}

    def query(spec: dict) -> dict:
        response = api(client, shop.secret_key, "post", "query", {**window, **spec})
        assert response.status_code == 200, response.content
        return response.json()

    trends = query({"kind": "trends", "interval": "day", "series": [{"event": "Buy"}, {"event": "View"}],
                    "segment": "buyers"})
    assert [s["total"] for s in trends["series"]] == [5, 0]  # ann 2, cid 3 (2 as a visitor); not bob, dee
    funnel = query({"kind": "funnel", "steps": [{"event": "Buy"}, {"event": "Buy"}], "segment": "buyers"})
    assert [s["count"] for s in funnel["steps"]] == [2, 2]
    retention = query({"kind": "retention", "start_event": "Buy", "return_event": "Buy", "period": "day",
                       "periods": 3, "segment": "buyers"})
    assert sum(c["size"] for c in retention["cohorts"]) == 2
    events = query({"kind": "events", "event": "Buy", "segment": "buyers"})
    assert {e["distinct_id"] for e in events["results"]} == {"ann", "cid", "visitor-9"}
    assert len(events["results"]) == 5
    everything = query({"kind": "events", "segment": "buyers"})["results"]
    assert len(everything) == 6 and {e["event_type"] for e in everything} == {"track", "identify"}
    error = assert_error(api(client, shop.secret_key, "post", "query",
                             {"kind": "metric", "metric": "m", "segment": "buyers"}), 400, "invalid")
    assert "segment" in error["details"]
    assert_error(api(client, shop.secret_key, "post", "query", {**window, "kind": "trends", "series": [
        {"event": "Buy"}], "segment": "nobody"}), 400, "invalid")


def test_cached_answers_change_with_the_membership(client, shop):
    segment = api(client, shop.secret_key, "post", "segments", {"name": "buyers", "rules": BUYERS}).json()
    spec = {"kind": "trends", "interval": "day", "series": [{"event": "Buy"}], "segment": "buyers",
            "date_from": ago(days=10), "date_to": (NOW + timedelta(hours=1)).isoformat(), "timezone": "UTC"}
    assert api(client, shop.secret_key, "post", "query", spec).json()["series"][0]["total"] == 5
    api(client, shop.secret_key, "post", f"segments/{segment['id']}/rules",
        {"field": "plan", "operator": "eq", "value": "pro"})
    answer = api(client, shop.secret_key, "post", "query", spec).json()
    assert answer["cached"] is False and answer["series"][0]["total"] == 2


def test_segment_size_over_time(client, shop):
    segment = api(client, shop.secret_key, "post", "segments", {"name": "buyers", "rules": BUYERS}).json()
    with schema_context(shop.tenant.schema_name):
        services.segment_refresh(segment_id=segment["id"], now=NOW + timedelta(days=4, hours=12))  # ann only
    spec = {"kind": "segment_size", "segment": "buyers", "interval": "day", "timezone": "UTC",
            "date_from": (NOW - timedelta(days=1)).date().isoformat(),
            "date_to": (NOW + timedelta(days=8)).date().isoformat()}
    body = api(client, shop.secret_key, "post", "query", spec).json()
    assert [p["size"] for p in body["points"]] == [2, 1]
    assert body["values"][0] is None  # before the first refresh
    assert body["values"][1] == 2 and body["values"][-1] == 1
    assert len(body["buckets"]) == len(body["values"]) == 9
    assert_error(api(client, shop.secret_key, "post", "query", {"kind": "segment_size"}), 400, "invalid")


@pytest.mark.django_db(transaction=True)
def test_refreshes_running_at_once_leave_one_correct_membership():
    tenant = tenant_create(slug="segment-race").tenant
    ingest(tenant, [{"type": "track", "userId": f"u{n}", "event": "Buy", "timestamp": ago(days=1)}
                    for n in range(300)] + [{"type": "track", "userId": f"v{n}", "event": "View",
                                              "timestamp": ago(days=1)} for n in range(100)])
    with schema_context(tenant.schema_name):
        segment = services.segment_create(name="buyers", rules={"op": "and", "rules": [
            {"event": "Buy", "operator": "gte", "value": 1}]}, refresh=False)
    errors = []

    def refresh() -> None:
        try:
            with schema_context(tenant.schema_name):
                services.segment_refresh(segment_id=segment.pk)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=refresh) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    with schema_context(tenant.schema_name), connection.cursor() as cursor:
        cursor.execute("SELECT count(*), count(DISTINCT person_id) FROM segment_members WHERE segment_id = %s",
                       [segment.pk])
        assert cursor.fetchone() == (300, 300)
        cursor.execute("SELECT size FROM segment_sizes WHERE segment_id = %s", [segment.pk])
        assert [row[0] for row in cursor.fetchall()] == [300] * 4
        assert Segment.objects.get(pk=segment.pk).size == 300


def test_a_refresh_past_its_limit_keeps_the_old_members_and_says_why(shop, monkeypatch, settings,
                                                                      django_capture_on_commit_callbacks):
    with schema_context(shop.tenant.schema_name):
        segment = services.segment_create(name="buyers", rules=BUYERS)
        # An evaluation slower than the limit (the tree's SQL, slowed down).
        slow = services.members_sql
        monkeypatch.setattr(services, "members_sql", lambda tree, now: (
            f"SELECT * FROM ({slow(tree, now)[0]}) found WHERE pg_sleep(0.5) IS NOT NULL", slow(tree, now)[1]))
        with pytest.raises(services.RefreshTimedOut):
            services.segment_refresh(segment_id=segment.pk, timeout_ms=100)
        segment.refresh_from_db()
        assert segment.size == 2 and "limit of 100 ms" in segment.refresh_error
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM segment_members WHERE segment_id = %s", [segment.pk])
            assert cursor.fetchone()[0] == 2
    # After a change, a refresh past the inline limit is left to a task (with the beat's limit).
    settings.SEGMENT_REFRESH_INLINE_MS = 100
    with schema_context(shop.tenant.schema_name):
        with django_capture_on_commit_callbacks(execute=True) as queued:
            services.segment_rule_add(segment=segment, node={"field": "plan", "operator": "eq", "value": "pro"})
        assert len(queued) == 1
        segment.refresh_from_db()
        assert segment.refresh_error == "" and segment.size == 1


def test_keys_and_tenants_are_kept_apart(client, shop, globex):
    segment = api(client, shop.secret_key, "post", "segments", {"name": "buyers", "rules": BUYERS}).json()
    path = f"segments/{segment['id']}"
    assert_error(api(client, shop.write_key, "get", "segments"), 403, "forbidden")
    assert_error(api(client, shop.write_key, "post", "segments/preview", {"rules": BUYERS}), 403, "forbidden")
    other = globex.secret_key
    for method, suffix, body in [("get", "", None), ("patch", "", {"display_name": "x"}), ("delete", "", None),
                                 ("post", "/rules", {"field": "plan", "operator": "is_set"}),
                                 ("delete", "/rules/r1", None), ("get", "/members", None),
                                 ("get", "/contains/ann", None), ("post", "/refresh", {})]:
        assert_error(api(client, other, method, path + suffix, body), 404, "not_found")
    assert api(client, other, "get", "segments").json()["results"] == []
    assert_error(api(client, other, "post", "query", {"kind": "trends", "series": [{"event": "Buy"}],
                                                       "segment": "buyers"}), 400, "invalid")
    assert api(client, other, "post", "segments/preview", {"rules": BUYERS}).json()["count"] == 0
    # The other tenant's own segment of the same name is its own.
    assert api(client, other, "post", "segments", {"name": "buyers", "rules": BUYERS}).json()["size"] == 0
    assert api(client, shop.secret_key, "get", path).json()["size"] == 2


def test_beat_refreshes_every_segment_of_every_tenant(shop, globex):
    from apps.segments import tasks

    ingest(globex.tenant, [{"type": "track", "userId": "zed", "event": "Buy", "timestamp": ago(hours=1)}] * 1)
    for handle in (shop, globex):
        with schema_context(handle.tenant.schema_name):
            services.segment_create(name="buyers", rules={"op": "and", "rules": [
                {"event": "Buy", "operator": "gte", "value": 1}]}, refresh=False)
    connection.set_schema_to_public()
    assert tasks.segments_refresh_all() == 2  # one task per tenant (run at once in tests)
    for handle, size in ((shop, 3), (globex, 1)):
        with schema_context(handle.tenant.schema_name):
            segment = Segment.objects.get(name="buyers")
            assert segment.size == size and segment.sizes.count() == 1

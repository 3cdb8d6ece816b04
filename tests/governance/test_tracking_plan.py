"""The tracking plan: each mode on each ingestion path, each kind of violation, counts and samples
over the API, changes reaching ingestion at once (across processes), tenant isolation, validation
and the console pages."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django_tenants.utils import schema_context
from redis.exceptions import RedisError

from apps.core.redis import get_redis
from apps.governance.models import EventDefinition, TrackingViolationCount, TrackingViolationSample
from apps.governance.tracking import plan as plan_module
from apps.governance.tracking import violations
from tests.events.conftest import Sender, stored_events
from tests.events.test_fastpath import call
from tests.helpers import assert_error, bearer

ORDER = {
    "name": "Order Completed",
    "description": "A customer paid.",
    "properties": [
        {"name": "total", "type": "number", "required": True},
        {"name": "currency", "type": "string", "required": True, "allowed_values": ["USD", "EUR"]},
        {"name": "items", "type": "array"},
        {"name": "paid_at", "type": "datetime"},
    ],
}
GOOD = {"total": 12.5, "currency": "EUR", "items": [1]}
MISSING = {"currency": "EUR"}  # no total


def api(client, key: str, method: str, path: str, body: Any = None):  # noqa: ANN001, ANN201
    kwargs = {"data": json.dumps(body), "content_type": "application/json"} if body is not None else {}
    return getattr(client, method)(f"/api/v1/{path}", **kwargs, **bearer(key))


def set_plan(client, tenant, mode: str, **settings: Any) -> None:  # noqa: ANN001
    response = api(client, tenant.secret_key, "put", "tracking-plan", {"mode": mode, **settings})
    assert response.status_code == 200, response.content


@pytest.fixture
def planned(client, acme):  # noqa: ANN001, ANN201
    created = api(client, acme.secret_key, "post", "tracking-plan/events", ORDER)
    assert created.status_code == 201, created.content
    return acme


# --- the four ways in ----------------------------------------------------------------------------

def _native(events: list[tuple[str, dict]]) -> dict:
    return {"events": [{"event_name": name, "user_id": "u1", "properties": props} for name, props in events]}


def _segment(events: list[tuple[str, dict]]) -> dict:
    return {"batch": [{"type": "track", "event": name, "userId": "u1", "properties": props} for name, props in events]}


def _posthog(events: list[tuple[str, dict]]) -> dict:
    return {"batch": [{"event": name, "distinct_id": "u1", "properties": props} for name, props in events]}


def send_batch(client, tenant, way: str, events: list[tuple[str, dict]]) -> tuple[int, dict]:  # noqa: ANN001
    if way == "native":
        response = Sender(client, tenant.write_key).post("/api/v1/events/batch", _native(events))
    elif way == "segment":
        response = Sender(client, tenant.write_key).post("/v1/batch", _segment(events), auth="basic")
    elif way == "posthog":
        response = Sender(client, tenant.write_key).post("/batch/", {"api_key": tenant.write_key, **_posthog(events)},
                                                         auth="none")
    else:  # the WSGI fast path, in front of Django (a Segment batch and a native batch)
        path, body = ("/v1/batch", _segment(events)) if way == "fast-segment" else ("/api/v1/events/batch",
                                                                                    _native(events))
        status, _, content = call(path, body, key=tenant.write_key)
        return status, json.loads(content)
    return response.status_code, response.json()


def accepted(client, tenant, event: str) -> int:  # noqa: ANN001
    """How many of a one-event batch were accepted (a batch with none accepted is a 400)."""
    status, body = send_batch(client, tenant, "segment", [(event, {})])
    return body["accepted"] if status == 200 else body["error"]["details"]["accepted"]


WAYS = ["native", "segment", "posthog", "fast-segment", "fast-native"]
BATCH = [("Order Completed", GOOD), ("Order Completed", MISSING), ("Page Scrolled", {"depth": 3})]


def counts(tenant) -> dict[tuple[str, str], int]:  # noqa: ANN001
    violations.violations_flush(schema_name=tenant.schema_name)
    with schema_context(tenant.schema_name):
        return {(c.event, c.kind): c.count for c in TrackingViolationCount.objects.all()}


@pytest.mark.parametrize("way", WAYS)
def test_allow_stores_everything_and_records_the_violations(client, planned, way):
    set_plan(client, planned, "allow")
    status, body = send_batch(client, planned, way, BATCH)
    assert status == 200 and body == {"accepted": 3, "rejected": []}
    assert [e["event"] for e in stored_events(planned.tenant)] == ["Order Completed", "Order Completed", "Page Scrolled"]
    assert counts(planned.tenant) == {("Order Completed", "missing_property"): 1, ("Page Scrolled", "unplanned_event"): 1}


@pytest.mark.parametrize("way", WAYS)
def test_warn_stores_everything_and_answers_warnings_by_index(client, planned, way):
    set_plan(client, planned, "warn")
    status, body = send_batch(client, planned, way, BATCH)
    assert status == 200 and body["accepted"] == 3 and body["rejected"] == []
    assert body["warnings"] == [
        {"index": 1, "warnings": ["required property 'total' is missing"]},
        {"index": 2, "warnings": ["event 'Page Scrolled' is not in the tracking plan"]},
    ]
    assert len(stored_events(planned.tenant)) == 3
    assert counts(planned.tenant) == {("Order Completed", "missing_property"): 1, ("Page Scrolled", "unplanned_event"): 1}


@pytest.mark.parametrize("way", WAYS)
def test_block_rejects_by_index_with_the_reason_and_stores_the_valid_events(client, planned, way):
    set_plan(client, planned, "block")
    status, body = send_batch(client, planned, way, BATCH)
    assert status == 200 and body["accepted"] == 1, body
    assert body["rejected"] == [
        {"index": 1, "error": "Tracking plan: required property 'total' is missing."},
        {"index": 2, "error": "Tracking plan: event 'Page Scrolled' is not in the tracking plan."},
    ]
    assert "warnings" not in body
    assert [(e["event"], e["properties"].get("total")) for e in stored_events(planned.tenant)] == [("Order Completed", 12.5)]
    assert counts(planned.tenant) == {("Order Completed", "missing_property"): 1, ("Page Scrolled", "unplanned_event"): 1}


def test_block_on_a_single_event_is_a_400_with_the_reason_and_counted(client, planned):
    set_plan(client, planned, "block")
    response = Sender(client, planned.write_key).post("/v1/track", {"event": "Nope", "userId": "u"})
    error = assert_error(response, 400, "invalid")
    assert error["message"] == "Tracking plan: event 'Nope' is not in the tracking plan."
    assert stored_events(planned.tenant) == []
    assert counts(planned.tenant) == {("Nope", "unplanned_event"): 1}


def test_fixed_name_events_are_checked_only_when_planned_and_nothing_happens_without_a_plan(client, acme):
    set_plan(client, acme, "block")  # a mode, but no event planned: no plan to check
    status, body = send_batch(client, acme, "segment", [("Anything", {})])
    assert (status, body) == (200, {"accepted": 1, "rejected": []})
    api(client, acme.secret_key, "post", "tracking-plan/events", ORDER)
    sender = Sender(client, acme.write_key)
    assert sender.post("/v1/page", {"userId": "u", "name": "Home"}).status_code == 200  # $pageview: not planned
    assert sender.post("/v1/identify", {"userId": "u", "traits": {"a": 1}}).status_code == 200
    assert send_batch(client, acme, "segment", [("Anything", {})])[0] == 400
    assert set_plan(client, acme, "block", enabled=False) is None
    assert send_batch(client, acme, "segment", [("Anything", {})]) == (200, {"accepted": 1, "rejected": []})


# --- each violation kind ---------------------------------------------------------------------------

def test_each_kind_of_violation_is_reported_and_counted_by_kind(client, planned):
    set_plan(client, planned, "warn", flag_unplanned_properties=True)
    status, body = send_batch(client, planned, "segment", [
        ("Order Completed", GOOD),
        ("Unknown", {}),
        ("Order Completed", {"currency": "EUR"}),
        ("Order Completed", {"total": "12", "currency": "EUR", "items": {"a": 1}, "paid_at": "yesterday"}),
        ("Order Completed", {"total": 3, "currency": "GBP"}),
        ("Order Completed", {**GOOD, "coupon": "X"}),
        ("Order Completed", {"total": 1, "currency": "USD", "paid_at": "2026-01-02T03:04:05Z", "items": None}),
    ])
    assert status == 200 and body["accepted"] == 7
    assert {w["index"]: w["warnings"] for w in body["warnings"]} == {
        1: ["event 'Unknown' is not in the tracking plan"],
        2: ["required property 'total' is missing"],
        3: ["property 'total' must be number, got string", "property 'items' must be array, got object",
            "property 'paid_at' must be datetime, got string"],
        4: ["property 'currency': value 'GBP' is not allowed"],
        5: ["property 'coupon' is not planned for 'Order Completed'"],
    }
    assert counts(planned.tenant) == {
        ("Unknown", "unplanned_event"): 1, ("Order Completed", "missing_property"): 1,
        ("Order Completed", "wrong_type"): 3, ("Order Completed", "value_not_allowed"): 1,
        ("Order Completed", "unplanned_property"): 1,
    }


@pytest.mark.parametrize(("kind", "good", "bad"), [
    ("string", "a", 1), ("number", 1.5, True), ("integer", 2.0, 2.5), ("boolean", False, "false"),
    ("datetime", "2026-12-04", "12/04/2026"), ("object", {}, []), ("array", [], {}),
])
def test_every_property_type_is_checked(kind, good, bad):
    check = plan_module.TYPE_CHECKS[kind]
    assert check(good) and not check(bad)


# --- counts and samples over the API ---------------------------------------------------------------

def test_violations_are_listed_with_counts_samples_and_date_filters(client, planned):
    set_plan(client, planned, "allow")
    long_value = "x" * 5000
    for n in range(25):
        send_batch(client, planned, "segment", [("Order Completed", {"currency": "EUR", "note": long_value, "n": n})])
    send_batch(client, planned, "native", [("Other", {}), ("Other", {})])
    body = api(client, planned.secret_key, "get", "tracking-plan/violations?samples=20").json()
    rows = {(r["event"], r["kind"]): r for r in body["results"]}
    assert set(rows) == {("Order Completed", "missing_property"), ("Other", "unplanned_event")}
    order = rows[("Order Completed", "missing_property")]
    assert order["count"] == 25 and order["first_day"] == order["last_day"] == datetime.now(timezone.utc).date().isoformat()
    assert len(order["samples"]) == 20  # the last 20 kept, newest first
    assert [s["payload"]["properties"]["n"] for s in order["samples"]] == list(range(24, 4, -1))
    assert order["samples"][0]["message"] == "required property 'total' is missing"
    assert len(order["samples"][0]["payload"]["properties"]["note"]) < 300  # trimmed
    assert rows[("Other", "unplanned_event")]["count"] == 2
    with schema_context(planned.tenant.schema_name):
        assert TrackingViolationSample.objects.filter(event="Order Completed").count() == 20
    day = order["first_day"]
    after = (date.fromisoformat(day) + timedelta(days=1)).isoformat()
    assert len(api(client, planned.secret_key, "get", f"tracking-plan/violations?date_from={day}&date_to={after}")
               .json()["results"]) == 2
    assert api(client, planned.secret_key, "get", f"tracking-plan/violations?date_to={day}").json()["results"] == []
    assert api(client, planned.secret_key, "get", f"tracking-plan/violations?date_from={after}").json()["results"] == []
    only = api(client, planned.secret_key, "get", "tracking-plan/violations?kind=unplanned_event&samples=0").json()
    assert [(r["event"], r["count"], r["samples"]) for r in only["results"]] == [("Other", 2, [])]
    paged = api(client, planned.secret_key, "get", "tracking-plan/violations?limit=1").json()
    assert len(paged["results"]) == 1 and paged["next"]
    second = client.get(paged["next"], **bearer(planned.secret_key)).json()
    assert [r["event"] for r in second["results"]] == ["Other"] and second["next"] is None


def test_counting_costs_no_database_write_per_event_and_a_flush_never_counts_twice(client, planned):
    set_plan(client, planned, "allow")
    send_batch(client, planned, "segment", [("Nope", {})] * 3)
    with schema_context(planned.tenant.schema_name):
        assert not TrackingViolationCount.objects.exists()  # pending in Redis, not written per event
    assert get_redis().sismember(violations.DIRTY_KEY, planned.tenant.schema_name)
    assert violations.violations_flush_all() == 3
    assert violations.violations_flush_all() == 0
    assert counts(planned.tenant) == {("Nope", "unplanned_event"): 3}


def test_with_redis_down_violations_are_written_by_one_upsert_per_batch(client, planned, monkeypatch):
    set_plan(client, planned, "allow")

    class Down:
        def pipeline(self, **kwargs):  # noqa: ANN003, ANN201
            raise RedisError("down")

    monkeypatch.setattr(violations, "get_redis", lambda: Down())
    send_batch(client, planned, "segment", [("Nope", {})] * 2)
    send_batch(client, planned, "segment", [("Nope", {})])
    with schema_context(planned.tenant.schema_name):
        assert [(c.event, c.count) for c in TrackingViolationCount.objects.all()] == [("Nope", 3)]
        assert TrackingViolationSample.objects.count() == 3


# --- changes reach ingestion at once ----------------------------------------------------------------

def test_a_plan_change_takes_effect_at_the_next_batch(client, planned):
    set_plan(client, planned, "block")
    assert accepted(client, planned, "Signed Up") == 0
    api(client, planned.secret_key, "post", "tracking-plan/events", {"name": "Signed Up"})
    assert accepted(client, planned, "Signed Up") == 1
    api(client, planned.secret_key, "put", "tracking-plan/events/Signed Up",
        {"name": "Signed Up", "properties": [{"name": "plan", "type": "string", "required": True}]})
    assert accepted(client, planned, "Signed Up") == 0
    set_plan(client, planned, "warn")
    assert accepted(client, planned, "Signed Up") == 1
    assert api(client, planned.secret_key, "delete", "tracking-plan/events/Signed Up").status_code == 204
    assert send_batch(client, planned, "segment", [("Signed Up", {})])[1]["warnings"][0]["warnings"] == [
        "event 'Signed Up' is not in the tracking plan"]


def test_a_change_made_by_another_process_is_seen_through_the_token(client, planned):
    """This process caches the plan; another process changing it only replaces the Redis token
    (there is no local invalidation at all): the next batch here reloads."""
    set_plan(client, planned, "block")
    assert accepted(client, planned, "Later") == 0  # plan cached
    with schema_context(planned.tenant.schema_name):
        EventDefinition.objects.bulk_create([EventDefinition(name="Later")])  # no signal: as if elsewhere
    assert accepted(client, planned, "Later") == 0  # still the cached plan
    get_redis().set(plan_module._token_key(planned.tenant.schema_name, planned.tenant.pk), "from-another-process")
    assert accepted(client, planned, "Later") == 1


def test_with_redis_down_the_plan_version_is_compared_instead(client, planned, monkeypatch):
    set_plan(client, planned, "block")

    class Down:
        def get(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
            raise RedisError("down")

        set = get

    monkeypatch.setattr(plan_module, "get_redis", lambda: Down())
    assert accepted(client, planned, "Later") == 0
    api(client, planned.secret_key, "post", "tracking-plan/events", {"name": "Later"})
    assert accepted(client, planned, "Later") == 1


# --- isolation, keys, validation ------------------------------------------------------------------

def test_tenants_never_see_or_feel_each_others_plan(client, planned, globex):
    set_plan(client, planned, "block")
    assert api(client, globex.secret_key, "get", "tracking-plan/events").json() == {"results": [], "next": None}
    assert_error(api(client, globex.secret_key, "get", "tracking-plan/events/Order Completed"), 404, "not_found")
    assert_error(api(client, globex.secret_key, "delete", "tracking-plan/events/Order Completed"), 404, "not_found")
    with schema_context(planned.tenant.schema_name):
        definition_id = EventDefinition.objects.get().pk
    assert_error(api(client, globex.secret_key, "get", f"tracking-plan/events/{definition_id}"), 404, "not_found")
    assert api(client, globex.secret_key, "get", "tracking-plan").json()["mode"] == "allow"
    assert send_batch(client, globex, "segment", [("Anything", {})])[1] == {"accepted": 1, "rejected": []}
    send_batch(client, planned, "segment", [("Anything", {})])
    assert api(client, globex.secret_key, "get", "tracking-plan/violations").json()["results"] == []
    assert len(api(client, planned.secret_key, "get", "tracking-plan/violations").json()["results"]) == 1
    assert api(client, planned.secret_key, "get", f"tracking-plan/events/{definition_id}").status_code == 200


def test_a_write_key_cannot_read_or_change_the_plan(client, planned):
    assert_error(api(client, planned.write_key, "get", "tracking-plan"), 403, "forbidden")
    assert_error(api(client, planned.write_key, "put", "tracking-plan", {"mode": "block"}), 403, "forbidden")
    assert_error(api(client, planned.write_key, "get", "tracking-plan/violations"), 403, "forbidden")


def test_definitions_read_back_as_written_and_can_be_renamed_by_id(client, planned):
    listed = api(client, planned.secret_key, "get", "tracking-plan/events").json()["results"]
    assert [(e["name"], [p["name"] for p in e["properties"]]) for e in listed] == [
        ("Order Completed", ["currency", "items", "paid_at", "total"])]
    got = api(client, planned.secret_key, "get", "tracking-plan/events/Order Completed").json()
    assert {p["name"]: p for p in got["properties"]}["currency"] == {
        "name": "currency", "type": "string", "required": True, "description": "", "allowed_values": ["USD", "EUR"]}
    renamed = api(client, planned.secret_key, "put", f"tracking-plan/events/{got['id']}",
                  {"name": "Order Paid", "properties": []})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Order Paid" and renamed.json()["properties"] == []
    plan = api(client, planned.secret_key, "get", "tracking-plan").json()
    assert plan["event_count"] == 1 and plan["mode"] == "allow" and plan["version"] > 1


@pytest.mark.parametrize("body", [
    {},
    {"name": ""},
    {"name": "x" * 201},
    {"name": "E", "properties": [{"name": "p", "type": "decimal"}]},
    {"name": "E", "properties": [{"type": "string"}]},
    {"name": "E", "properties": [{"name": "p", "type": "string", "allowed_values": [1]}]},
    {"name": "E", "properties": [{"name": "p", "type": "object", "allowed_values": [{}]}]},
    {"name": "E", "properties": [{"name": "p", "type": "string", "allowed_values": []}]},
    {"name": "E", "properties": [{"name": "p", "type": "integer", "allowed_values": [True]}]},
    {"name": "E", "properties": [{"name": "p", "type": "string"}, {"name": "p", "type": "number"}]},
    {"name": "E", "properties": "p"},
])
def test_bad_definitions_are_400(client, acme, body):
    assert_error(api(client, acme.secret_key, "post", "tracking-plan/events", body), 400, "invalid")
    assert api(client, acme.secret_key, "get", "tracking-plan/events").json()["results"] == []


def test_duplicates_are_409_and_bad_settings_and_filters_400(client, planned):
    assert_error(api(client, planned.secret_key, "post", "tracking-plan/events", ORDER), 409, "conflict")
    api(client, planned.secret_key, "post", "tracking-plan/events", {"name": "Other"})
    assert_error(api(client, planned.secret_key, "put", "tracking-plan/events/Other", {"name": "Order Completed"}),
                 409, "conflict")
    assert_error(api(client, planned.secret_key, "put", "tracking-plan", {"mode": "reject"}), 400, "invalid")
    assert_error(api(client, planned.secret_key, "put", "tracking-plan", {"enabled": "maybe"}), 400, "invalid")
    for query in ("date_from=yesterday", "date_from=2026-02-02&date_to=2026-02-01", "kind=bad", "samples=21",
                  "samples=-1", "cursor=nonsense"):
        response = api(client, planned.secret_key, "get", f"tracking-plan/violations?{query}")
        assert response.status_code in (400, 404), (query, response.content)
        assert set(response.json()) == {"error"}
    assert_error(api(client, planned.secret_key, "get", "tracking-plan/violations?samples=²"), 400, "invalid")
    for ref in ("Missing", "²", "9" * 30):
        assert_error(api(client, planned.secret_key, "get", f"tracking-plan/events/{ref}"), 404, "not_found")


# --- the console ------------------------------------------------------------------------------------

def console_user(client, tenant, *, superuser: bool) -> None:  # noqa: ANN001
    with schema_context(tenant.schema_name):
        model = get_user_model()
        if superuser:
            model.objects.create_superuser("boss", "b@x.y", "pw-123456")
        else:
            user = model.objects.create_user("viewer", "v@x.y", "pw-123456", is_staff=True)
            user.user_permissions.set(Permission.objects.filter(
                content_type__app_label="governance", codename__startswith="view_"))
    client.post("/admin/login/", {"username": "boss" if superuser else "viewer", "password": "pw-123456"},
                HTTP_HOST=f"{tenant.slug}.localhost")


def test_the_console_edits_definitions_checked_and_the_change_reaches_ingestion(client, planned):
    set_plan(client, planned, "block")
    console_user(client, planned.tenant, superuser=True)
    host = {"HTTP_HOST": "acme.localhost"}
    form = {"name": "Viewed Promo", "description": "", "properties-TOTAL_FORMS": 1, "properties-INITIAL_FORMS": 0,
            "properties-0-name": "promo", "properties-0-type": "string", "properties-0-required": "on",
            "properties-0-allowed_values": "[1, 2]", "properties-0-description": ""}
    bad = client.post("/admin/governance/eventdefinition/add/", form, **host)
    assert bad.status_code == 200 and b"allowed_values[0] is not a string" in bad.content
    form["properties-0-allowed_values"] = '["spring", "summer"]'
    assert client.post("/admin/governance/eventdefinition/add/", form, **host).status_code == 302
    status, body = send_batch(client, planned, "fast-segment",
                              [("Viewed Promo", {"promo": "winter"}), ("Viewed Promo", {"promo": "spring"})])
    assert body["accepted"] == 1 and body["rejected"][0]["index"] == 0
    page = client.get("/admin/governance/trackingviolationcount/", **host)
    assert page.status_code == 200 and b"Viewed Promo" in page.content and b"value_not_allowed" in page.content
    samples = client.get("/admin/governance/trackingviolationsample/", **host)
    assert b"value &#x27;winter&#x27; is not allowed" in samples.content
    assert client.get("/admin/governance/trackingplan/", **host).status_code == 200


def test_a_console_user_without_governance_rights_only_reads(client, planned):
    console_user(client, planned.tenant, superuser=False)
    host = {"HTTP_HOST": "acme.localhost"}
    with schema_context(planned.tenant.schema_name):
        definition_id = EventDefinition.objects.get().pk
    page = client.get(f"/admin/governance/eventdefinition/{definition_id}/change/", **host)
    assert page.status_code == 200 and b"Order Completed" in page.content and b'name="_save"' not in page.content
    assert client.get("/admin/governance/eventdefinition/add/", **host).status_code == 403
    refused = client.post(f"/admin/governance/eventdefinition/{definition_id}/delete/", {"post": "yes"}, **host)
    assert refused.status_code == 403
    assert client.get("/admin/governance/trackingviolationcount/", **host).status_code == 200
    with schema_context(planned.tenant.schema_name):
        assert EventDefinition.objects.count() == 1
    assert connection.schema_name == "public"


# --- cost -----------------------------------------------------------------------------------------

def test_without_a_plan_or_with_a_cached_one_a_batch_reads_no_plan_table(client, acme):
    from django.test.utils import CaptureQueriesContext

    send_batch(client, acme, "segment", [("Anything", {})])  # this process learns there is no plan
    with CaptureQueriesContext(connection) as queries:
        send_batch(client, acme, "segment", [("Anything", {})])
    assert not [q["sql"] for q in queries.captured_queries if "tracking_" in q["sql"]]
    api(client, acme.secret_key, "post", "tracking-plan/events", ORDER)
    send_batch(client, acme, "segment", [("Order Completed", GOOD)])  # loads the new plan once
    with CaptureQueriesContext(connection) as queries:
        assert send_batch(client, acme, "segment", [("Order Completed", GOOD)])[1] == {"accepted": 1, "rejected": []}
    assert not [q["sql"] for q in queries.captured_queries if "tracking_" in q["sql"]]


def test_lists_cost_a_fixed_number_of_queries(client, planned):
    from django.test.utils import CaptureQueriesContext

    def queries_for(path: str) -> int:
        with CaptureQueriesContext(connection) as queries:
            assert api(client, planned.secret_key, "get", path).status_code == 200
        return len(queries.captured_queries)

    send_batch(client, planned, "segment", [("A", {})])
    one = (queries_for("tracking-plan/events"), queries_for("tracking-plan/violations"))
    for n in range(5):
        api(client, planned.secret_key, "post", "tracking-plan/events", {**ORDER, "name": f"E{n}"})
        send_batch(client, planned, "segment", [(f"B{n}", {}), ("Order Completed", {})])
    assert (queries_for("tracking-plan/events"), queries_for("tracking-plan/violations")) == one

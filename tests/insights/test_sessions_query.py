"""The sessions kind over POST /api/v1/query (answer shape, validation), session filters where they
do not apply, dashboards drawing sessions, and the tenant's session gap through the platform API."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from apps.dashboards import services as dashboards
from apps.insights.engine import query_run
from apps.tenancy.models import Tenant
from tests.helpers import assert_error
from tests.insights.test_query_api import ingest, query  # noqa: F401 - the fixture

RANGE = {"date_from": "2026-11-01", "date_to": "2026-11-03", "timezone": "UTC"}


@pytest.fixture
def visits(acme):  # noqa: ANN001, ANN201
    ingest(acme.tenant, [
        # a1: a page, a click 20 minutes later, then a page 50 minutes after that (a new session).
        {"type": "page", "anonymousId": "a1", "properties": {"path": "/pricing"}, "timestamp": "2026-11-01T10:00:00Z"},
        {"type": "track", "anonymousId": "a1", "event": "Click", "timestamp": "2026-11-01T10:20:00Z"},
        {"type": "page", "anonymousId": "a1", "properties": {"path": "/docs"}, "timestamp": "2026-11-01T11:10:00Z"},
        # b1: one client session over two hours, and a lone event (a bounce) the next day.
        {"type": "page", "anonymousId": "b1", "properties": {"url": "https://x.test/"},
         "context": {"sessionId": "s-9"}, "timestamp": "2026-11-01T08:00:00Z"},
        {"type": "track", "anonymousId": "b1", "event": "Buy", "properties": {"$session_id": "ignored"},
         "context": {"sessionId": "s-9"}, "timestamp": "2026-11-01T10:00:00Z"},
        {"type": "track", "anonymousId": "b1", "event": "Click", "properties": {"$session_id": "ph-1"},
         "timestamp": "2026-11-02T09:00:00Z"},
    ])
    return acme


def test_the_answer(query, visits):  # noqa: F811
    response = query({"kind": "sessions", "interval": "day", **RANGE})
    assert response.status_code == 200, response.content
    body = response.json()
    assert {k: body[k] for k in ("kind", "interval", "timezone")} == {"kind": "sessions", "interval": "day",
                                                                      "timezone": "UTC"}
    by_measure = {s["measure"]: s for s in body["series"]}
    assert list(by_measure) == ["sessions", "median_duration", "mean_duration", "bounce_rate", "events_per_session",
                                "pages_per_session"]
    assert by_measure["sessions"]["buckets"] == ["2026-11-01T00:00:00+00:00", "2026-11-02T00:00:00+00:00"]
    # Sessions: a1 10:00-10:20 (2 events, 1 page), a1 11:10 (1 page), s-9 08:00-10:00 (2 events, 1 page), ph-1.
    assert by_measure["sessions"]["values"] == [3, 1] and by_measure["sessions"]["total"] == 4
    assert by_measure["median_duration"]["values"] == [1200, 0] and by_measure["median_duration"]["total"] == 600
    assert by_measure["mean_duration"]["total"] == (1200 + 0 + 7200 + 0) / 4
    assert by_measure["bounce_rate"]["values"] == [1 / 3, 1] and by_measure["bounce_rate"]["total"] == 0.5
    assert by_measure["events_per_session"]["total"] == 6 / 4
    assert by_measure["pages_per_session"]["total"] == 3 / 4
    assert all(s["breakdown_value"] is None for s in body["series"])

    entry = query({"kind": "sessions", "measures": ["sessions"], **RANGE,
                   "breakdown": {"property": "$entry_page", "type": "session"}}).json()["series"]
    assert [(s["breakdown_value"], s["total"]) for s in entry] == [
        ("/docs", 1), ("/pricing", 1), ("https://x.test/", 1), (None, 1)]  # ties: by value, null last
    empty = query({"kind": "sessions", "date_from": "2026-10-01", "date_to": "2026-10-02", "timezone": "UTC"}).json()
    assert [(s["values"], s["total"]) for s in empty["series"]] == [([0], 0)] + [([None], None)] * 5


def test_filters(query, visits):  # noqa: F811
    def total(*filters: dict) -> int:
        response = query({"kind": "sessions", "measures": ["sessions"], **RANGE, "filters": list(filters)})
        assert response.status_code == 200, response.content
        return response.json()["series"][0]["total"]

    assert total({"property": "path", "operator": "eq", "value": "/pricing"}) == 1
    assert total({"property": "$entry_page", "operator": "eq", "value": "/pricing", "type": "session"}) == 1
    assert total({"property": "$session_duration", "operator": "gte", "value": 1200, "type": "session"}) == 2
    assert total({"property": "$event_count", "operator": "eq", "value": 1, "type": "session"}) == 2
    assert total({"property": "$page_count", "operator": "eq", "value": 0, "type": "session"}) == 1
    assert total({"property": "$exit_page", "operator": "is_set", "type": "session"}) == 3


def test_bad_specs_are_400_naming_the_problem(query, visits):  # noqa: F811
    body = assert_error(query({"kind": "sessions", **RANGE, "filters": [
        {"property": "$browser", "operator": "eq", "value": "x", "type": "session"}]}), 400, "invalid")
    assert "$entry_page" in body["message"] and "$page_count" in body["message"]
    assert_error(query({"kind": "sessions", **RANGE, "measures": ["sessions", "sessions"]}), 400, "invalid")
    assert_error(query({"kind": "sessions", **RANGE, "measures": ["visits"]}), 400, "invalid")
    assert_error(query({"kind": "sessions", **RANGE, "breakdown": {"property": "$session_duration",
                                                                   "type": "session"}}), 400, "invalid")
    assert_error(query({"kind": "trends", **RANGE, "series": [{"event": "Click"}],
                        "breakdown": {"property": "$entry_page", "type": "session"}}), 400, "invalid")
    session_filter = {"property": "$entry_page", "operator": "eq", "value": "/", "type": "session"}
    assert_error(query({"kind": "retention", **RANGE, "start_event": "Click", "return_event": "Click",
                        "filters": [session_filter]}), 400, "invalid")
    response = query({"kind": "sessions", **RANGE, "filters": [{**session_filter, "operator": "gt", "value": "x"}]})
    assert response.status_code == 400  # gt needs a number


def test_the_gap_comes_from_the_tenant_and_names_the_cached_answer(client, visits, platform_headers, settings):
    settings.ENABLE_QUERY_CACHE = True
    spec = {"kind": "sessions", "measures": ["sessions"], **RANGE}
    with schema_context(visits.tenant.schema_name):
        assert query_run(data=spec, tenant=visits.tenant)["series"][0]["total"] == 4
    for bad in (0, 1441, "x"):
        response = client.patch(f"/platform/v1/tenants/{visits.slug}", {"session_gap_minutes": bad},
                                content_type="application/json", **platform_headers)
        assert_error(response, 400, "invalid")
    response = client.patch(f"/platform/v1/tenants/{visits.slug}", {"session_gap_minutes": 60},
                            content_type="application/json", **platform_headers)
    assert response.status_code == 200 and response.json()["session_gap_minutes"] == 60
    assert Tenant.objects.get(pk=visits.tenant.pk).session_gap_minutes == 60
    # The request's tenant row is stale (as a cached key's may be): the gap is read afresh.
    with schema_context(visits.tenant.schema_name):
        answer = query_run(data=spec, tenant=visits.tenant)
    assert answer["cached"] is False and answer["series"][0]["total"] == 3  # a1's two visits are one now
    assert client.patch(f"/platform/v1/tenants/{visits.slug}", {"slug": "other"}, content_type="application/json",
                        **platform_headers).json()["slug"] == visits.slug  # not a setting: ignored
    assert client.get("/api/v1/tenant", HTTP_AUTHORIZATION=f"Bearer {visits.secret_key}").json()[
        "session_gap_minutes"] == 60


def test_dashboards_draw_sessions(visits):
    spec = {"kind": "sessions", "interval": "day", **RANGE}
    with schema_context(visits.tenant.schema_name):
        dashboard = dashboards.dashboard_create(name="sessions")
        for name, widget_type in [("count", "number"), ("daily", "line"), ("bars", "bar"), ("table", "table")]:
            dashboards.widget_create(dashboard=dashboard, tenant=visits.tenant, name=name, widget_type=widget_type,
                                     query_config={**spec, "measures": ["sessions", "bounce_rate"]})
        data = dashboards.dashboard_data(dashboard=dashboard, tenant=visits.tenant)
    views = {entry["name"]: dashboards.widget_view(entry) for entry in data["widgets"]}
    assert views["count"]["value"] == 4
    assert [(s["name"], s["values"]) for s in views["daily"]["series"]] == [("sessions", [3, 1]),
                                                                            ("bounce_rate", [1 / 3, 1])]
    assert views["table"]["columns"] == ["bucket", "sessions", "bounce_rate"] and len(views["table"]["rows"]) == 2
    # The bounce rate is a share: its series says so (the charts write it as a percentage); counts do not.
    assert [s.get("percent", False) for s in views["daily"]["series"]] == [False, True]
    assert "percent" not in views["count"]


def test_a_bounce_rate_number_is_marked_as_a_share(visits):
    with schema_context(visits.tenant.schema_name):
        dashboard = dashboards.dashboard_create(name="bounce")
        dashboards.widget_create(dashboard=dashboard, tenant=visits.tenant, name="bounce", widget_type="number",
                                 query_config={"kind": "sessions", "interval": "day", **RANGE,
                                               "measures": ["bounce_rate"]})
        data = dashboards.dashboard_data(dashboard=dashboard, tenant=visits.tenant)
    view = dashboards.widget_view(data["widgets"][0])
    assert view["percent"] is True and view["value"] == data["widgets"][0]["result"]["series"][0]["total"]


def test_the_platform_console_shows_the_gap_of_an_existing_tenant(client, acme):
    from tests.tenancy.test_console_routing import make_staff

    make_staff(None, "platform-admin")
    client.post("/admin/login/", {"username": "platform-admin", "password": "pw-123456"}, HTTP_HOST="localhost")
    page = client.get(f"/admin/tenancy/tenant/{acme.tenant.pk}/change/", HTTP_HOST="localhost")
    assert page.status_code == 200 and b'name="session_gap_minutes"' in page.content
    add = client.get("/admin/tenancy/tenant/add/", HTTP_HOST="localhost")
    assert add.status_code == 200 and b'name="session_gap_minutes"' not in add.content


def test_only_queries_with_a_session_filter_cut_sessions(visits):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    trend = {"kind": "trends", "series": [{"event": "Click"}], **RANGE, "refresh": True}
    funnel = {"kind": "funnel", "steps": [{"event": "Click"}, {"event": "Buy"}], **RANGE, "refresh": True}
    session_filter = {"property": "$event_count", "operator": "gte", "value": 1, "type": "session"}
    with schema_context(visits.tenant.schema_name):
        for spec in (trend, funnel):
            with CaptureQueriesContext(connection) as plain:
                query_run(data=spec, tenant=visits.tenant)
            with CaptureQueriesContext(connection) as filtered:
                query_run(data={**spec, "filters": [session_filter]}, tenant=visits.tenant)
            assert not any("skey" in q["sql"] for q in plain.captured_queries), spec["kind"]
            assert not any("session_gap_minutes" in q["sql"] for q in plain.captured_queries)
            assert any("skey" in q["sql"] for q in filtered.captured_queries), spec["kind"]

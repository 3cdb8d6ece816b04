"""Dashboard templates: "executive" and "technical" built over the tenant's own events and metrics,
their widgets' data equal to the engine's answers, an empty tenant, errors, isolation and the
console's "New from template"."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from django_tenants.utils import schema_context

from apps.dashboards.models import Dashboard
from apps.events.ingestion import Clock, parse_segment
from apps.events.storage import events_write
from apps.insights.queries.catalog import event_volumes
from apps.metrics import services as metric_services
from tests.events.test_admin import log_in
from tests.helpers import assert_error, bearer

NOW = datetime.now(timezone.utc).replace(microsecond=0)
VOLATILE = ("computed_at", "cached")


def ingest(tenant, messages: list[dict]) -> None:  # noqa: ANN001
    with schema_context(tenant.schema_name):
        clock = Clock(received_at=NOW, sent_at=None, retention_days=3650)
        rows = [parse_segment({"messageId": f"{tenant.slug}-{i}", **m}, clock) for i, m in enumerate(messages)]
        events_write(rows=rows, received_at=NOW)


def at(**delta: float) -> str:
    return (NOW - timedelta(**delta)).isoformat()


def busy_messages() -> list[dict]:
    """12 persons: each views pages 10 and 3 days ago (a session each time); 8 of them then sign up,
    4 of those purchase; two front-end errors and one API error."""
    messages: list[dict] = []
    for n in range(12):
        for days, path in ((10, "/"), (3, "/pricing")):
            messages.append({"type": "page", "userId": f"p{n}", "properties": {"path": path},
                             "context": {"sessionId": f"s{n}-{days}"}, "timestamp": at(days=days, minutes=n)})
        if n < 8:
            messages.append({"type": "track", "userId": f"p{n}", "event": "Signed Up", "timestamp": at(days=3, hours=-1)})
        if n < 4:
            messages.append({"type": "track", "userId": f"p{n}", "event": "Purchased",
                             "properties": {"amount": 10 + n}, "timestamp": at(days=3, hours=-2)})
    messages += [{"type": "track", "userId": f"p{n}", "event": "$error", "properties": {"message": "boom"},
                  "timestamp": at(hours=5 + n)} for n in range(2)]
    messages.append({"type": "track", "anonymousId": "$server", "event": "$api_error", "timestamp": at(hours=4)})
    return messages


@pytest.fixture
def busy(acme):  # noqa: ANN001, ANN201
    ingest(acme.tenant, busy_messages())
    with schema_context(acme.tenant.schema_name):
        metric_services.metric_create(name="http.server.duration", metric_type="histogram", unit="ms",
                                      dimensions=["route", "method", "status"])
        metric_services.metric_create(name="system.cpu_percent", metric_type="gauge")
        metric_services.metric_create(name="unrelated.thing", metric_type="counter")
        values = [{"metric": "http.server.duration", "value": v, "timestamp": at(hours=h),
                   "dimensions": {"route": route, "method": "GET", "status": status}}
                  for h, route, status, v in ((2, "/a", 200, 10), (2, "/a", 200, 30), (3, "/b", 500, 250),
                                              (26, "/b", 200, 90))]
        values += [{"metric": "system.cpu_percent", "value": v, "timestamp": at(hours=h), "dimensions": {"host": "w"}}
                   for h, v in ((1, 40), (2, 60), (30, 20))]
        values += [{"metric": "unrelated.thing", "value": 1, "timestamp": at(hours=1)}]
        assert metric_services.metric_values_record_batch(data={"values": values})["rejected"] == []
    return acme


def api(client, key: str, method: str, path: str, body: dict | None = None):  # noqa: ANN001, ANN201
    call = getattr(client, method)
    if body is None:
        return call(f"/api/v1/{path}", **bearer(key))
    return call(f"/api/v1/{path}", body, content_type="application/json", **bearer(key))


def from_template(client, key: str, template: str, **fields) -> dict:  # noqa: ANN001, ANN003
    created = api(client, key, "post", "dashboards/from-template", {"template": template, **fields})
    assert created.status_code == 201, created.content
    return created.json()


def nonempty(result: dict) -> bool:
    kind = result["kind"]
    if kind == "trends":
        return any(v for s in result["series"] for v in s["values"])
    if kind == "metric":
        return any(v for s in result["series"] for v in s["values"] if v is not None)
    if kind == "funnel":
        return result["steps"][-1]["count"] > 0
    if kind == "retention":
        return any(c["retained"][1] > 0 for c in result["cohorts"] if len(c["retained"]) > 1)
    if kind == "sessions":  # counts are 0 and other measures null where there are no sessions
        return any(bool(v) if s["measure"] == "sessions" else v is not None
                   for s in result["series"] for v in s["values"])
    return bool(result["results"])


def data_equals_engine(client, key: str, dashboard: dict) -> dict[str, dict]:  # noqa: ANN001
    """Every widget's data, checked against the engine recomputing the widget's own query."""
    answer = api(client, key, "get", f"dashboards/{dashboard['id']}/data")
    assert answer.status_code == 200, answer.content
    results = {}
    specs = {w["name"]: w["query_config"] for w in dashboard["widgets"]}
    for entry in answer.json()["widgets"]:
        assert "error" not in entry, entry
        # The same query over the instants the widget's relative range resolved to, recomputed.
        same_range = {"date_from": entry["result"]["date_from"], "date_to": entry["result"]["date_to"]}
        engine = api(client, key, "post", "query", {**specs[entry["name"]], **same_range, "refresh": True})
        assert engine.status_code == 200, engine.content
        assert engine.json()["cached"] is False
        strip = lambda r: {k: v for k, v in r.items() if k not in VOLATILE}  # noqa: E731
        assert strip(entry["result"]) == strip(engine.json()), entry["name"]
        results[entry["name"]] = entry["result"]
    return results


def test_the_templates_are_listed(client, acme):
    answer = api(client, acme.secret_key, "get", "dashboards/templates")
    assert answer.status_code == 200
    assert [t["name"] for t in answer.json()] == ["executive", "technical"]
    assert all(t["description"] and t["display_name"] for t in answer.json())


def test_executive_is_built_over_the_tenants_own_events(client, busy):
    dashboard = from_template(client, busy.secret_key, "executive")
    assert dashboard["name"] == "executive" and dashboard["category"] == "executive"
    widgets = {w["name"]: w for w in dashboard["widgets"]}
    assert list(widgets) == ["active-persons", "active-persons-daily", "sessions-daily", "bounce-rate",
                             "session-duration", "events-daily", "page-views", "top-events", "funnel", "retention"]
    assert widgets["active-persons"]["widget_type"] == "number"
    assert widgets["top-events"]["query_config"]["series"] == [{"event": "Signed Up"}, {"event": "Purchased"}]
    assert widgets["funnel"]["query_config"]["steps"] == [
        {"event_type": "page_view"}, {"event": "Signed Up"}, {"event": "Purchased"}]
    assert widgets["retention"]["query_config"]["start_event"] == "$pageview"
    assert {s["event_type"] for s in widgets["events-daily"]["query_config"]["series"]} == {"page", "track"}
    with schema_context(busy.tenant.schema_name):
        stored = Dashboard.objects.get(pk=dashboard["id"])
        assert stored.widgets.count() == 10 and stored.description

    results = data_equals_engine(client, busy.secret_key, dashboard)
    assert all(nonempty(result) for result in results.values()), {k: v for k, v in results.items()
                                                                   if not nonempty(v)}
    # The figures themselves, counted by hand from the fixture.
    assert results["active-persons"]["series"][0]["total"] == 12
    assert [s["count"] for s in results["funnel"]["steps"]] == [12, 8, 4]
    assert sum(c["retained"][1] for c in results["retention"]["cohorts"]) == 12
    assert [s["total"] for s in results["top-events"]["series"]] == [8, 4]
    # Sessions: 24 page views each with a session id of its own; sign-ups and purchases carry none
    # and are an hour apart (two sessions for the 4 buyers, one for the 4 others); 2 errors of two
    # persons hours apart; the server's API error. Every session is one event: all bounce.
    assert results["sessions-daily"]["series"][0]["total"] == 24 + 4 * 2 + 4 + 2 + 1
    assert results["bounce-rate"]["series"][0]["total"] == 1
    assert results["session-duration"]["series"][0]["total"] == 0


def test_technical_is_built_over_the_tenants_own_metrics_and_errors(client, busy):
    dashboard = from_template(client, busy.secret_key, "technical", name="tech", display_name="Tech")
    assert (dashboard["name"], dashboard["display_name"]) == ("tech", "Tech")
    widgets = {w["name"]: w for w in dashboard["widgets"]}
    assert list(widgets) == ["http-server-duration-p50", "http-server-duration-p95", "http-server-duration-status",
                             "errors-hourly", "latest-error", "latest-api-error", "system-cpu-percent-avg",
                             "system-cpu-percent-last"]
    assert widgets["http-server-duration-p95"]["query_config"]["group_by"] == ["route"]
    assert widgets["errors-hourly"]["query_config"]["series"] == [{"event": "$error"}, {"event": "$api_error"}]
    assert widgets["system-cpu-percent-last"]["options"] == {"min": 0, "max": 100}

    results = data_equals_engine(client, busy.secret_key, dashboard)
    assert all(nonempty(result) for result in results.values())
    p95 = {tuple(s["group"].items()): [v for v in s["values"] if v is not None]
           for s in results["http-server-duration-p95"]["series"]}
    assert set(p95) == {(("route", "/a"),), (("route", "/b"),)}
    statuses = {s["group"]["status"]: sum(s["values"]) for s in results["http-server-duration-status"]["series"]}
    assert statuses == {"200": 3, "500": 1}
    assert [s["total"] for s in results["errors-hourly"]["series"]] == [2, 1]
    assert len(results["latest-error"]["results"]) == 2
    # Other metrics only stand in when none of the well-known ones has values.
    assert not any(name.startswith("unrelated") for name in widgets)


def test_other_metrics_stand_in_when_the_well_known_ones_are_missing(client, acme):
    with schema_context(acme.tenant.schema_name):
        metric_services.metric_create(name="queue.depth", metric_type="gauge")
        metric_services.metric_create(name="jobs.done", metric_type="counter")
        metric_services.metric_create(name="never.used", metric_type="histogram")
        metric_services.metric_values_record_batch(data={"values": [
            *[{"metric": "queue.depth", "value": v, "timestamp": at(hours=1)} for v in (3, 5, 7)],
            {"metric": "jobs.done", "value": 2, "timestamp": at(hours=2)}]})
    dashboard = from_template(client, acme.secret_key, "technical")
    assert [w["name"] for w in dashboard["widgets"]] == ["errors-hourly", "queue-depth-avg", "jobs-done-sum"]
    results = data_equals_engine(client, acme.secret_key, dashboard)
    assert nonempty(results["queue-depth-avg"]) and nonempty(results["jobs-done-sum"])


def test_on_a_tenant_with_no_data_the_widgets_still_validate_and_answer(client, acme):
    executive = from_template(client, acme.secret_key, "executive")
    technical = from_template(client, acme.secret_key, "technical")
    specs = {w["name"]: w["query_config"] for w in executive["widgets"]}
    assert list(specs) == ["active-persons", "active-persons-daily", "sessions-daily", "bounce-rate",
                           "session-duration", "events-daily", "funnel", "retention"]
    assert specs["funnel"]["steps"] == [{"event_type": "page_view"}, {"event_type": "conversion"}]
    assert [w["name"] for w in technical["widgets"]] == ["errors-hourly"]
    assert technical["widgets"][0]["query_config"]["series"] == [
        {"event": "$error"}, {"event": "$api_error"}, {"event": "$request_error"}]
    for dashboard in (executive, technical):
        results = data_equals_engine(client, acme.secret_key, dashboard)
        assert not any(nonempty(result) for result in results.values())


def test_unknown_templates_bad_names_and_taken_names_are_refused_and_write_nothing(client, busy):
    key = busy.secret_key
    unknown = assert_error(api(client, key, "post", "dashboards/from-template", {"template": "sales"}), 400, "invalid")
    assert unknown["details"]["known"] == ["executive", "technical"] and "executive" in unknown["message"]
    assert_error(api(client, key, "post", "dashboards/from-template", {}), 400, "invalid")
    assert_error(api(client, key, "post", "dashboards/from-template", {"template": "executive", "name": "Bad Name"}),
                 400, "invalid")
    assert_error(api(client, key, "post", "dashboards/from-template", {"template": ["executive"]}), 400, "invalid")
    with schema_context(busy.tenant.schema_name):
        assert not Dashboard.objects.exists()
    from_template(client, key, "executive")
    assert_error(api(client, key, "post", "dashboards/from-template", {"template": "executive"}), 409,
                 "dashboard_exists")
    assert_error(api(client, key, "post", "dashboards", {"name": "executive"}), 409, "dashboard_exists")
    with schema_context(busy.tenant.schema_name):
        assert Dashboard.objects.count() == 1 and Dashboard.objects.get().widgets.count() == 10
    from_template(client, key, "executive", name="executive-2")


def test_a_template_reads_only_the_callers_tenant(client, busy, globex):
    ingest(globex.tenant, [{"type": "track", "userId": f"g{n}", "event": "Globex Thing", "timestamp": at(hours=n + 1)}
                           for n in range(3)])
    theirs = from_template(client, globex.secret_key, "executive")
    text = repr([w["query_config"] for w in theirs["widgets"]])
    assert "Globex Thing" in text and "Signed Up" not in text and "'$pageview'" not in text
    assert {w["name"] for w in theirs["widgets"]} == {"active-persons", "active-persons-daily", "sessions-daily",
                                                      "bounce-rate", "session-duration", "events-daily",
                                                      "top-events", "funnel", "retention"}
    technical = from_template(client, globex.secret_key, "technical")
    assert [w["name"] for w in technical["widgets"]] == ["errors-hourly"]  # acme's metrics and errors unseen
    data = api(client, globex.secret_key, "get", f"dashboards/{theirs['id']}/data").json()
    assert {e["name"]: e["result"]["series"][0]["total"] for e in data["widgets"]
            if e["name"] in ("active-persons", "top-events")} == {"active-persons": 3, "top-events": 3}
    # Each tenant sees its own dashboards only; the same name is free in the other tenant.
    ours = from_template(client, busy.secret_key, "executive")
    seen = api(client, globex.secret_key, "get", f"dashboards/{ours['id']}")
    assert seen.status_code == 404 or "Signed Up" not in seen.content.decode()
    assert [d["name"] for d in api(client, busy.secret_key, "get", "dashboards").json()["results"]] == ["executive"]
    assert {d["name"] for d in api(client, globex.secret_key, "get", "dashboards").json()["results"]} == {
        "executive", "technical"}

def test_event_volumes_are_ranked_capped_and_bounded(busy):
    with schema_context(busy.tenant.schema_name):
        ranked = event_volumes(start=NOW - timedelta(days=30), end=NOW + timedelta(seconds=1))
        assert [(v.event, v.count, v.event_type) for v in ranked] == [
            ("$pageview", 24, "page"), ("Signed Up", 8, "track"), ("Purchased", 4, "track"), ("$error", 2, "track"),
            ("$api_error", 1, "track")]
        capped = event_volumes(start=NOW - timedelta(days=30), end=NOW + timedelta(seconds=1), count_cap=5, limit=3)
        assert [(v.event, v.count) for v in capped] == [("$pageview", 5), ("Signed Up", 5), ("Purchased", 4)]
        recent = event_volumes(start=NOW - timedelta(days=5), end=NOW + timedelta(seconds=1))
        assert ("$pageview", 12) in [(v.event, v.count) for v in recent]
        few = event_volumes(start=NOW - timedelta(days=30), end=NOW + timedelta(seconds=1), names_cap=2)
        assert [(v.event, v.count) for v in few] == [("$error", 2), ("$api_error", 1)]  # the first two names

def test_the_console_makes_a_dashboard_from_a_template(client, busy):
    log_in(client, busy.tenant)
    host = {"HTTP_HOST": "acme.localhost"}
    listing = client.get("/admin/dashboards/dashboard/", **host).content.decode()
    assert "/admin/dashboards/dashboard/from-template/" in listing and "New from template" in listing
    form = client.get("/admin/dashboards/dashboard/from-template/", **host)
    assert form.status_code == 200 and b"Executive summary" in form.content
    created = client.post("/admin/dashboards/dashboard/from-template/", {"template": "technical", "name": ""}, **host)
    assert created.status_code == 302
    with schema_context(busy.tenant.schema_name):
        dashboard = Dashboard.objects.get(name="technical")
        assert created["Location"].endswith(f"/admin/dashboards/dashboard/{dashboard.pk}/change/")
        assert dashboard.widgets.filter(name="http-server-duration-p95").exists()
    again = client.post("/admin/dashboards/dashboard/from-template/", {"template": "technical"}, **host)
    assert again.status_code == 200 and b"already exists" in again.content
    with schema_context(busy.tenant.schema_name):
        assert Dashboard.objects.count() == 1

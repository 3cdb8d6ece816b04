"""Reports over the API: CRUD with every content type, refusals naming the field, schedules and
next_run_at, subscriptions, runs (generate now, send), downloads, the console, and isolation."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timezone

import openpyxl
import pytest
import time_machine
from django.core import mail
from django_tenants.utils import schema_context

from apps.reports.models import Report
from tests.dashboards.test_dashboards_api import api, make_dashboard, shop  # noqa: F401 - the fixture
from tests.events.test_admin import log_in
from tests.helpers import assert_error

QUERIES = {"queries": [{"name": "buys", "title": "Buys", "query": {"kind": "trends", "series": [{"event": "Buy"}]}}]}


def create(client, key: str, **fields) -> dict:  # noqa: ANN001, ANN003
    body = {"name": "weekly", "report_type": "queries", "query_config": QUERIES, **fields}
    response = api(client, key, "post", "reports", body)
    assert response.status_code == 201, response.content
    return response.json()


def test_create_read_update_delete(client, shop):  # noqa: F811
    key = shop.secret_key
    with time_machine.travel(datetime(2026, 11, 23, 10, tzinfo=timezone.utc), tick=False):
        report = create(client, key, display_name="Weekly", frequency="weekly", weekday=0, hour=8, minute=30,
                        timezone="Europe/Berlin", formats=["html", "xlsx"], time_range="last_week")
    # Monday 23 Nov 2026, 10:00 UTC is past 08:30 in Berlin: the next Monday.
    assert report["next_run_at"] == "2026-11-30T07:30:00Z"
    assert report["schedule"] == "weekly on Monday at 08:30 Europe/Berlin"
    assert report["formats"] == ["html", "xlsx"] and report["subscriptions"] == []
    path = f"reports/{report['id']}"
    assert api(client, key, "get", path).json()["name"] == "weekly"
    assert [r["name"] for r in api(client, key, "get", "reports").json()["results"]] == ["weekly"]

    changed = api(client, key, "patch", path, {"frequency": "", "display_name": "Weekly KPIs"}).json()
    assert (changed["next_run_at"], changed["schedule"], changed["display_name"]) == (None, None, "Weekly KPIs")
    changed = api(client, key, "patch", path, {"frequency": "cron", "cron": "0 9 * * 1-5"}).json()
    assert changed["next_run_at"] is not None and changed["schedule"].startswith("cron")
    assert api(client, key, "patch", path, {"enabled": False}).json()["next_run_at"] is None
    assert_error(api(client, key, "post", "reports", {"name": "weekly", "report_type": "queries",
                                                       "query_config": QUERIES}), 409, "report_exists")
    assert api(client, key, "delete", path).status_code == 204
    assert_error(api(client, key, "get", path), 404, "not_found")


def test_dashboard_widgets_and_seed_style_metric_reports(client, shop,  # noqa: F811
                                                         django_capture_on_commit_callbacks):
    key = shop.secret_key
    dashboard = make_dashboard(client, key)
    by_dashboard = create(client, key, name="by-dashboard", report_type="dashboard", dashboard=dashboard["id"])
    assert by_dashboard["dashboard"] == dashboard["id"]
    widget_ids = [w["id"] for w in dashboard["widgets"][:2]]
    by_widgets = create(client, key, name="by-widgets", report_type="widgets", query_config={"widgets": widget_ids})
    assert by_widgets["query_config"] == {"widgets": widget_ids}
    # The seed API: metrics and time_range inside query_config.
    seeded = create(client, key, name="latency", report_type="queries",
                    query_config={"metrics": ["latency", {"metric": "latency", "aggregation": "p95"}],
                                  "time_range": "30d"})
    assert seeded["time_range"] == "30d"
    assert [q["query"].get("aggregation") for q in seeded["query_config"]["queries"]] == [None, "p95"]
    with schema_context(shop.tenant.schema_name):
        assert Report.objects.count() == 3

    for report in (by_dashboard, by_widgets, seeded):
        with django_capture_on_commit_callbacks(execute=True):
            run = api(client, key, "post", f"reports/{report['id']}/run", {})
        assert run.status_code == 202 and run.json()["status"] == "pending"
        done = api(client, key, "get", f"reports/runs/{run.json()['id']}").json()
        assert done["status"] == "succeeded", done
    csv_text = api(client, key, "get", f"reports/runs/{done['id']}/download?format=csv").content.decode()
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    assert {r["item"] for r in rows} == {"latency", "latency-p95"}


@pytest.mark.parametrize(("body", "field"), [
    ({"report_type": "pie"}, "report_type"),
    ({"formats": ["gif"]}, "formats"),
    ({"formats": []}, "formats"),
    ({"time_range": "2d"}, "time_range"),
    ({"query_config": {"queries": [{"name": "x", "query": {"kind": "trends", "series": []}}]}}, "query_config"),
    ({"query_config": {"queries": [{"name": "x", "chart": "gauge", "query": {
        "kind": "funnel", "steps": [{"event": "a"}, {"event": "b"}]}}]}}, "query_config"),
    ({"query_config": {}}, "query_config"),
    ({"report_type": "dashboard", "dashboard": 999999}, "dashboard"),
    ({"report_type": "widgets", "query_config": {"widgets": [999999]}}, "query_config"),
    ({"frequency": "hourly"}, "frequency"),
    ({"frequency": "weekly"}, "weekday"),
    ({"frequency": "monthly", "day_of_month": None}, "day_of_month"),
    ({"frequency": "cron", "cron": "* * * * *"}, "cron"),
    ({"frequency": "daily", "timezone": "Mars/Olympus"}, "timezone"),
    ({"hour": 24}, "hour"),
])
def test_bad_reports_are_refused_naming_the_field(client, shop, body, field):  # noqa: F811
    response = api(client, shop.secret_key, "post", "reports",
                   {"name": "r", "report_type": "queries", "query_config": QUERIES, **body})
    error = assert_error(response, 400, "invalid")
    assert field in str(error["details"]), error


def test_subscriptions(client, shop):  # noqa: F811
    key = shop.secret_key
    report = create(client, key)
    path = f"reports/{report['id']}/subscriptions"
    added = api(client, key, "post", path, {"email": "Ann@Example.COM", "user_id": "u1"})
    assert added.status_code == 201 and added.json()["email"] == "Ann@example.com"
    assert_error(api(client, key, "post", path, {"email": "not-an-address"}), 400, "invalid")
    assert api(client, key, "post", path, {"email": "bob@example.org"}).status_code == 201
    assert [s["email"] for s in api(client, key, "get", f"reports/{report['id']}").json()["subscriptions"]] == [
        "Ann@example.com", "bob@example.org"]
    gone = api(client, key, "delete", path, {"email": "bob@example.org"})
    assert gone.status_code == 200 and gone.json()["unsubscribed_at"] is not None
    assert api(client, key, "delete", f"{path}?email=Ann@example.com").status_code == 200
    assert_error(api(client, key, "delete", path, {"email": "nobody@example.org"}), 404, "not_found")
    assert api(client, key, "get", f"reports/{report['id']}").json()["subscriptions"] == []
    assert len(api(client, key, "get", path).json()) == 2  # the history stays
    assert api(client, key, "post", path, {"email": "bob@example.org"}).json()["unsubscribed_at"] is None


def test_run_now_generates_sends_and_offers_downloads(client, shop, django_capture_on_commit_callbacks):  # noqa: F811
    key = shop.secret_key
    report = create(client, key, formats=["html", "csv", "xlsx"], time_range="7d")
    api(client, key, "post", f"reports/{report['id']}/subscriptions", {"email": "ann@example.com"})
    with django_capture_on_commit_callbacks(execute=True):
        generated = api(client, key, "post", f"reports/{report['id']}/run", {"send": False})
    assert generated.status_code == 202 and mail.outbox == []
    with django_capture_on_commit_callbacks(execute=True):
        sent = api(client, key, "post", f"reports/{report['id']}/run", {"send": True}).json()
    assert [m.to for m in mail.outbox] == [["ann@example.com"]]

    runs = api(client, key, "get", f"reports/{report['id']}/runs").json()["results"]
    assert [r["id"] for r in runs] == [sent["id"], generated.json()["id"]]
    latest = runs[0]
    assert (latest["status"], latest["attempts"], latest["error"]) == ("succeeded", 1, "")
    assert latest["formats"] == ["html", "csv", "xlsx"] and latest["finished_at"] >= latest["started_at"]
    assert [(r["email"], r["status"]) for r in latest["recipients"]] == [("ann@example.com", "sent")]
    assert runs[1]["recipients"] == []

    base = f"reports/runs/{sent['id']}/download"
    html = api(client, key, "get", f"{base}?format=html")
    assert html["Content-Type"].startswith("text/html") and b"data:image/png;base64," in html.content
    assert b"report-footer" not in html.content
    rows = list(csv.DictReader(io.StringIO(api(client, key, "get", f"{base}?format=csv").content.decode())))
    assert sum(int(r["value"]) for r in rows if r["column"] != "bucket") == 3  # the three buys
    book = openpyxl.load_workbook(io.BytesIO(api(client, key, "get", f"{base}?format=xlsx").content))
    assert book.sheetnames == ["buys"]
    assert_error(api(client, key, "get", f"{base}?format=docx"), 400, "invalid")
    assert_error(api(client, key, "get", "reports/runs/999999"), 404, "not_found")

    csv_only = create(client, key, name="csv-only", formats=["csv"])
    with django_capture_on_commit_callbacks(execute=True):
        run = api(client, key, "post", f"reports/{csv_only['id']}/run", {}).json()
    assert_error(api(client, key, "get", f"reports/runs/{run['id']}/download?format=xlsx"), 404, "not_generated")


def test_another_tenant_sees_nothing(client, shop, globex, django_capture_on_commit_callbacks):  # noqa: F811
    report = create(client, shop.secret_key)
    with django_capture_on_commit_callbacks(execute=True):
        run = api(client, shop.secret_key, "post", f"reports/{report['id']}/run", {}).json()
    other = globex.secret_key
    rid = report["id"]
    for method, path, body in [
        ("get", f"reports/{rid}", None), ("patch", f"reports/{rid}", {"display_name": "x"}),
        ("delete", f"reports/{rid}", None), ("get", f"reports/{rid}/subscriptions", None),
        ("post", f"reports/{rid}/subscriptions", {"email": "eve@example.com"}),
        ("delete", f"reports/{rid}/subscriptions", {"email": "eve@example.com"}),
        ("post", f"reports/{rid}/run", {"send": True}), ("get", f"reports/{rid}/runs", None),
        ("get", f"reports/runs/{run['id']}", None), ("get", f"reports/runs/{run['id']}/download?format=csv", None),
    ]:
        assert_error(api(client, other, method, path, body), 404, "not_found")
    assert api(client, other, "get", "reports").json()["results"] == []
    assert api(client, shop.write_key, "get", "reports").status_code == 403
    assert api(client, shop.secret_key, "get", f"reports/{rid}").status_code == 200


def test_console_edits_reports_and_sends_now(client, shop, django_capture_on_commit_callbacks):  # noqa: F811
    log_in(client, shop.tenant)
    host = {"HTTP_HOST": f"{shop.slug}.localhost"}
    page = client.get("/admin/reports/report/add/", **host)
    assert page.status_code == 200
    created = client.post("/admin/reports/report/add/", {
        "name": "from-console", "report_type": "queries", "query_config": '{"queries": [{"name": "b", "query": '
        '{"kind": "trends", "series": [{"event": "Buy"}]}}]}', "time_range": "7d", "formats": '["csv"]',
        "frequency": "daily", "hour": "9", "minute": "0", "timezone": "UTC", "enabled": "on",
        "subscriptions-TOTAL_FORMS": "1", "subscriptions-INITIAL_FORMS": "0",
        "subscriptions-0-email": "ann@example.com", "runs-TOTAL_FORMS": "0", "runs-INITIAL_FORMS": "0"}, **host)
    assert created.status_code == 302, created.content.decode()[:3000]
    refused = client.post("/admin/reports/report/add/", {
        "name": "bad", "report_type": "queries", "query_config": "{}", "time_range": "7d", "formats": '["csv"]',
        "hour": "9", "minute": "0", "timezone": "UTC", "subscriptions-TOTAL_FORMS": "0",
        "subscriptions-INITIAL_FORMS": "0", "runs-TOTAL_FORMS": "0", "runs-INITIAL_FORMS": "0"}, **host)
    assert refused.status_code == 200 and b"query_config" in refused.content
    with schema_context(shop.tenant.schema_name):
        report = Report.objects.get(name="from-console")
        assert report.next_run_at is not None and report.subscriptions.count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post("/admin/reports/report/", {"action": "send_now", "_selected_action": [report.pk]}, **host)
    assert done.status_code == 302
    assert [m.to for m in mail.outbox] == [["ann@example.com"]]
    with schema_context(shop.tenant.schema_name):
        run = report.runs.get()
    assert client.get(f"/admin/reports/reportrun/{run.pk}/change/", **host).status_code == 200
    assert client.get("/admin/reports/reportrun/", **host).status_code == 200
    assert client.get(f"/admin/reports/report/{report.pk}/change/", **host).status_code == 200

"""The demo tenant's content (`ensure_demo_content`, run by `make run`): metrics with values, a
segment with members, the two template dashboards answering figures, a weekly report with its
subscriber; a second run changes nothing."""

from __future__ import annotations

from datetime import datetime, timezone

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django_tenants.utils import schema_context

from apps.alerts import services as alert_services
from apps.alerts.models import AlertRule
from apps.dashboards import services as dashboard_services
from apps.dashboards.models import Dashboard, Widget
from apps.events.models import Event
from apps.metrics.models import Metric, MetricValue
from apps.reports.demo import METRICS
from apps.reports.models import Report, Subscription
from apps.segments.models import Segment

SMALL = ("--days", "3", "--requests-per-hour", "2", "--users", "40")


def run(*args: str) -> dict:
    out = StringIO()
    call_command("ensure_demo_content", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def counts() -> dict[str, int]:
    return {"events": Event.objects.count(), "values": MetricValue.objects.count(), "metrics": Metric.objects.count(),
            "segments": Segment.objects.count(), "dashboards": Dashboard.objects.count(),
            "widgets": Widget.objects.count(), "reports": Report.objects.count(),
            "subscriptions": Subscription.objects.count()}


def test_the_demo_tenant_gets_every_part_working_and_a_second_run_changes_nothing(make_tenant):
    demo = make_tenant("demo", timezone="Europe/Paris")
    first = run(*SMALL)
    assert len(first["created"]) == 1 + len(METRICS) + 1 + 2 + 1 + 2, first["created"]
    with schema_context(demo.tenant.schema_name):
        assert Event.objects.filter(event="$pageview").exists() and Event.objects.filter(event="$error").exists()
        for definition in METRICS:
            metric = Metric.objects.get(name=definition["name"])
            assert metric.metric_type == definition["metric_type"]
            assert MetricValue.objects.filter(metric_id=metric.pk).count() > 10, metric.name
        segment = Segment.objects.get(name="paying")
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM segment_members WHERE segment_id = %s", [segment.pk])
            members = cursor.fetchone()[0]
        assert segment.size and segment.size == members and segment.refreshed_at is not None

        dashboards = {name: Dashboard.objects.get(pk=pk) for name, pk in first["dashboards"].items()}
        assert set(dashboards) == {"executive", "technical"}
        technical_names = set(dashboards["technical"].widgets.values_list("name", flat=True))
        assert {"api-request-duration-p95", "api-request-duration-status", "system-cpu-percent-last",
                "system-memory-percent-avg", "errors-hourly", "latest-error"} <= technical_names
        for dashboard in dashboards.values():
            data = dashboard_services.dashboard_data(dashboard=dashboard, tenant=demo.tenant)
            assert data["widgets"] and all("error" not in w for w in data["widgets"]), data
            numbers = [v for w in data["widgets"] for v in _numbers(w["result"])]
            assert any(numbers), dashboard.name
        executive = dashboard_services.dashboard_data(dashboard=dashboards["executive"], tenant=demo.tenant)
        active = next(w for w in executive["widgets"] if w["name"] == "active-persons")
        assert active["result"]["series"][0]["total"] > 0

        report = Report.objects.get(name="weekly-executive")
        assert (report.report_type, report.dashboard_id, report.frequency, report.weekday, report.timezone) == (
            "dashboard", dashboards["executive"].pk, "weekly", 0, "Europe/Paris")
        assert report.next_run_at is not None and report.enabled
        assert list(report.subscriptions.values_list("email", "unsubscribed_at")) == [("admin@example.com", None)]
        rules = {rule.name: rule for rule in AlertRule.objects.all()}
        assert set(rules) == {"slow-checkout", "traffic-anomaly"}
        assert all(rule.enabled and rule.channels == [{"type": "email", "address": "admin@example.com"}]
                   for rule in rules.values())
        # Both check cleanly against the demo's own data (a value, not an error).
        for rule in rules.values():
            alert_services.rule_check_now(rule_id=rule.pk, now=datetime.now(timezone.utc), tenant=demo.tenant)
            rule.refresh_from_db()
            assert rule.last_checked_at is not None and not rule.last_error, (rule.name, rule.last_error)
            assert rule.state != "error"
        before = counts()

    second = run(*SMALL)
    assert second["created"] == [] and second["dashboards"] == first["dashboards"]
    assert second["report"] == first["report"]
    with schema_context(demo.tenant.schema_name):
        assert counts() == before


def _numbers(result: dict) -> list:
    if result["kind"] in ("trends", "metric", "sessions"):
        return [v for s in result["series"] for v in s["values"] if v is not None]
    if result["kind"] == "funnel":
        return [s["count"] for s in result["steps"]]
    if result["kind"] == "retention":
        return [n for c in result["cohorts"] for n in c["retained"]]
    return [len(result["results"])]


def test_the_command_needs_the_tenant_and_sane_sizes(make_tenant, settings):
    with pytest.raises(CommandError, match="ensure_demo_tenant"):
        run("--slug", "nobody")
    make_tenant("demo")
    with pytest.raises(CommandError, match="--days"):
        run("--days", "0")
    settings.ENVIRONMENT = "production"
    with pytest.raises(CommandError, match="local use only"):
        run(*SMALL)

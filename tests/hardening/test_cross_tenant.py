"""Every tenant API route, with every method its view has, called with another tenant's secret key
and the first tenant's ids and names: nothing of the first tenant is read, changed or deleted.

The routes are read from the URLconf, so a route added later is tried without editing this test.
The other tenant has no objects of its own, so an answer naming one of the victim's ids could only
come from the victim's schema."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.urls import URLPattern, URLResolver, get_resolver
from django_tenants.utils import schema_context

from apps.alerts import services as alert_services
from apps.core.redis import get_redis
from apps.dashboards import services as dashboard_services
from apps.events.models import EventDefinition, PropertyDefinition
from apps.events.tasks import definitions_flush_all
from apps.governance.bi import services as bi_services
from apps.governance.tracking import services as tracking_services
from apps.reports import services as report_services
from apps.segments import services as segment_services
from tests.dashboards.test_dashboards_api import shop  # noqa: F401 - the fixture
from tests.helpers import bearer

MARK = "victim"
TABLES = ["events", "persons", "person_distinct_ids", "metrics", "metric_values", "segments", "segment_members",
          "dashboards", "dashboard_widgets", "reports", "report_subscriptions", "report_runs", "privacy_jobs",
          "governance_bi_credentials", "tracking_plan", "tracking_event_definitions", "tracking_property_definitions",
          "governance_privacy_jobs", "explicit_sessions", "alert_rules", "alert_firings", "alert_deliveries",
          "event_definitions", "property_definitions", "event_property_keys", "definitions_flushes"]


def api_routes() -> list[tuple[str, list[str]]]:
    """(route, methods) of every DRF view under /api/v1/."""
    found = []

    def walk(patterns: list, prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern) and hasattr(pattern.callback, "cls"):
                methods = [m for m in ("get", "post", "put", "patch", "delete") if hasattr(pattern.callback.cls, m)]
                found.append((prefix + str(pattern.pattern), methods))

    walk(get_resolver("analytics_project.urls_api").url_patterns, "/api/v1/")
    return found


@pytest.fixture
def victim(client, shop):  # noqa: ANN001, ANN201, F811
    """One of everything in the first tenant, named with MARK; returns the route parameters."""
    tenant = shop.tenant
    with schema_context(tenant.schema_name):
        dashboard = dashboard_services.dashboard_create(name=f"{MARK}-board", display_name=f"{MARK} board")
        widget = dashboard_services.widget_create(
            dashboard=dashboard, tenant=tenant, name=f"{MARK}-widget", widget_type="line",
            query_config={"kind": "trends", "series": [{"event": "Buy"}], "date_from": "-7d"})
        share, _ = dashboard_services.share_create(dashboard=dashboard)
        segment = segment_services.segment_create(name=f"{MARK}-buyers", rules={"op": "and", "rules": [
            {"event": "Buy", "operator": "gte", "value": 1}]})
        report = report_services.report_create(
            tenant=tenant, name=f"{MARK}-report", report_type="dashboard", dashboard_id=dashboard.pk,
            formats=["csv"])
        report_services.subscribe(report=report, email=f"{MARK}@example.com")
        run = report_services.run_now(report=report, send=False)
        bi_credential = bi_services.bi_credential_issue(tenant=tenant, name=f"{MARK}-bi").credential
        planned = tracking_services.event_definition_create(name=f"{MARK}-planned", properties=[
            {"name": "plan", "type": "string", "required": True}])
        alert = alert_services.rule_create(
            tenant=tenant, name=f"{MARK}-alert", display_name=f"{MARK} alert", condition="above", threshold=1,
            period="1h", query={"kind": "trends", "series": [{"event": "Buy"}]},
            channels=[{"type": "email", "address": f"{MARK}@example.com"}])
        alert_services.rule_test(rule=alert)  # a firing and its delivery
    connection.set_schema_to_public()
    job = client.delete("/api/v1/persons/u5", **bearer(shop.secret_key)).json()
    explicit = client.post("/api/v1/sessions/start", {"user_id": "u0"}, content_type="application/json",
                           **bearer(shop.write_key)).json()
    # Definitions, counted from an event sent through ingestion and folded by the beat task (from
    # none pending: Redis outlives the schemas of earlier tests, whose names recur).
    for key in get_redis().scan_iter("defs:*"):
        get_redis().delete(key)
    assert client.post("/v1/track", {"userId": "u0", "event": f"{MARK}-seen", "properties": {f"{MARK}_key": 1}},
                       content_type="application/json", **bearer(shop.write_key)).status_code == 200
    definitions_flush_all()
    with schema_context(tenant.schema_name):
        seen_event = EventDefinition.objects.get(name=f"{MARK}-seen")
        seen_property = PropertyDefinition.objects.get(key=f"{MARK}_key")
    connection.set_schema_to_public()
    return {"session_id": explicit["session_id"], "distinct_id": "u0", "job_id": job["id"], "name": "latency",
            "segment_id": segment.pk, "rule_id": "r1",
            "dashboard_id": dashboard.pk, "widget_id": widget.pk, "share_id": share.pk, "report_id": report.pk,
            "run_id": run.pk, "credential_id": bi_credential.pk,
            "ref": planned.pk, "alert_id": alert.pk,
            "event_definition_id": seen_event.pk, "property_definition_id": seen_property.pk}


def snapshot(tenant) -> dict[str, list]:  # noqa: ANN001
    """Every row of the victim's tables, as text: any change shows."""
    with schema_context(tenant.schema_name), connection.cursor() as cursor:
        rows = {}
        for table in TABLES:
            cursor.execute(f"SELECT t::text FROM {table} t ORDER BY 1")
            rows[table] = [row[0] for row in cursor.fetchall()]
    return rows


# No `name`: a create route must not make an object of the second tenant whose id could match one
# of the victim's. Nothing here names the victim's objects, so MARK in an answer is a leak.
BODIES = {"post": {"email": "eve@example.com", "send": True, "value": 1, "values": [{"metric": "latency", "value": 1}],
                   "event": "Buy", "operator": "gte"},
          "patch": {"display_name": "owned", "description": "owned"}, "put": {}, "delete": {"email": "eve@example.com"}}


def call(client, method: str, path: str, key: str) -> tuple[int, bytes]:  # noqa: ANN001
    """The status and the whole body (exports stream theirs)."""
    if method == "get":
        response = client.get(path, **bearer(key))
    else:
        response = getattr(client, method)(path, BODIES[method], content_type="application/json", **bearer(key))
    return response.status_code, b"".join(response.streaming_content) if response.streaming else response.content


def test_another_tenants_key_reaches_nothing_of_the_first(client, victim, shop, globex):  # noqa: F811
    before = snapshot(shop.tenant)
    assert all(before[table] for table in ("events", "metric_values", "segment_members", "report_runs"))
    tried = []
    for route, methods in api_routes():
        params = re.findall(r"<(?:\w+:)?(\w+)>", route)
        path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(victim[m.group(1)]), route)
        for method in methods:
            suffix = "?format=csv" if path.endswith("/download") else ""
            status, body = call(client, method, path + suffix, globex.secret_key)
            tried.append((method, route))
            assert status < 500, (method, path, body[:300])
            if params:
                # Named objects of the first tenant do not exist for the second.
                assert status in (400, 404), (method, path, status, body[:300])
            assert MARK.encode() not in body.lower(), (method, path, body[:300])
    assert len(tried) >= 45  # every route and method above was tried
    assert snapshot(shop.tenant) == before


def test_the_first_tenants_own_key_sees_its_objects(client, victim, shop):  # noqa: F811
    """The counterpart: the same paths answer the owner, so the 404s above are about the key."""
    for path in ("dashboards/{dashboard_id}", "dashboards/{dashboard_id}/widgets/{widget_id}", "segments/{segment_id}",
                 "reports/{report_id}", "reports/runs/{run_id}", "metrics/{name}", "persons/{distinct_id}",
                 "privacy-jobs/{job_id}", "bi-credentials/{credential_id}",
                 "tracking-plan/events/{ref}", "alerts/{alert_id}", "alerts/{alert_id}/firings",
                 "definitions/events/{event_definition_id}", "definitions/properties/{property_definition_id}",
                 "definitions/properties/{property_definition_id}/values"):
        response = client.get("/api/v1/" + path.format(**victim), **bearer(shop.secret_key))
        assert response.status_code == 200, (path, response.content[:300])


def test_the_write_key_of_a_tenant_reads_nothing(client, victim, shop):  # noqa: F811
    for route, methods in api_routes():
        if "values" in route or route.startswith("/api/v1/sessions/"):
            continue  # the ingestion routes accept the write key by design
        path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(victim[m.group(1)]), route)
        for method in methods:
            status, _ = call(client, method, path, shop.write_key)
            assert status == 403, (method, path, status)

"""The audit log: every write endpoint, the console and commands recorded with actor, action,
object, diff and address; append-only in the database (new tenants too); the retention purge; the
API's filters, pages and isolation; no secret in any diff."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable

import pytest
import yaml
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.governance.audit.context import Actor, acting_as
from apps.governance.audit.services import MASK, audit_log_purge, audit_record
from apps.governance.audit.tasks import audit_log_purge_all
from apps.governance.models import AuditEntry
from apps.tenancy.models import ApiKey, ShareLink
from tests.helpers import assert_error, bearer
from tests.segments.test_segments_api import ingest

_names = itertools.count()
TRENDS = {"kind": "trends", "series": [{"event": "Buy"}], "interval": "day"}
QUERIES = {"queries": [{"name": "buys", "title": "Buys", "query": TRENDS}]}
BUYERS = {"op": "and", "rules": [{"event": "Buy", "operator": "gte", "value": 1}]}


def entries(tenant: Any, **filters: Any) -> list[AuditEntry]:
    with schema_context(tenant.schema_name):
        return list(AuditEntry.objects.filter(**filters).order_by("id"))


def last_id(tenant: Any) -> int:
    with schema_context(tenant.schema_name):
        return AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0


# --- every write endpoint ---------------------------------------------------------------------------

@dataclass
class Expect:
    path: str
    body: Any
    action: str
    object_type: str
    object_id: str | None = None
    tenant: Any = None  # where the entry goes, when not the calling key's tenant
    platform: bool = False


@dataclass
class Walk:
    client: Any
    handle: Any  # tests.conftest.TenantHandle
    platform_token: str
    made: dict[str, Any] = field(default_factory=dict)

    def call(self, method: str, path: str, body: Any = None, *, platform: bool = False) -> Any:
        headers = bearer(self.platform_token if platform else self.handle.secret_key)
        call = getattr(self.client, method.lower())
        if body is None:
            response = call(path, **headers)
        else:
            response = call(path, json.dumps(body), content_type="application/json", **headers)
        assert 200 <= response.status_code < 300, (method, path, response.status_code, response.content)
        return response

    def name(self) -> str:
        return f"n{next(_names)}"

    def dashboard(self) -> str:
        return str(self.call("POST", "/api/v1/dashboards", {"name": self.name()}).json()["id"])

    def widget(self, dashboard: str) -> str:
        body = {"name": self.name(), "widget_type": "line", "query_config": TRENDS}
        return str(self.call("POST", f"/api/v1/dashboards/{dashboard}/widgets", body).json()["id"])

    def share(self, dashboard: str) -> str:
        return str(self.call("POST", f"/api/v1/dashboards/{dashboard}/share").json()["id"])

    def segment(self) -> str:
        return str(self.call("POST", "/api/v1/segments", {"name": self.name(), "rules": BUYERS}).json()["id"])

    def rule(self, segment: str) -> str:
        body = {"field_name": "plan", "operator": "eq", "value": "pro"}
        return self.call("POST", f"/api/v1/segments/{segment}/rules", body).json()["rule"]["id"]

    def report(self) -> str:
        body = {"name": self.name(), "report_type": "queries", "query_config": QUERIES}
        return str(self.call("POST", "/api/v1/reports", body).json()["id"])

    def alert(self) -> str:
        body = {"name": self.name(), "query": TRENDS, "condition": "above", "threshold": 10, "period": "1h",
                "channels": [{"type": "email", "address": "ops@example.com"}]}
        return str(self.call("POST", "/api/v1/alerts", body).json()["id"])

    def metric(self) -> str:
        name = self.name()
        self.call("POST", "/api/v1/metrics", {"name": name, "metric_type": "counter"})
        return name

    def bi_credential(self) -> str:
        return str(self.call("POST", "/api/v1/bi-credentials", {"name": self.name()}).json()["id"])

    def planned_event(self) -> str:
        name = self.name()
        self.call("POST", "/api/v1/tracking-plan/events", {"name": name, "properties": [
            {"name": "plan", "type": "string", "required": True}]})
        return name

    def tracking_plan(self) -> None:
        self.call("PUT", "/api/v1/tracking-plan", {"mode": "allow"})

    def person(self) -> str:
        distinct_id = self.name()
        ingest(self.handle.tenant, [{"type": "identify", "userId": distinct_id, "traits": {"plan": "pro"},
                                     "messageId": f"walk-{distinct_id}"}])
        return distinct_id


def _subscribed(w: Walk) -> str:
    report = w.report()
    w.call("POST", f"/api/v1/reports/{report}/subscriptions", {"email": "ann@example.com"})
    return report


def _other_tenant(w: Walk) -> Any:
    from apps.tenancy.services import tenant_create

    if "other" not in w.made:
        w.made["other"] = tenant_create(slug="audit-other").tenant
    return w.made["other"]


def _key_of_other(w: Walk) -> str:
    from apps.tenancy.services import api_key_create

    return api_key_create(tenant=_other_tenant(w), kind="secret", name="to revoke").api_key.prefix


def _seen_definitions(w: Walk) -> tuple[str, str]:
    """An event and a property definition, counted from an event sent through ingestion and folded."""
    from apps.events.models import EventDefinition, PropertyDefinition
    from apps.events.tasks import definitions_flush_all

    if "definitions" not in w.made:
        assert w.client.post("/v1/track", {"userId": "walker", "event": "Walked", "properties": {"pace": 3}},
                             content_type="application/json", **bearer(w.handle.write_key)).status_code == 200
        definitions_flush_all()
        with schema_context(w.handle.tenant.schema_name):
            w.made["definitions"] = (str(EventDefinition.objects.get(name="Walked").pk),
                                     str(PropertyDefinition.objects.get(kind="event", key="pace").pk))
    return w.made["definitions"]


def _new_tenant(w: Walk) -> Expect:
    w.made["new"] = slug = "audit-new"
    return Expect("/platform/v1/tenants", {"slug": slug}, "key_issued", "api_key", platform=True,
                  tenant=lambda: __import__("apps.tenancy.models", fromlist=["Tenant"]).Tenant.objects.get(slug=slug))


# Operation -> what to call and the entry it must leave. An operation of the OpenAPI document that
# writes and is in none of the tables below fails the walk: a new endpoint must be added here.
OPERATIONS: dict[str, Callable[[Walk], Expect]] = {
    "POST /api/v1/dashboards": lambda w: Expect("/api/v1/dashboards", {"name": "walked"}, "create", "dashboard"),
    "PATCH /api/v1/dashboards/{dashboard_id}": lambda w: (lambda d: Expect(
        f"/api/v1/dashboards/{d}", {"description": "Weekly"}, "update", "dashboard", d))(w.dashboard()),
    "DELETE /api/v1/dashboards/{dashboard_id}": lambda w: (lambda d: Expect(
        f"/api/v1/dashboards/{d}", None, "delete", "dashboard", d))(w.dashboard()),
    "POST /api/v1/dashboards/from-template": lambda w: Expect("/api/v1/dashboards/from-template",
                                                               {"template": "technical", "name": "walked-template"},
                                                               "create", "dashboard"),
    "POST /api/v1/dashboards/{dashboard_id}/duplicate": lambda w: Expect(
        f"/api/v1/dashboards/{w.dashboard()}/duplicate", {}, "create", "dashboard"),
    "POST /api/v1/dashboards/{dashboard_id}/widgets": lambda w: Expect(
        f"/api/v1/dashboards/{w.dashboard()}/widgets", {"name": "w", "widget_type": "bar", "query_config": TRENDS},
        "create", "widget"),
    "PATCH /api/v1/dashboards/{dashboard_id}/widgets/{widget_id}": lambda w: (lambda d: (lambda x: Expect(
        f"/api/v1/dashboards/{d}/widgets/{x}", {"title": "Bars"}, "update", "widget", x))(w.widget(d)))(w.dashboard()),
    "DELETE /api/v1/dashboards/{dashboard_id}/widgets/{widget_id}": lambda w: (lambda d: (lambda x: Expect(
        f"/api/v1/dashboards/{d}/widgets/{x}", None, "delete", "widget", x))(w.widget(d)))(w.dashboard()),
    "POST /api/v1/dashboards/{dashboard_id}/share": lambda w: Expect(
        f"/api/v1/dashboards/{w.dashboard()}/share", None, "share_link_created", "share_link"),
    "DELETE /api/v1/dashboards/{dashboard_id}/share/{share_id}": lambda w: (lambda d: (lambda s: Expect(
        f"/api/v1/dashboards/{d}/share/{s}", None, "share_link_revoked", "share_link", s))(w.share(d)))(w.dashboard()),
    "POST /api/v1/segments": lambda w: Expect("/api/v1/segments", {"name": "walked", "rules": BUYERS},
                                              "create", "segment"),
    "PATCH /api/v1/segments/{segment_id}": lambda w: (lambda s: Expect(
        f"/api/v1/segments/{s}", {"display_name": "Buyers"}, "update", "segment", s))(w.segment()),
    "DELETE /api/v1/segments/{segment_id}": lambda w: (lambda s: Expect(
        f"/api/v1/segments/{s}", None, "delete", "segment", s))(w.segment()),
    "POST /api/v1/segments/{segment_id}/rules": lambda w: (lambda s: Expect(
        f"/api/v1/segments/{s}/rules", {"field_name": "plan", "operator": "eq", "value": "pro"},
        "update", "segment", s))(w.segment()),
    "DELETE /api/v1/segments/{segment_id}/rules/{rule_id}": lambda w: (lambda s: Expect(
        f"/api/v1/segments/{s}/rules/{w.rule(s)}", None, "update", "segment", s))(w.segment()),
    "POST /api/v1/segments/{segment_id}/refresh": lambda w: (lambda s: Expect(
        f"/api/v1/segments/{s}/refresh", None, "segment_refreshed", "segment", s))(w.segment()),
    "POST /api/v1/reports": lambda w: Expect("/api/v1/reports", {"name": "walked", "report_type": "queries",
                                                                 "query_config": QUERIES}, "create", "report"),
    "PATCH /api/v1/reports/{report_id}": lambda w: (lambda r: Expect(
        f"/api/v1/reports/{r}", {"frequency": "daily"}, "update", "report", r))(w.report()),
    "DELETE /api/v1/reports/{report_id}": lambda w: (lambda r: Expect(
        f"/api/v1/reports/{r}", None, "delete", "report", r))(w.report()),
    "POST /api/v1/reports/{report_id}/subscriptions": lambda w: Expect(
        f"/api/v1/reports/{w.report()}/subscriptions", {"email": "bob@example.org"}, "create", "subscription"),
    "DELETE /api/v1/reports/{report_id}/subscriptions": lambda w: Expect(
        f"/api/v1/reports/{_subscribed(w)}/subscriptions", {"email": "ann@example.com"}, "update", "subscription"),
    "POST /api/v1/reports/{report_id}/run": lambda w: (lambda r: Expect(
        f"/api/v1/reports/{r}/run", {"send": False}, "report_run_requested", "report", r))(w.report()),
    "POST /api/v1/alerts": lambda w: Expect("/api/v1/alerts", {
        "name": "walked", "query": TRENDS, "condition": "below", "threshold": 1, "period": "1d",
        "channels": [{"type": "email", "address": "ops@example.com"}]}, "create", "alert"),
    "PATCH /api/v1/alerts/{alert_id}": lambda w: (lambda a: Expect(
        f"/api/v1/alerts/{a}", {"threshold": 20}, "update", "alert", a))(w.alert()),
    "DELETE /api/v1/alerts/{alert_id}": lambda w: (lambda a: Expect(
        f"/api/v1/alerts/{a}", None, "delete", "alert", a))(w.alert()),
    "POST /api/v1/alerts/{alert_id}/test": lambda w: (lambda a: Expect(
        f"/api/v1/alerts/{a}/test", None, "alert_test_requested", "alert", a))(w.alert()),
    "POST /api/v1/metrics": lambda w: Expect("/api/v1/metrics", {"name": "walked", "metric_type": "gauge"},
                                             "create", "metric"),
    "PATCH /api/v1/metrics/{name}": lambda w: Expect(f"/api/v1/metrics/{w.metric()}", {"unit": "ms"},
                                                     "update", "metric"),
    "DELETE /api/v1/metrics/{name}": lambda w: Expect(f"/api/v1/metrics/{w.metric()}", None, "delete", "metric"),
    "DELETE /api/v1/persons/{distinct_id}": lambda w: Expect(f"/api/v1/persons/{w.person()}", None,
                                                             "person_deleted", "person"),
    "POST /api/v1/bi-credentials": lambda w: Expect("/api/v1/bi-credentials", {"name": "walked"},
                                                    "bi_credential_issued", "bi_credential"),
    "POST /api/v1/bi-credentials/{credential_id}/rotate": lambda w: (lambda c: Expect(
        f"/api/v1/bi-credentials/{c}/rotate", None, "bi_credential_rotated", "bi_credential", c))(w.bi_credential()),
    "DELETE /api/v1/bi-credentials/{credential_id}": lambda w: (lambda c: Expect(
        f"/api/v1/bi-credentials/{c}", None, "bi_credential_revoked", "bi_credential", c))(w.bi_credential()),
    "PUT /api/v1/tracking-plan": lambda w: (w.tracking_plan(), Expect(
        "/api/v1/tracking-plan", {"mode": "block"}, "update", "tracking_plan"))[1],
    "POST /api/v1/tracking-plan/events": lambda w: Expect(
        "/api/v1/tracking-plan/events", {"name": "Walked", "properties": [{"name": "plan", "type": "string"}]},
        "create", "planned_event"),
    "PUT /api/v1/tracking-plan/events/{ref}": lambda w: Expect(
        f"/api/v1/tracking-plan/events/{w.planned_event()}", {"name": "Renamed", "description": "Walked",
                                                              "properties": []}, "update", "planned_event"),
    "DELETE /api/v1/tracking-plan/events/{ref}": lambda w: Expect(
        f"/api/v1/tracking-plan/events/{w.planned_event()}", None, "delete", "planned_event"),
    "POST /api/v1/privacy/jobs": lambda w: Expect("/api/v1/privacy/jobs", {"kind": "export",
                                                                            "distinct_id": w.person()},
                                                  "privacy_job_requested", "privacy_job"),
    "PATCH /api/v1/definitions/events/{event_definition_id}": lambda w: (lambda d: Expect(
        f"/api/v1/definitions/events/{d}", {"description": "Walked"}, "update", "event_definition", d))(
        _seen_definitions(w)[0]),
    "PATCH /api/v1/definitions/properties/{property_definition_id}": lambda w: (lambda d: Expect(
        f"/api/v1/definitions/properties/{d}", {"description": "Steps"}, "update", "property_definition", d))(
        _seen_definitions(w)[1]),
    # The platform API: recorded in the tenant the key belongs to, as `platform`.
    "POST /platform/v1/tenants": _new_tenant,
    "POST /platform/v1/tenants/{slug}/keys": lambda w: Expect(
        f"/platform/v1/tenants/{w.handle.slug}/keys", {"kind": "secret", "name": "walked"}, "key_issued", "api_key",
        platform=True),
    "PATCH /platform/v1/tenants/{slug}": lambda w: Expect(
        f"/platform/v1/tenants/{w.handle.slug}", {"session_gap_minutes": 45}, "tenant_updated", "tenant",
        w.handle.slug, platform=True),
    "POST /platform/v1/keys/{prefix}/revoke": lambda w: (lambda p: Expect(
        f"/platform/v1/keys/{p}/revoke", None, "key_revoked", "api_key", p, tenant=_other_tenant(w),
        platform=True))(_key_of_other(w)),
}
# Writes that are data, not changes: ingestion (events and metric values; the hot path records nothing).
INGESTION = {
    "POST /v1/track", "POST /v1/identify", "POST /v1/page", "POST /v1/screen", "POST /v1/group", "POST /v1/alias",
    "POST /v1/batch", "POST /api/v1/events/track", "POST /api/v1/events/batch", "POST /api/v1/events/track/batch",
    "POST /batch/", "POST /capture/", "POST /e/", "POST /batch", "POST /capture",
    "POST /api/v1/metrics/values/batch", "POST /api/v1/metrics/values", "POST /api/v1/metrics/{name}/values",
    "POST /api/v1/track/action", "POST /api/v1/track/api-request", "POST /api/v1/track/error",
    "POST /api/v1/track/system-metrics", "POST /api/v1/sessions/start", "POST /api/v1/sessions/{session_id}/end",
}
# POST only because a query is a body: they read and change nothing.
READS = {"POST /api/v1/query", "POST /api/v1/events/query", "POST /api/v1/segments/preview",
         "POST /api/v1/metrics/aggregate"}


def write_operations(client: Any) -> list[str]:
    schema = yaml.safe_load(client.get("/api/schema/").content)
    return sorted(f"{method.upper()} {path}" for path, item in schema["paths"].items()
                  for method in item if method in ("post", "put", "patch", "delete"))


def test_every_write_endpoint_leaves_an_entry_with_its_actor_action_and_object(client, acme, settings):
    operations = write_operations(client)
    unlisted = [op for op in operations if op not in OPERATIONS and op not in INGESTION and op not in READS]
    assert not unlisted, f"write operations with no audit expectation (add them to OPERATIONS): {unlisted}"
    assert len(operations) >= 30  # the walk found the document's operations, not an empty list
    walk = Walk(client, acme, settings.PLATFORM_API_TOKEN)
    prefix = acme.secret_key[:len(ApiKey.objects.get(tenant=acme.tenant, kind="secret").prefix)]
    for operation in [op for op in operations if op in OPERATIONS]:
        expect = OPERATIONS[operation](walk)
        before = 0 if callable(expect.tenant) else last_id(expect.tenant or acme.tenant)  # a new tenant: all of it
        method = operation.split(" ", 1)[0]
        walk.call(method, expect.path, expect.body, platform=expect.platform)
        tenant = expect.tenant() if callable(expect.tenant) else (expect.tenant or acme.tenant)
        found = entries(tenant, id__gt=before, action=expect.action, object_type=expect.object_type)
        assert found, (operation, [(e.actor, e.action, e.object_type) for e in entries(tenant, id__gt=before)])
        entry = found[-1]
        assert entry.actor == ("platform" if expect.platform else prefix), (operation, entry.actor)
        assert entry.actor_type == ("platform" if expect.platform else "api_key")
        assert entry.source_address == "127.0.0.1", operation
        if expect.object_id is not None:
            assert entry.object_id == expect.object_id, (operation, entry.object_id)
        if expect.action in ("create", "update"):
            assert entry.changes and all(isinstance(v, list) and len(v) == 2 for v in entry.changes.values()), (
                operation, entry.changes)


def test_ingestion_and_reads_record_nothing(client, acme):
    before = last_id(acme.tenant)
    assert client.post("/v1/batch", {"batch": [{"type": "identify", "userId": "u1", "traits": {"a": 1}},
                                               {"type": "track", "userId": "u1", "event": "Buy"}]},
                       content_type="application/json", **bearer(acme.write_key)).status_code == 200
    assert client.post("/api/v1/query", {"kind": "trends", "series": [{"event": "Buy"}]},
                       content_type="application/json", **bearer(acme.secret_key)).status_code == 200
    assert entries(acme.tenant, id__gt=before) == []


def test_diffs_hold_old_and_new_values_of_changed_fields_only(client, acme):
    walk = Walk(client, acme, "")
    dashboard = walk.dashboard()
    walk.call("PATCH", f"/api/v1/dashboards/{dashboard}", {"description": "Weekly", "category": "ops"})
    update = entries(acme.tenant, action="update", object_type="dashboard", object_id=dashboard)[-1]
    assert update.changes == {"description": ["", "Weekly"], "category": ["", "ops"]}
    walk.call("DELETE", f"/api/v1/dashboards/{dashboard}")
    deleted = entries(acme.tenant, action="delete", object_type="dashboard", object_id=dashboard)[-1]
    assert deleted.changes["description"] == ["Weekly", None] and deleted.object_repr.startswith("n")


def test_exports_are_recorded_with_their_format_and_filters(client, acme):
    ingest(acme.tenant, [{"type": "track", "userId": "u1", "event": "Buy"}])
    response = client.get("/api/v1/events/export?format=csv&event=Buy", **bearer(acme.secret_key))
    assert response.status_code == 200
    b"".join(response.streaming_content)
    entry = entries(acme.tenant, action="export_run")[-1]
    assert entry.changes == {"format": "csv", "filters": {"event": "Buy"}} and entry.object_type == "events"
    assert client.get("/api/v1/persons/u1/export", **bearer(acme.secret_key)).status_code == 200
    assert entries(acme.tenant, action="person_exported", object_type="person")


# --- behind a proxy -----------------------------------------------------------------------------------

def test_source_address_is_the_proxys_client_only_behind_the_proxy(client, acme, settings):
    headers = {**bearer(acme.secret_key), "HTTP_X_FORWARDED_FOR": "203.0.113.9, 198.51.100.7",
               "REMOTE_ADDR": "10.0.0.2"}
    client.post("/api/v1/dashboards", {"name": "direct"}, content_type="application/json", **headers)
    assert entries(acme.tenant, action="create", object_type="dashboard")[-1].source_address == "10.0.0.2"
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    client.post("/api/v1/dashboards", {"name": "proxied"}, content_type="application/json", **headers)
    # The address the proxy added (the last one), never one the client wrote itself.
    assert entries(acme.tenant, action="create", object_type="dashboard")[-1].source_address == "198.51.100.7"


# --- the console and commands -------------------------------------------------------------------------

def _console_user(tenant: Any, username: str, *, role: str) -> None:
    from apps.governance.roles import console_user_create

    with schema_context(tenant.schema_name):
        console_user_create(username=username, password="Pw-123456-long", role=role)


def _log_in(client: Any, tenant: Any, username: str) -> dict[str, str]:
    host = {"HTTP_HOST": f"{tenant.slug}.localhost"}
    response = client.post("/admin/login/", {"username": username, "password": "Pw-123456-long"}, **host)
    assert response.status_code == 302, response.content
    return host


def test_console_changes_are_recorded_as_the_user(client, acme):
    from tests.events.test_admin import log_in

    log_in(client, acme.tenant)
    host = {"HTTP_HOST": "acme.localhost", "REMOTE_ADDR": "192.0.2.44"}
    created = client.post("/admin/dashboards/dashboard/add/", {
        "name": "ops", "display_name": "Ops", "category": "", "description": "", "layout": "{}", "owner": "",
        "widgets-TOTAL_FORMS": 0, "widgets-INITIAL_FORMS": 0, "widgets-MIN_NUM_FORMS": 0,
        "widgets-MAX_NUM_FORMS": 1000}, **host)
    assert created.status_code == 302, created.content
    entry = entries(acme.tenant, action="create", object_type="dashboard")[-1]
    assert (entry.actor, entry.actor_type, entry.source_address) == ("boss", "user", "192.0.2.44")
    assert entry.changes["display_name"] == [None, "Ops"]
    # A console user's password change is recorded, never the password or its hash.
    with schema_context(acme.tenant.schema_name):
        boss = get_user_model().objects.get(username="boss")
    changed = client.post(f"/admin/auth/user/{boss.pk}/password/",
                          {"password1": "An0ther-pass-word", "password2": "An0ther-pass-word"}, **host)
    assert changed.status_code == 302, changed.content
    entry = entries(acme.tenant, action="update", object_type="user")[-1]
    assert entry.changes == {"password": [MASK, MASK]}


def test_the_console_page_is_read_only_and_for_admins_only(client, acme):
    with schema_context(acme.tenant.schema_name):
        audit_record(action="update", object_type="dashboard", object_id="7", changes={"name": ["a", "b"]},
                     actor=Actor("someone", "user"))
        entry_id = AuditEntry.objects.get(actor="someone").pk
    for role in ("viewer", "editor"):
        _console_user(acme.tenant, role, role=role)
        host = _log_in(client, acme.tenant, role)
        assert client.get("/admin/governance/auditentry/", **host).status_code == 403, role
        client.logout()
    _console_user(acme.tenant, "auditor", role="admin")
    host = _log_in(client, acme.tenant, "auditor")
    page = client.get("/admin/governance/auditentry/?action__exact=update&q=someone", **host)
    assert page.status_code == 200 and b"someone" in page.content
    detail = client.get(f"/admin/governance/auditentry/{entry_id}/change/", **host)
    assert detail.status_code == 200 and b'name="_save"' not in detail.content
    assert client.get("/admin/governance/auditentry/add/", **host).status_code == 403
    assert client.post(f"/admin/governance/auditentry/{entry_id}/delete/", {"post": "yes"}, **host).status_code == 403
    assert entries(acme.tenant, pk=entry_id)


def test_a_management_command_is_recorded_as_the_command(acme, capsys):
    call_command("create_api_key", acme.slug, "--kind", "secret", "--name", "by hand")
    raw = capsys.readouterr().out.strip()
    entry = entries(acme.tenant, action="key_issued")[-1]
    assert (entry.actor, entry.actor_type, entry.object_id) == ("command:create_api_key", "command", raw[:len(entry.object_id)])
    assert entry.object_id and raw.startswith(entry.object_id)
    assert entry.changes["key_hash"] == [None, MASK] and raw not in json.dumps(entry.changes)


def test_a_worker_task_is_recorded_as_system(acme):
    from celery import shared_task

    from apps.dashboards.services import dashboard_create

    @shared_task(name="tests.audit_make_dashboard")
    def make() -> None:
        dashboard_create(name="by-worker")

    with schema_context(acme.tenant.schema_name):
        make.delay()
    entry = entries(acme.tenant, action="create", object_type="dashboard")[-1]
    assert (entry.actor, entry.actor_type) == ("system", "system")


# --- append-only ------------------------------------------------------------------------------------

def _old_entry(tenant: Any, days: int) -> int:
    with schema_context(tenant.schema_name):
        return AuditEntry.objects.create(created_at=timezone.now() - timedelta(days=days), actor="old",
                                         actor_type="user", action="create", object_type="dashboard",
                                         object_id=str(days)).pk


def _refused(tenant: Any, statement: str, params: list | None = None) -> bool:
    with schema_context(tenant.schema_name):
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(statement, params)
        except DatabaseError as exc:
            assert "append-only" in str(exc), exc
            return True
    return False


@pytest.mark.parametrize("fresh", [False, True], ids=["first-tenant", "tenant-created-after-the-template-changed"])
def test_the_table_refuses_update_delete_and_truncate(make_tenant, fresh):
    tenant = make_tenant().tenant
    if fresh:  # another tenant made from the (cached) provisioning script: the triggers came along
        tenant = make_tenant().tenant
    young = _old_entry(tenant, 1)
    old = _old_entry(tenant, 1000)
    assert _refused(tenant, "UPDATE audit_log SET actor = 'forged' WHERE id = %s", [young])
    assert _refused(tenant, "UPDATE audit_log SET actor = 'forged' WHERE id = %s", [old])
    assert _refused(tenant, "DELETE FROM audit_log WHERE id = %s", [young])
    assert _refused(tenant, "DELETE FROM audit_log WHERE id = %s", [old])  # old, but not the purge
    assert _refused(tenant, "TRUNCATE audit_log")
    with schema_context(tenant.schema_name):
        with pytest.raises(DatabaseError), transaction.atomic():
            AuditEntry.objects.filter(pk=young).update(actor="forged")
        with pytest.raises(DatabaseError), transaction.atomic():
            AuditEntry.objects.filter(pk=young).delete()
        # The purge of young rows is refused even when asked for by hand with a short period.
        assert _refused(tenant, "SELECT set_config('governance.audit_purge_days', '1', true); "
                                "DELETE FROM audit_log WHERE id = %s", [young])
        assert set(AuditEntry.objects.filter(pk__in=[young, old]).values_list("actor", flat=True)) == {"old"}
        assert AuditEntry.objects.filter(pk__in=[young, old]).count() == 2
        with connection.cursor() as cursor:
            cursor.execute("SELECT tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                           "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s "
                           "AND c.relname = 'audit_log' ORDER BY 1", [tenant.schema_name])
            assert [row[0] for row in cursor.fetchall()] == ["audit_log_append_only", "audit_log_no_truncate"]


def test_the_retention_purge_deletes_only_entries_past_the_period_in_every_tenant(acme, globex, settings):
    settings.AUDIT_LOG_RETENTION_DAYS = 400
    acme_kept = {_old_entry(acme.tenant, 10), _old_entry(acme.tenant, 399)}
    acme_gone = {_old_entry(acme.tenant, 401), _old_entry(acme.tenant, 2000)}
    globex_kept, globex_gone = {_old_entry(globex.tenant, 390)}, {_old_entry(globex.tenant, 500)}
    assert audit_log_purge_all.delay().get() >= 2  # one purge per tenant
    for tenant, kept, gone in ((acme.tenant, acme_kept, acme_gone), (globex.tenant, globex_kept, globex_gone)):
        ids = {e.pk for e in entries(tenant)}
        assert kept <= ids and not ids & gone, (tenant.slug, ids)
        assert any(e.action == "key_issued" for e in entries(tenant))  # today's entries stay
    with schema_context(acme.tenant.schema_name):
        assert audit_log_purge() == 0  # twice, one effect
        with pytest.raises(ValueError):
            audit_log_purge(retention_days=1)


# --- the API --------------------------------------------------------------------------------------------

def _seed(tenant: Any) -> None:
    with schema_context(tenant.schema_name):
        now = timezone.now()
        for i in range(7):
            AuditEntry.objects.create(created_at=now - timedelta(days=i), actor="ann" if i % 2 else "sk_bob",
                                      actor_type="user" if i % 2 else "api_key", action="update" if i < 5 else "delete",
                                      object_type="dashboard" if i < 4 else "report", object_id=str(i))


def read(client: Any, key: str, query: str = "") -> Any:
    return client.get(f"/api/v1/audit-log{query}", **bearer(key))


def test_the_api_filters_and_pages(client, acme):
    _seed(acme.tenant)
    base = last_id(acme.tenant)
    ids = lambda body: [int(e["object_id"]) for e in body["results"] if e["id"] <= base and e["actor"] in ("ann", "sk_bob")]  # noqa: E731
    # Newest first (by id: the seeded entries were written from i = 0 up).
    assert ids(read(client, acme.secret_key, "?actor=ann").json()) == [5, 3, 1]
    assert ids(read(client, acme.secret_key, "?action=delete").json()) == [6, 5]
    assert ids(read(client, acme.secret_key, "?object_type=report&action=update").json()) == [4]
    assert ids(read(client, acme.secret_key, "?object_type=dashboard&object_id=2").json()) == [2]
    day = (timezone.now() - timedelta(days=3, hours=12)).isoformat()
    to = (timezone.now() - timedelta(days=1, hours=12)).isoformat()
    from urllib.parse import quote
    assert ids(read(client, acme.secret_key, f"?date_from={quote(day)}&date_to={quote(to)}").json()) == [3, 2]
    seen, url = [], f"/api/v1/audit-log?limit=3&actor=sk_bob"
    while url:
        page = client.get(url, **bearer(acme.secret_key)).json()
        assert set(page) == {"results", "next"} and len(page["results"]) <= 3
        seen += [int(e["object_id"]) for e in page["results"]]
        url = page["next"]
    assert seen == [6, 4, 2, 0]
    first = read(client, acme.secret_key, "?actor=ann").json()["results"][0]
    assert set(first) == {"id", "created_at", "actor", "actor_type", "action", "object_type", "object_id",
                          "object_repr", "changes", "source_address"}


@pytest.mark.parametrize("query, field", [
    ("?date_from=yesterday", "date_from"), ("?date_to=2026-13-01", "date_to"),
    ("?date_from=2026-02-01T00:00:00Z&date_to=2026-01-01T00:00:00Z", "date_to"),
    ("?actr=ann", "unknown"), ("?limit=abc&action=" + "x" * 65, "action"),
])
def test_bad_filters_are_a_400(client, acme, query, field):
    error = assert_error(read(client, acme.secret_key, query), 400, "invalid")
    assert field in json.dumps(error["details"]), error


def test_a_tenant_never_sees_another_tenants_entries(client, acme, globex):
    Walk(client, acme, "").dashboard()
    with schema_context(acme.tenant.schema_name):
        acme_ids = {str(e.pk) for e in AuditEntry.objects.all()}
        assert acme_ids
    body = read(client, globex.secret_key, "?object_type=dashboard").json()
    assert body["results"] == []
    theirs = read(client, globex.secret_key).json()["results"]
    assert all(entry["actor"] != acme.secret_key[:6] for entry in theirs)
    assert read(client, acme.write_key).status_code == 403


def test_no_secret_reaches_any_diff(client, acme, settings):
    walk = Walk(client, acme, settings.PLATFORM_API_TOKEN)
    issued = walk.call("POST", f"/platform/v1/tenants/{acme.slug}/keys", {"kind": "secret"}, platform=True).json()
    dashboard = walk.dashboard()
    token = walk.call("POST", f"/api/v1/dashboards/{dashboard}/share").json()["token"]
    report = _subscribed(walk)
    with schema_context(acme.tenant.schema_name):
        get_user_model().objects.create_user("carol", "c@example.com", "pw-secret-123")
        from apps.reports.models import Subscription
        nonce = Subscription.objects.get(report_id=report).unsubscribe_nonce
    secrets = [issued["key"], ApiKey.objects.get(prefix=issued["prefix"]).key_hash, token,
               ShareLink.objects.get(prefix=token[:10]).token_hash, nonce, "pw-secret-123", acme.secret_key]
    with schema_context(acme.tenant.schema_name):
        carol = get_user_model().objects.get(username="carol")
        secrets.append(carol.password)
        dump = json.dumps([[e.changes, e.object_repr, e.object_id] for e in AuditEntry.objects.all()])
        kinds = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"key_issued", "share_link_created", "create"} <= kinds
    for secret in secrets:
        assert secret not in dump, secret[:6]
    assert dump.count(MASK) >= 4  # key hash, token hash, nonce, password: masked, not left out


def test_a_page_costs_the_same_few_queries_however_many_entries(client, acme):
    from django.test.utils import CaptureQueriesContext

    def queries() -> int:
        with CaptureQueriesContext(connection) as context:
            assert read(client, acme.secret_key, "?limit=100").status_code == 200
        return len(context.captured_queries)

    _seed(acme.tenant)
    queries()  # the key's resolution and the schema's search_path, cached after the first request
    few = queries()
    assert few <= 3
    for _ in range(5):
        _seed(acme.tenant)
    assert queries() == few

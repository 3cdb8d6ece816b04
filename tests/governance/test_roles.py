"""Console roles: admin, editor, viewer.

Every page and action of the tenant console is walked for each role. The walk enumerates the
console's registry and URLs, so a model, custom view or action registered later fails
`test_every_console_model_and_view_is_covered` until it is given a factory and expectations here.
"""

from __future__ import annotations

from collections.abc import Callable
from io import StringIO
from typing import Any

import pytest
from django.apps import apps as global_apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management import CommandError, call_command
from django.core.management.sql import emit_post_migrate_signal
from django.db import connection
from django.urls import URLPattern, URLResolver
from django_tenants.utils import schema_context

from apps.alerts import services as alert_services
from apps.alerts.models import AlertFiring
from apps.core.admin_sites import tenant_admin_site
from apps.dashboards import services as dashboard_services
from apps.dashboards.models import Dashboard
from apps.events.models import Event, Person, PrivacyJob
from apps.events.models import EventDefinition as EventDefinition_
from apps.events.models import PropertyDefinition as PropertyDefinition_
from apps.governance.models import PrivacyJob as GovernancePrivacyJob
from apps.governance.models import (
    BiCredential,
    EventDefinition,
    TrackingViolationCount,
    TrackingViolationSample,
)
from apps.governance.models import AuditEntry
from apps.governance.roles import ROLE_ADMIN, ROLE_EDITOR, ROLE_VIEWER, ROLES, console_user_create, user_role
from apps.governance.tracking import services as tracking_services
from apps.metrics import services as metric_services
from apps.metrics.models import MetricValue
from apps.reports import services as report_services
from apps.reports.models import ReportRun
from apps.segments import services as segment_services
from apps.tenancy.models import ShareLink
from apps.tenancy.services import api_key_create
from tests.segments.test_segments_api import ago, ingest

PASSWORD = "a-long-console-pass-42"
ANALYTICS_APPS = ("events", "insights", "metrics", "segments", "dashboards", "reports", "alerts")


# --- objects to walk: one per console model ---------------------------------------------------------

def _event(tenant: Any) -> Event:
    ingest(tenant, [{"type": "track", "userId": "u1", "event": "Buy", "timestamp": ago(hours=1)}])
    return Event.objects.get(event="Buy")


def _person(tenant: Any) -> Person:
    ingest(tenant, [{"type": "identify", "userId": "p1", "traits": {"plan": "pro"},
                     "timestamp": ago(hours=2)}])
    return Person.objects.latest("id")


def _metric_value(tenant: Any) -> MetricValue:
    metric_services.metric_create(name="walk_latency", metric_type="gauge")
    metric_services.metric_value_record(name="walk_latency", data={"value": 3.5})
    return MetricValue.objects.latest("id")


def _report(tenant: Any, name: str = "walk-report") -> Any:
    return report_services.report_create(
        tenant=tenant, name=name, report_type="queries", time_range="7d", formats=["csv"],
        query_config={"queries": [{"name": "buys", "query": {"kind": "trends", "series": [{"event": "Buy"}],
                                                             "interval": "day"}}]})


def _alert(tenant: Any, name: str = "walk-alert") -> Any:
    return alert_services.rule_create(tenant=tenant, name=name, condition="above", threshold=5, period="1h",
                                      query={"kind": "trends", "series": [{"event": "Buy"}]},
                                      channels=[{"type": "email", "address": "ops@example.com"}])


def _definition(model: Any, **fields: Any) -> Callable[[Any], Any]:
    from django.utils import timezone

    return lambda t: model.objects.create(**fields, volume=3, first_seen=timezone.now(), last_seen=timezone.now())


def _user(tenant: Any) -> Any:
    return console_user_create(username="walk-user", password=PASSWORD, role=ROLE_VIEWER)


# Per console model: how to make one (in the tenant's schema), who may change it ("editor" for
# analytics objects, "admin" for users and governance; reading follows: analytics objects are read by
# every role, the others by admins only), and which of add / change / delete the console offers at all.
CONSOLE_MODELS: dict[str, tuple[Callable[[Any], Any], str, set[str]]] = {
    "events.event": (_event, ROLE_EDITOR, set()),
    "events.person": (_person, ROLE_EDITOR, set()),
    "events.privacyjob": (lambda t: PrivacyJob.objects.create(distinct_id="gone"), ROLE_EDITOR, set()),
    # Counted by ingestion: only their description is editable (by editors), nothing is added or deleted.
    "events.eventdefinition": (_definition(EventDefinition_, name="Walk"), ROLE_EDITOR, {"change"}),
    "events.propertydefinition": (_definition(PropertyDefinition_, kind="event", key="walk", types=["string"]),
                                  ROLE_EDITOR, {"change"}),
    "metrics.metric": (lambda t: metric_services.metric_create(name="walk_metric", metric_type="counter"),
                       ROLE_EDITOR, {"add", "change", "delete"}),
    "metrics.metricvalue": (_metric_value, ROLE_EDITOR, set()),
    "segments.segment": (lambda t: segment_services.segment_create(
        name="walkers", rules={"op": "and", "rules": [{"field": "plan", "operator": "is_set"}]}),
        ROLE_EDITOR, {"add", "change", "delete"}),
    "dashboards.dashboard": (lambda t: dashboard_services.dashboard_create(name="walk-dashboard"),
                             ROLE_EDITOR, {"add", "change", "delete"}),
    "reports.report": (_report, ROLE_EDITOR, {"add", "change", "delete"}),
    "reports.reportrun": (lambda t: ReportRun.objects.create(report=_report(t, "run-report"), send=False),
                          ROLE_EDITOR, {"delete"}),
    "alerts.alertrule": (_alert, ROLE_EDITOR, {"add", "change", "delete"}),
    "alerts.alertfiring": (lambda t: AlertFiring.objects.create(
        rule=_alert(t, "firing-alert"), kind="breach", value=9, threshold=5, message="9 is above 5",
        fired_at="2026-12-01T00:00:00Z"), ROLE_EDITOR, {"delete"}),
    "auth.user": (_user, ROLE_ADMIN, {"add", "change", "delete"}),
    "auth.group": (lambda t: Group.objects.get(name=ROLE_VIEWER), ROLE_ADMIN, set()),
    "governance.bicredential": (lambda t: BiCredential.objects.create(
        name="walk", role_name="bi_walk_not_a_role", statement_timeout_ms=30_000, connection_limit=2),
        ROLE_ADMIN, {"add"}),
    "governance.tenantapikey": (lambda t: api_key_create(tenant=t, kind="secret").api_key, ROLE_ADMIN,
                                {"add", "change"}),
    "governance.privacyjob": (lambda t: GovernancePrivacyJob.objects.create(
        kind="export", distinct_id="walk-subject", requested_by="user:walk"), ROLE_ADMIN, set()),
    "governance.trackingplan": (lambda t: tracking_services.tracking_plan_ensure(), ROLE_ADMIN, {"change"}),
    "governance.eventdefinition": (lambda t: EventDefinition.objects.create(name="Walk"), ROLE_ADMIN,
                                   {"add", "change", "delete"}),
    "governance.trackingviolationcount": (lambda t: TrackingViolationCount.objects.create(
        day="2026-12-01", event="Walk", kind="unplanned_event", count=3), ROLE_ADMIN, set()),
    "governance.trackingviolationsample": (lambda t: TrackingViolationSample.objects.create(
        event="Walk", kind="unplanned_event", message="not in the plan", received_at=ago(hours=1)),
        ROLE_ADMIN, set()),
    "governance.auditentry": (lambda t: AuditEntry.objects.create(actor="walk", actor_type="user", action="update",
                                                                  object_type="dashboard"), ROLE_ADMIN, set()),
}

# Views a ModelAdmin adds with get_urls() beyond Django's five, by URL name: each is walked by
# `_walk_custom_view` below.
CUSTOM_VIEWS = {"auth_user_password_change", "governance_privacyjob_request", "governance_privacyjob_download",
                "governance_bicredential_rotate", "governance_bicredential_revoke", "dashboards_dashboard_from_template",
                # The dashboard page's JSON views (apps/dashboards/console.py).
                "dashboards_dashboard_console_data", "dashboards_dashboard_console_widget_add",
                "dashboards_dashboard_console_widget_change", "dashboards_dashboard_console_arrange",
                "dashboards_dashboard_console_shares", "dashboards_dashboard_console_share_revoke"}
# The site's own views, by URL name (app_list, the index and the login/logout pages are walked too).
SITE_VIEWS = {"index", "login", "logout", "password_change", "password_change_done", "autocomplete", "jsi18n",
              "view_on_site", "app_list", "events_realtime", "events_realtime_data", "console_persons",
              "console_person", "console_explore", "console_explore_run", "console_explore_save",
              "events_definitions_events", "events_definitions_properties", "events_definitions_values"}
# Actions another app adds to a page, with the role they need: governance's privacy jobs on persons.
ADMIN_ACTIONS = {"export_persons", "anonymise_persons"}
STANDARD = ("changelist", "add", "history", "delete", "change")


def _label(model: Any) -> str:
    return f"{model._meta.app_label}.{model._meta.model_name}"


def _custom_url_names() -> set[str]:
    names = set()
    for model, model_admin in tenant_admin_site._registry.items():
        prefix = f"{model._meta.app_label}_{model._meta.model_name}_"
        for pattern in model_admin.get_urls():
            if pattern.name and pattern.name not in {prefix + suffix for suffix in STANDARD}:
                names.add(pattern.name)
    return names


def _site_url_names() -> set[str]:
    return {p.name for p in tenant_admin_site.get_urls() if isinstance(p, URLPattern) and p.name} | {
        p.name for p in tenant_admin_site.get_urls() if isinstance(p, URLResolver) and p.app_name}


def test_every_console_model_and_view_is_covered():
    registered = {_label(model) for model in tenant_admin_site._registry}
    assert registered == set(CONSOLE_MODELS), (
        "Console models without roles expectations in tests/governance/test_roles.py: "
        f"{sorted(registered - set(CONSOLE_MODELS))}; listed but gone: "
        f"{sorted(set(CONSOLE_MODELS) - registered)}")
    assert _custom_url_names() == CUSTOM_VIEWS, "Custom console views must check permissions, be walked here."
    assert _site_url_names() - {None} <= SITE_VIEWS, sorted(_site_url_names() - SITE_VIEWS)


# --- the groups ------------------------------------------------------------------------------------

def _codenames(role: str) -> set[str]:
    group = Group.objects.get(name=role)
    permissions = group.permissions.select_related("content_type")
    return {f"{p.content_type.app_label}.{p.codename}" for p in permissions}


def _model_permissions(app_labels: tuple[str, ...], actions: tuple[str, ...]) -> set[str]:
    """From the model registry (not from the permissions table): app.action_model for every model."""
    return {f"{model._meta.app_label}.{action}_{model._meta.model_name}"
            for label in app_labels if label in {c.label for c in global_apps.get_app_configs()}
            for model in global_apps.get_app_config(label).get_models() for action in actions}


@pytest.mark.parametrize("schema", ["new tenant", "template"])
def test_role_groups_exist_with_permissions_from_the_model_registry(acme, schema):
    with schema_context(acme.tenant.schema_name if schema == "new tenant" else settings.TENANT_BASE_SCHEMA):
        viewer, editor, admin = _codenames(ROLE_VIEWER), _codenames(ROLE_EDITOR), _codenames(ROLE_ADMIN)
    reads = _model_permissions(ANALYTICS_APPS, ("view",))
    writes = _model_permissions(ANALYTICS_APPS, ("add", "change", "delete"))
    management = _model_permissions(("auth", "governance"), ("view", "add", "change", "delete"))
    assert reads and writes and management
    assert reads <= viewer and not viewer & (writes | management)
    assert reads | writes <= editor and not editor & management
    assert reads | writes | management | {"tenancy.view_apikey", "tenancy.add_apikey"} <= admin
    assert not any(name.startswith("tenancy.") and "apikey" not in name for name in admin)
    others = ("sessions.", "contenttypes.", "admin.")
    assert not any(name.startswith(others) for name in admin | editor | viewer)


def test_every_migrate_reapplies_the_roles_and_covers_models_added_since(acme):
    with schema_context(acme.tenant.schema_name):
        later_analytics = ContentType.objects.create(app_label="reports", model="laterthing")
        later_governance = ContentType.objects.create(app_label="governance", model="laterrule")
        for content_type in (later_analytics, later_governance):
            for action in ("view", "change"):
                codename = f"{action}_{content_type.model}"
                Permission.objects.create(content_type=content_type, codename=codename, name=codename)
        Group.objects.get(name=ROLE_VIEWER).permissions.add(Permission.objects.get(codename="add_user"))
        editor = Group.objects.get(name=ROLE_EDITOR)
        editor.permissions.remove(Permission.objects.get(codename="change_segment"))
        emit_post_migrate_signal(verbosity=0, interactive=False, db="default")
        viewer, editor, admin = _codenames(ROLE_VIEWER), _codenames(ROLE_EDITOR), _codenames(ROLE_ADMIN)
    assert "reports.view_laterthing" in viewer and "reports.change_laterthing" not in viewer
    assert {"reports.view_laterthing", "reports.change_laterthing"} <= editor
    assert not {"governance.view_laterrule", "governance.change_laterrule"} & (viewer | editor)
    assert {"governance.view_laterrule", "governance.change_laterrule", "reports.change_laterthing"} <= admin
    assert "auth.add_user" not in viewer and "segments.change_segment" in editor


def test_the_public_schema_gets_no_role_groups(db):
    connection.set_schema_to_public()
    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")
    assert not Group.objects.filter(name__in=ROLES).exists()


# --- the walk ---------------------------------------------------------------------------------------

def _log_in(client: Any, tenant: Any, username: str) -> None:
    response = client.post("/admin/login/", {"username": username, "password": PASSWORD, "next": "/admin/"},
                           HTTP_HOST=f"{tenant.slug}.localhost")
    assert response.status_code == 302, f"{username} could not log in"


def _may(role: str, writer: str) -> bool:
    return role == ROLE_ADMIN or (role == ROLE_EDITOR and writer == ROLE_EDITOR)


def _may_read(role: str, writer: str) -> bool:
    return writer == ROLE_EDITOR or role == ROLE_ADMIN


@pytest.fixture
def console(client, acme):  # noqa: ANN001, ANN201
    """`get(path)` / `post(path, data)` on acme's console, logged in as `role` (parametrized)."""

    class Console:
        tenant = acme.tenant

        def log_in(self, role: str) -> None:
            with schema_context(acme.tenant.schema_name):
                console_user_create(username=f"the-{role}", password=PASSWORD, role=role)
            _log_in(client, acme.tenant, f"the-{role}")

        def get(self, path: str, **params: Any) -> Any:
            return client.get(path, params, HTTP_HOST="acme.localhost")

        def post(self, path: str, data: dict | None = None) -> Any:
            return client.post(path, data or {}, HTTP_HOST="acme.localhost")

    return Console()


def _base_actions(model_admin: Any) -> list[str]:
    return [name for _, name, _ in model_admin._get_base_actions()]


@pytest.mark.parametrize("role", ROLES)
def test_every_console_page_and_action_answers_by_role(console, role, django_capture_on_commit_callbacks):
    console.log_in(role)
    assert console.get("/admin/").status_code == 200
    schema = console.tenant.schema_name
    for model, model_admin in tenant_admin_site._registry.items():
        label = _label(model)
        make, writer, offered = CONSOLE_MODELS[label]
        with schema_context(schema):
            obj = make(console.tenant)
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        read, write = _may_read(role, writer), _may(role, writer)
        where = f"{role} on {label}"

        assert console.get(base).status_code == (200 if read else 403), where
        change = console.get(f"{base}{obj.pk}/change/")
        assert change.status_code == (200 if read else 403), where
        can_change = write and "change" in offered
        if read:
            assert (b'name="_save"' in change.content) == can_change, f"{where}: save button"
        assert console.get(f"{base}{obj.pk}/history/").status_code == (200 if read else 403), where

        can_add = write and "add" in offered
        assert console.get(f"{base}add/").status_code == (200 if can_add else 403), where
        # An empty form: refused outright (403) or answered with its errors (200), never saved.
        assert console.post(f"{base}add/").status_code == (200 if can_add else 403), where
        assert console.post(f"{base}{obj.pk}/change/").status_code == (200 if can_change else 403), where

        for action in _base_actions(model_admin):
            allowed = write and ("delete" in offered if action == "delete_selected" else "change" in offered)
            if action in ADMIN_ACTIONS:
                allowed = role == ROLE_ADMIN
            with django_capture_on_commit_callbacks(execute=False) as queued:
                answer = console.post(base, {"action": action, "_selected_action": [obj.pk]})
            assert (answer.status_code != 403) == allowed, f"{where}: action {action} -> {answer.status_code}"
            if not allowed:
                assert not queued, f"{where}: refused action {action} queued work"

        can_delete = write and "delete" in offered
        assert console.get(f"{base}{obj.pk}/delete/").status_code == (200 if can_delete else 403), where
        deleted = console.post(f"{base}{obj.pk}/delete/", {"post": "yes"})
        assert deleted.status_code == (302 if can_delete else 403), where
        with schema_context(schema):
            assert model._default_manager.filter(pk=obj.pk).exists() != can_delete, where

    _walk_custom_views(console, role)
    _walk_site_views(console, role)


def _walk_site_views(console: Any, role: str) -> None:
    apps_by_label: dict[str, bool] = {}
    for model in tenant_admin_site._registry:
        _, writer, _ = CONSOLE_MODELS[_label(model)]
        apps_by_label[model._meta.app_label] = apps_by_label.get(model._meta.app_label, False) or _may_read(
            role, writer)
    for app_label, visible in apps_by_label.items():
        assert console.get(f"/admin/{app_label}/").status_code == (200 if visible else 404), (role, app_label)
    index = console.get("/admin/").content.decode()
    assert ('href="/admin/auth/user/"' in index) == (role == ROLE_ADMIN)
    assert ('href="/admin/segments/segment/"' in index)
    # The console's own pages: the real-time page and its data, read by every role.
    assert 'href="/admin/realtime/"' in index
    assert console.get("/admin/realtime/").status_code == 200
    assert console.get("/admin/realtime/data").status_code == 200
    # Persons (apps/console/persons.py): every role reads them; tests/console/test_persons.py has the rest.
    assert 'href="/admin/persons/"' in index
    assert console.get("/admin/persons/").status_code == 200
    with schema_context(console.tenant.schema_name):
        person = Person.objects.latest("id")
    assert console.get(f"/admin/persons/{person.pk}/").status_code == 200
    assert console.get(f"/admin/persons/{person.pk + 1000}/").status_code == 404
    # The explorer: every role runs queries; only editors and admins save widgets (its use:
    # tests/console/test_explorer.py).
    assert 'href="/admin/explore/"' in index
    assert console.get("/admin/explore/").status_code == 200
    assert console.post("/admin/explore/run").status_code == 400  # no spec: answered, not refused
    assert console.post("/admin/explore/save").status_code == (403 if role == ROLE_VIEWER else 400)
    # The explorer pickers' JSON (apps.events.admin), read by every role; GET only.
    for picker in ("events", "properties"):
        assert console.get(f"/admin/definitions/{picker}.json").status_code == 200
        assert console.post(f"/admin/definitions/{picker}.json").status_code == 405
    assert console.get("/admin/definitions/values.json", key="plan").status_code == 200
    assert console.get("/admin/password_change/").status_code == 200
    assert console.get("/admin/password_change/done/").status_code == 200
    assert console.get("/admin/jsi18n/").status_code == 200
    # Autocomplete lists the target model's objects to whoever may view them: groups, admins only.
    assert console.get("/admin/autocomplete/", app_label="auth", model_name="user",
                       field_name="groups").status_code == (200 if role == ROLE_ADMIN else 403)
    assert console.get("/admin/autocomplete/", app_label="reports", model_name="report",
                       field_name="dashboard").status_code == 200
    with schema_context(console.tenant.schema_name):
        user = get_user_model().objects.get(username=f"the-{role}")
        content_type = ContentType.objects.get_for_model(user)
    # Users have no page outside the console: the "view on site" redirect has nowhere to go.
    assert console.get(f"/admin/r/{content_type.pk}/{user.pk}/").status_code == 404
    assert console.post("/admin/logout/").status_code == 200
    assert console.get("/admin/").status_code == 302


def _walk_custom_views(console: Any, role: str) -> None:
    # auth_user_password_change: setting another user's password is managing users.
    with schema_context(console.tenant.schema_name):
        target = console_user_create(username="pw-target", password=PASSWORD, role=ROLE_VIEWER)
    path = f"/admin/auth/user/{target.pk}/password/"
    expected = 200 if role == ROLE_ADMIN else 403
    assert console.get(path).status_code == expected
    answer = console.post(path, {"password1": "another-long-pass-7", "password2": "another-long-pass-7",
                                 "usable_password": "true"})
    assert answer.status_code == (302 if role == ROLE_ADMIN else 403)
    with schema_context(console.tenant.schema_name):
        target.refresh_from_db()
        assert target.check_password("another-long-pass-7") == (role == ROLE_ADMIN)
    # The privacy jobs' request form and export download: admins only (their use:
    # tests/governance/test_privacy_jobs.py); a download of a job with no file leads back to the list.
    assert console.get("/admin/governance/privacyjob/request/").status_code == (200 if role == ROLE_ADMIN else 403)
    if role != ROLE_ADMIN:
        assert console.post("/admin/governance/privacyjob/request/", {"kind": "export",
                                                                      "distinct_id": "x"}).status_code == 403
    with schema_context(console.tenant.schema_name):
        job = GovernancePrivacyJob.objects.create(kind="export", distinct_id="walk-file", requested_by="user:walk")
    download = console.get(f"/admin/governance/privacyjob/{job.pk}/download/")
    assert download.status_code == (302 if role == ROLE_ADMIN else 403)
    # The BI credential's rotate and revoke pages: admins only (their POSTs: tests/governance/test_bi_console.py).
    with schema_context(console.tenant.schema_name):
        credential = BiCredential.objects.create(name="walk-pages", role_name="bi_walk_pages_not_a_role",
                                                 statement_timeout_ms=30_000, connection_limit=2)
    for action in ("rotate", "revoke"):
        page = console.get(f"/admin/governance/bicredential/{credential.pk}/{action}/")
        assert page.status_code == (200 if role == ROLE_ADMIN else 403), action
        if role != ROLE_ADMIN:
            assert console.post(f"/admin/governance/bicredential/{credential.pk}/{action}/").status_code == 403
    # "New from template" on dashboards: whoever may add dashboards (editors and admins; its use:
    # tests/dashboards/test_templates.py).
    may_add = role in (ROLE_EDITOR, ROLE_ADMIN)
    assert console.get("/admin/dashboards/dashboard/from-template/").status_code == (200 if may_add else 403)
    made = console.post("/admin/dashboards/dashboard/from-template/", {"template": "executive",
                                                                       "name": f"walk-{role}"})
    assert made.status_code == (302 if may_add else 403)
    with schema_context(console.tenant.schema_name):
        assert Dashboard.objects.filter(name=f"walk-{role}").exists() == may_add
    # The dashboard page's JSON views: every role reads the charts and the share links; editors and
    # admins change widgets and links (their use: tests/dashboards/test_console.py).
    with schema_context(console.tenant.schema_name):
        board = dashboard_services.dashboard_create(name=f"walk-board-{role}")
        widget = dashboard_services.widget_create(dashboard=board, tenant=console.tenant, name="w",
                                                  widget_type="number", query_config={
                                                      "kind": "trends", "series": [{"event": "Buy"}]})
        link, _ = dashboard_services.share_create(dashboard=board)
    base = f"/admin/dashboards/dashboard/{board.pk}/console/"
    may_change = role in (ROLE_EDITOR, ROLE_ADMIN)
    assert console.get(f"{base}data").status_code == 200
    assert console.get(f"{base}shares").status_code == 200
    writes = [(f"{base}widgets", 400), (f"{base}widgets/{widget.pk}", 400), (f"{base}arrange", 400),
              (f"{base}shares", 201), (f"{base}shares/{link.pk}/revoke", 200)]
    for path, answer in writes:
        assert console.post(path).status_code == (answer if may_change else 403), (role, path)
    with schema_context(console.tenant.schema_name):
        links = ShareLink.objects.filter(tenant=console.tenant, dashboard_id=board.pk)
        assert links.count() == (2 if may_change else 1)
        assert links.filter(revoked_at__isnull=False).exists() == may_change


def test_a_viewer_runs_no_action_and_makes_no_share_link(console, acme):
    console.log_in(ROLE_VIEWER)
    with schema_context(acme.tenant.schema_name):
        dashboard = dashboard_services.dashboard_create(name="ops")
    answer = console.post("/admin/dashboards/dashboard/", {"action": "create_share_link",
                                                           "_selected_action": [dashboard.pk]})
    assert answer.status_code == 403
    assert not ShareLink.objects.filter(tenant=acme.tenant).exists()
    assert b"create_share_link" not in console.get("/admin/dashboards/dashboard/").content


def test_an_editor_makes_a_share_link_and_refreshes_a_segment(console, acme):
    console.log_in(ROLE_EDITOR)
    with schema_context(acme.tenant.schema_name):
        dashboard = dashboard_services.dashboard_create(name="ops")
        segment = segment_services.segment_create(name="pros", rules={"op": "and", "rules": [
            {"field": "plan", "operator": "eq", "value": "pro"}]})
    shared = console.post("/admin/dashboards/dashboard/", {"action": "create_share_link",
                                                           "_selected_action": [dashboard.pk]})
    assert shared.status_code == 302
    assert ShareLink.objects.filter(tenant=acme.tenant, dashboard_id=dashboard.pk).count() == 1
    ingest(acme.tenant, [{"type": "identify", "userId": "ann", "traits": {"plan": "pro"},
                          "timestamp": ago(hours=1)}])
    refreshed = console.post("/admin/segments/segment/", {"action": "refresh_now",
                                                          "_selected_action": [segment.pk]})
    assert refreshed.status_code == 302
    with schema_context(acme.tenant.schema_name):
        segment.refresh_from_db()
        assert segment.size == 1


def test_an_editor_creates_and_changes_a_dashboard_in_the_console(console, acme):
    from apps.dashboards.models import Dashboard
    from tests.dashboards.test_admin import TRENDS, form

    console.log_in(ROLE_EDITOR)
    assert console.post("/admin/dashboards/dashboard/add/", form("line", TRENDS)).status_code == 302
    with schema_context(acme.tenant.schema_name):
        dashboard = Dashboard.objects.get(name="ops")
    changed = form("line", TRENDS) | {"display_name": "Operations", "widgets-TOTAL_FORMS": 0}
    assert console.post(f"/admin/dashboards/dashboard/{dashboard.pk}/change/", changed).status_code == 302
    with schema_context(acme.tenant.schema_name):
        dashboard.refresh_from_db()
        assert dashboard.display_name == "Operations" and dashboard.widgets.count() == 1


# --- console users --------------------------------------------------------------------------------

def _user_form(**fields: Any) -> dict:
    return {"username": "carol", "password1": "carol-long-pass-9", "password2": "carol-long-pass-9",
            "role": ROLE_EDITOR, "first_name": "", "last_name": "", "email": "carol@acme.test", **fields}


def test_an_admin_creates_a_console_user_with_one_role_never_a_superuser(console, acme):
    console.log_in(ROLE_ADMIN)
    add_page = console.get("/admin/auth/user/add/").content.decode()
    assert 'name="role"' in add_page
    assert 'name="is_superuser"' not in add_page and 'name="groups"' not in add_page
    created = console.post("/admin/auth/user/add/", _user_form(is_superuser="on", is_staff="", groups=["1"]))
    assert created.status_code == 302, created.content
    with schema_context(acme.tenant.schema_name):
        carol = get_user_model().objects.get(username="carol")
        assert carol.is_staff and not carol.is_superuser
        assert list(carol.groups.values_list("name", flat=True)) == [ROLE_EDITOR]
    change_page = console.get(f"/admin/auth/user/{carol.pk}/change/").content.decode()
    assert 'name="is_superuser"' not in change_page and 'name="user_permissions"' not in change_page
    changed = console.post(f"/admin/auth/user/{carol.pk}/change/", {
        "username": "carol", "email": "carol@acme.test", "first_name": "", "last_name": "",
        "role": ROLE_VIEWER, "is_active": "on", "is_superuser": "on"})
    assert changed.status_code == 302, changed.content
    with schema_context(acme.tenant.schema_name):
        carol.refresh_from_db()
        assert user_role(carol) == ROLE_VIEWER and not carol.is_superuser
        assert list(carol.groups.values_list("name", flat=True)) == [ROLE_VIEWER]
    # The new user's console is the viewer's.
    console.post("/admin/logout/")
    response = console.post("/admin/login/", {"username": "carol", "password": "carol-long-pass-9",
                                              "next": "/admin/"})
    assert response.status_code == 302
    assert console.get("/admin/segments/segment/").status_code == 200
    assert console.post("/admin/segments/segment/add/").status_code == 403


def test_a_weak_password_or_a_missing_role_creates_nobody(console, acme):
    console.log_in(ROLE_ADMIN)
    weak = console.post("/admin/auth/user/add/", _user_form(password1="123", password2="123"))
    no_role = console.post("/admin/auth/user/add/", _user_form(role=""))
    bad_role = console.post("/admin/auth/user/add/", _user_form(role="owner"))
    assert weak.status_code == no_role.status_code == bad_role.status_code == 200
    with schema_context(acme.tenant.schema_name):
        assert not get_user_model().objects.filter(username="carol").exists()


def test_an_admin_cannot_touch_a_superuser_nor_demote_or_delete_themselves(console, acme):
    console.log_in(ROLE_ADMIN)
    with schema_context(acme.tenant.schema_name):
        root = get_user_model().objects.create_superuser("root", "root@acme.test", PASSWORD)
        me = get_user_model().objects.get(username="the-admin")
    assert console.get(f"/admin/auth/user/{root.pk}/change/").status_code == 200  # read-only
    assert console.post(f"/admin/auth/user/{root.pk}/change/", {"username": "root", "role": ROLE_VIEWER}
                        ).status_code == 403
    assert console.get(f"/admin/auth/user/{root.pk}/password/").status_code == 403
    assert console.post(f"/admin/auth/user/{root.pk}/delete/", {"post": "yes"}).status_code == 403
    bulk = console.post("/admin/auth/user/", {"action": "delete_selected", "_selected_action": [root.pk],
                                              "post": "yes"})
    assert bulk.status_code == 403
    assert console.post(f"/admin/auth/user/{me.pk}/delete/", {"post": "yes"}).status_code == 403
    demoted = console.post(f"/admin/auth/user/{me.pk}/change/", {
        "username": "the-admin", "email": "", "first_name": "", "last_name": "", "role": ROLE_VIEWER,
        "is_active": "on"})
    assert demoted.status_code == 200 and b"You cannot change your own role." in demoted.content
    deactivated = console.post(f"/admin/auth/user/{me.pk}/change/", {
        "username": "the-admin", "email": "", "first_name": "", "last_name": "", "role": ROLE_ADMIN})
    assert deactivated.status_code == 200 and b"You cannot deactivate yourself." in deactivated.content
    with schema_context(acme.tenant.schema_name):
        root.refresh_from_db()
        me.refresh_from_db()
        assert root.is_superuser and root.check_password(PASSWORD)
        assert user_role(me) == ROLE_ADMIN and me.is_active


def test_a_superuser_may_make_a_superuser(client, acme):
    with schema_context(acme.tenant.schema_name):
        get_user_model().objects.create_superuser("root", "root@acme.test", PASSWORD)
        dora = console_user_create(username="dora", password=PASSWORD, role=ROLE_ADMIN)
    _log_in(client, acme.tenant, "root")
    changed = client.post(f"/admin/auth/user/{dora.pk}/change/", {
        "username": "dora", "email": "", "first_name": "", "last_name": "", "role": ROLE_ADMIN,
        "is_active": "on", "is_superuser": "on"}, HTTP_HOST="acme.localhost")
    assert changed.status_code == 302, changed.content
    with schema_context(acme.tenant.schema_name):
        dora.refresh_from_db()
        assert dora.is_superuser


def test_the_role_field_offers_no_role_above_the_requesters_own(acme):
    from apps.governance.admin import ConsoleUserCreationForm

    with schema_context(acme.tenant.schema_name):
        offered = {}
        for role in ROLES:
            requester = console_user_create(username=f"r-{role}", password=PASSWORD, role=role)
            form = type("Form", (ConsoleUserCreationForm,), {"requester": requester})()
            offered[role] = [value for value, _ in form.fields["role"].choices]
            refused = type("Form", (ConsoleUserCreationForm,), {"requester": requester})(data=_user_form(
                role=ROLE_ADMIN))
            assert refused.is_valid() == (role == ROLE_ADMIN), role
    assert offered == {ROLE_ADMIN: [ROLE_ADMIN, ROLE_EDITOR, ROLE_VIEWER],
                       ROLE_EDITOR: [ROLE_EDITOR, ROLE_VIEWER], ROLE_VIEWER: [ROLE_VIEWER]}


def test_a_viewer_of_one_tenant_cannot_enter_another_tenants_console(client, acme, globex):
    with schema_context(acme.tenant.schema_name):
        console_user_create(username="vic", password=PASSWORD, role=ROLE_VIEWER)
    refused = client.post("/admin/login/", {"username": "vic", "password": PASSWORD, "next": "/admin/"},
                          HTTP_HOST="globex.localhost")
    assert refused.status_code == 200 and "_auth_user_id" not in client.session
    _log_in(client, acme.tenant, "vic")
    assert client.get("/admin/", HTTP_HOST="acme.localhost").status_code == 200
    # acme's session cookie means nothing at globex: its sessions live in globex's schema.
    elsewhere = client.get("/admin/segments/segment/", HTTP_HOST="globex.localhost")
    assert elsewhere.status_code == 302 and "/admin/login/" in elsewhere["Location"]


# --- the command ------------------------------------------------------------------------------------

def test_create_console_user_makes_a_staff_user_with_the_role_in_one_tenant(acme, globex, monkeypatch):
    monkeypatch.setenv("CONSOLE_USER_PASSWORD", PASSWORD)
    call_command("create_console_user", "acme", "erin", "--role", "editor", "--email", "erin@acme.test",
                 "--noinput", stdout=StringIO())
    with schema_context(acme.tenant.schema_name):
        erin = get_user_model().objects.get(username="erin")
        assert erin.is_staff and not erin.is_superuser and erin.email == "erin@acme.test"
        assert list(erin.groups.values_list("name", flat=True)) == [ROLE_EDITOR]
        assert erin.check_password(PASSWORD)
    with schema_context(globex.tenant.schema_name):
        assert not get_user_model().objects.filter(username="erin").exists()
    assert not get_user_model().objects.filter(username="erin").exists()


def test_create_console_user_refuses_bad_input(acme, monkeypatch):
    monkeypatch.delenv("CONSOLE_USER_PASSWORD", raising=False)
    with pytest.raises(CommandError, match="CONSOLE_USER_PASSWORD"):
        call_command("create_console_user", "acme", "erin", "--role", "viewer", "--noinput")
    monkeypatch.setenv("CONSOLE_USER_PASSWORD", "short")
    with pytest.raises(CommandError, match="password"):
        call_command("create_console_user", "acme", "erin", "--role", "viewer", "--noinput")
    monkeypatch.setenv("CONSOLE_USER_PASSWORD", PASSWORD)
    with pytest.raises(CommandError, match="No tenant"):
        call_command("create_console_user", "ghost", "erin", "--role", "viewer", "--noinput")
    with pytest.raises(CommandError):
        call_command("create_console_user", "acme", "erin", "--role", "owner", "--noinput")
    with schema_context(acme.tenant.schema_name):
        assert not get_user_model().objects.filter(username="erin").exists()
        call_command("create_console_user", "acme", "erin", "--role", "viewer", "--noinput",
                     stdout=StringIO())
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_console_user", "acme", "erin", "--role", "admin", "--noinput")


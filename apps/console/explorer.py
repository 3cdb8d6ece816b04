"""The insight explorer (issue 19, item 2): /admin/explore/, one page to build a trends, funnel,
retention, sessions or metric query, see its chart and table, and save it as a dashboard widget.

The page builds the spec of POST /api/v1/query; its JSON views, with the console session:
- POST explore/run  {"spec", "widget_type"} -> {"answer", "view", "table"} (explorer_services.explorer_run);
- POST explore/save {"spec", "widget_type", "title", "name", "dashboard" | "new_dashboard", "widget"}
  -> 201 {"widget", "dashboard", "dashboard_url"}: editors only (add widgets, change dashboards).
Errors are the API's body, `{"error": {"code", "message", "details"}}`, with the engine's status.
Every view is a tenant_admin_site site view (staff login, then `events.view_event`, which every role
holds); saving checks the dashboards permissions itself.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_POST

from apps.core.admin_sites import tenant_admin_site
from apps.core.errors import error_response
from apps.core.exceptions import DomainError, NotFound
from apps.console import explorer_services as services

# The pickers read what the tenant sent from the definitions' JSON views (apps/events/admin.py).
DEFINITIONS = {"events": "admin:events_definitions_events", "properties": "admin:events_definitions_properties",
               "values": "admin:events_definitions_values"}
SAVE_PERMISSIONS = ("dashboards.add_widget", "dashboards.change_dashboard")
BODY_LIMIT = 64 * 1024


class PayloadTooLarge(DomainError):
    status_code = 413
    code = "payload_too_large"


def can_save(user: Any) -> bool:
    return all(user.has_perm(permission) for permission in SAVE_PERMISSIONS)


def explore_page(request: HttpRequest) -> HttpResponse:
    """The explorer. `?widget=<id>` loads a saved widget's query (saving then updates it);
    `?dashboard=<id>` preselects the dashboard to save to; `?q=<spec json>` (read by the page's
    script) reloads a linked query. An id that is not this tenant's is a 404."""
    widget = dashboard_id = None
    try:
        if request.GET.get("widget"):
            widget = services.explorer_widget_get(widget_id=request.GET["widget"])
        if request.GET.get("dashboard"):
            dashboard_id = services.explorer_dashboard_get(dashboard_id=request.GET["dashboard"]).pk
    except NotFound as exc:
        raise Http404(exc.message) from None
    editor = can_save(request.user)
    initial = {
        "timezone": connection.tenant.timezone,
        "kinds": list(services.EXPLORER_KINDS),
        "widget_types": services.WIDGET_TYPES,
        "metrics": services.explorer_metrics(),
        "segments": services.explorer_segments(),
        "event_types": services.explorer_event_types(),
        "dashboards": services.explorer_dashboards() if editor else [],
        "dashboard": dashboard_id if dashboard_id is not None else (widget.dashboard_id if widget else None),
        "widget": None if widget is None else {
            "id": widget.pk, "name": widget.name, "title": widget.title, "widget_type": widget.widget_type,
            "spec": widget.query_config, "dashboard": widget.dashboard_id,
            "dashboard_label": str(widget.dashboard)},
        "can_save": editor,
        "definitions": {key: reverse(name) for key, name in DEFINITIONS.items()},
        "urls": {"run": reverse("admin:console_explore_run"), "save": reverse("admin:console_explore_save"),
                 "page": reverse("admin:console_explore")},
    }
    context = {**tenant_admin_site.each_context(request), "title": "Explore", "initial": initial,
               "can_save": editor, "widget": widget}
    return TemplateResponse(request, "console/explorer.html", context)


def _body(request: HttpRequest) -> dict[str, Any]:
    if len(request.body) > BODY_LIMIT:
        raise PayloadTooLarge(f"The body is over {BODY_LIMIT} bytes.")
    try:
        body = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise DomainError("The body is not JSON.", code="malformed_request") from None
    if not isinstance(body, dict):
        raise DomainError("The body must be a JSON object.", code="malformed_request", details={"$": "object"})
    return body


def _error(exc: DomainError) -> JsonResponse:
    headers = {"Retry-After": str(exc.retry_after)} if getattr(exc, "retry_after", None) else None
    return error_response(exc.status_code, exc.code, exc.message, exc.details, headers=headers)


@require_POST
def explore_run(request: HttpRequest) -> HttpResponse:
    """Run the spec the page built, with the engine of POST /api/v1/query; answer its answer, the
    chart view and the table."""
    try:
        body = _body(request)
        answer = services.explorer_run(spec=body.get("spec"), widget_type=body.get("widget_type"),
                                       tenant=connection.tenant)
    except DomainError as exc:
        return _error(exc)
    return JsonResponse(answer)


@require_POST
def explore_save(request: HttpRequest) -> HttpResponse:
    """Save the spec as a widget (editors: add widgets and change dashboards; a new dashboard also
    needs add_dashboard, updating a widget change_widget). 201 with the dashboard's console page."""
    if not can_save(request.user):
        return error_response(403, "forbidden", "Only editors save widgets to dashboards.")
    try:
        body = _body(request)
        updating = body.get("widget") not in (None, "")
        creating_dashboard = not updating and body.get("dashboard") in (None, "")
        if (updating and not request.user.has_perm("dashboards.change_widget")) or (
                creating_dashboard and not request.user.has_perm("dashboards.add_dashboard")):
            return error_response(403, "forbidden", "You may not do this.")
        widget = services.explorer_widget_save(
            tenant=connection.tenant, spec=body.get("spec"), widget_type=body.get("widget_type"),
            title=body.get("title", ""), name=body.get("name", ""), dashboard_id=body.get("dashboard"),
            new_dashboard=body.get("new_dashboard", ""), widget_id=body.get("widget"))
    except DomainError as exc:
        return _error(exc)
    url = reverse("admin:dashboards_dashboard_change", args=[widget.dashboard_id])
    return JsonResponse({"widget": widget.pk, "name": widget.name, "dashboard": widget.dashboard_id,
                         "dashboard_url": url, "updated": updating}, status=200 if updating else 201)


# Every role reads (the viewer role holds view_event); saving checks its own permissions.
tenant_admin_site.register_view(route="explore/", view=explore_page, name="console_explore", title="Explore",
                                permission="events.view_event")
tenant_admin_site.register_view(route="explore/run", view=explore_run, name="console_explore_run",
                                title="Explore (run)", permission="events.view_event", listed=False)
tenant_admin_site.register_view(route="explore/save", view=explore_save, name="console_explore_save",
                                title="Explore (save)", permission="events.view_event", listed=False)

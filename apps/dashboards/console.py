"""The dashboard's own console page (/admin/dashboards/dashboard/<id>/change/) and the JSON views it
draws from, with the console session: the widgets' chart views over one date range, adding,
arranging, renaming and removing widgets, and the share links.

Added by DashboardAdmin.get_urls (so each checks permissions itself): whoever may view dashboards
reads (`view_dashboard`), whoever may change them writes (`change_dashboard`, 403 otherwise). Every
lookup is in the tenant's own schema: another tenant's ids are 404. Errors answer like the API,
`{"error": {"code", "message", "details"}}`."""

from __future__ import annotations

import json
from typing import Any, Callable

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from apps.core import throttle
from apps.core.errors import error_response
from apps.core.exceptions import DomainError, RateLimited, ValidationFailed
from apps.core.names import object_id
from apps.dashboards import selectors, services
from apps.dashboards.models import Dashboard, Widget

WIDTHS = ("half", "full")
# date_from / date_to: ISO 8601, `now` or relative (`-30d`): the engine checks them per widget.
MAX_DATE_LENGTH = 40
EXPLORER_PATH = "/admin/explore/"  # apps/console's explorer: ?dashboard=<id> saves a widget here


def _json_body(request: HttpRequest) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        raise ValidationFailed("The body must be a JSON object.", details=None) from None
    if not isinstance(body, dict):
        raise ValidationFailed("The body must be a JSON object.", details=None)
    return body


def guarded(model_admin: Any, action: str, view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """`view(request, dashboard, **kwargs)` for a user holding the `action` permission ("view" or
    "change") on dashboards, the dashboard looked up in the tenant's schema; domain errors answered
    as JSON."""

    def wrapped(request: HttpRequest, object_id: str, **kwargs: Any) -> HttpResponse:
        allowed = (model_admin.has_view_permission(request) if action == "view"
                   else model_admin.has_change_permission(request))
        if not allowed:
            return error_response(403, "forbidden", "You may not do this on dashboards.")
        try:
            dashboard = selectors.dashboard_get(dashboard_id=object_id)
            return view(request, dashboard, **kwargs)
        except DomainError as exc:
            headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
            return error_response(exc.status_code, exc.code, exc.message, exc.details, headers=headers)

    return model_admin.admin_site.admin_view(wrapped)


def _widget(dashboard: Dashboard, widget_id: Any) -> Widget:
    return selectors.widget_get(dashboard_id=dashboard.pk, widget_id=widget_id)


def _widget_out(widget: Widget) -> dict[str, Any]:
    return {"id": widget.pk, "name": widget.name, "title": widget.title, "widget_type": widget.widget_type,
            "position": widget.position, "options": widget.options, "query_config": widget.query_config}


@require_GET
def data_view(request: HttpRequest, dashboard: Dashboard) -> HttpResponse:
    """Every widget with its chart view (services.widget_view) over `date_from` / `date_to` when
    given; `refresh=1` recomputes (the engine's cache skipped)."""
    params = {}
    for name in ("date_from", "date_to"):
        value = request.GET.get(name, "").strip()
        if len(value) > MAX_DATE_LENGTH:
            raise ValidationFailed(f"`{name}` is too long.", details={name: value[:MAX_DATE_LENGTH]})
        if value:
            params[name] = value
    refresh = request.GET.get("refresh", "") in ("1", "true")
    # The same budget as the API's data requests (insights.budget.query_rate_check), per console user.
    throttle.rate_check(key=f"queries:console:{connection.schema_name}:{request.user.pk}",
                        limit=settings.QUERY_RATE_LIMIT_PER_MINUTE, window_seconds=60, what="query requests")
    data = services.dashboard_data(dashboard=dashboard, tenant=connection.tenant, refresh=refresh, **params)
    widgets = {w.pk: w for w in dashboard.widgets.all()}
    return JsonResponse({
        "dashboard": dashboard.pk, "name": dashboard.name, "timezone": connection.tenant.timezone,
        **params, "refresh": refresh,
        "widgets": [{**_widget_out(widgets[entry["id"]]), "computed_at": entry.get("computed_at"),
                     "cached": entry.get("cached"), "view": services.widget_view(entry)}
                    for entry in data["widgets"]]})


@require_POST
def widget_add_view(request: HttpRequest, dashboard: Dashboard) -> HttpResponse:
    """A widget from {name, title, widget_type, query_config, options}, checked like the API's."""
    body = _json_body(request)
    options = body.get("options") if body.get("options") is not None else {}
    widget = services.widget_create(dashboard=dashboard, tenant=connection.tenant, name=body.get("name"),
                                    title=str(body.get("title") or "")[:200], widget_type=body.get("widget_type"),
                                    query_config=body.get("query_config"), options=options)
    return JsonResponse(_widget_out(widget), status=201)


@require_POST
def widget_change_view(request: HttpRequest, dashboard: Dashboard, widget_id: str) -> HttpResponse:
    """Rename ({title} and/or {name}), resize ({width: half|full}) or remove ({remove: true})."""
    widget = _widget(dashboard, widget_id)
    body = _json_body(request)
    if body.get("remove") is True:
        services.widget_delete(widget=widget)
        return JsonResponse({"id": object_id(widget_id), "removed": True})
    changes: dict[str, Any] = {}
    if "title" in body:
        if not isinstance(body["title"], str) or len(body["title"]) > 200:
            raise ValidationFailed("`title` must be text of at most 200 characters.", details={"title": "text"})
        changes["title"] = body["title"]
    if "name" in body:
        changes["name"] = body["name"]
    if "width" in body:
        if body["width"] not in WIDTHS:
            raise ValidationFailed(f"`width` must be one of {list(WIDTHS)}.", details={"width": body["width"]})
        changes["options"] = {**widget.options, "width": body["width"]}
    if not changes:
        raise ValidationFailed("Nothing to change: give title, name, width or remove.", details=None)
    widget = services.widget_update(widget=widget, tenant=connection.tenant, changes=changes)
    return JsonResponse(_widget_out(widget))


@require_POST
def arrange_view(request: HttpRequest, dashboard: Dashboard) -> HttpResponse:
    """The widgets' order, {order: [widget ids]}, kept as their positions."""
    widgets = services.widgets_arrange(dashboard=dashboard, order=_json_body(request).get("order"))
    return JsonResponse({"widgets": [_widget_out(w) for w in widgets]})


def _share_out(link: Any) -> dict[str, Any]:
    return {"id": link.pk, "prefix": link.prefix, "created_at": link.created_at.isoformat(),
            "revoked_at": link.revoked_at.isoformat() if link.revoked_at else None}


def share_base_url(request: HttpRequest) -> str:
    """Share pages live on the platform's domain, not the tenant's: /d/<token> there."""
    port = request.get_port()
    return f"{request.scheme}://{settings.BASE_DOMAIN}" + ("" if port in ("80", "443") else f":{port}")


def shares_view(request: HttpRequest, dashboard: Dashboard) -> HttpResponse:
    """GET: the links (by prefix: only their hash is kept). POST: a new link, its URL shown once."""
    if request.method == "POST":
        link, token = services.share_create(dashboard=dashboard)
        return JsonResponse({**_share_out(link), "url": f"{share_base_url(request)}/d/{token}"}, status=201)
    if request.method != "GET":
        return error_response(405, "method_not_allowed", "GET or POST.")
    links = sorted(services.share_list(dashboard=dashboard), key=lambda link: link.pk, reverse=True)
    return JsonResponse({"results": [_share_out(link) for link in links], "next": None})


@require_POST
def share_revoke_view(request: HttpRequest, dashboard: Dashboard, share_id: str) -> HttpResponse:
    return JsonResponse(_share_out(services.share_revoke(dashboard=dashboard, share_id=share_id)))


def shares_guard(model_admin: Any) -> Callable[..., HttpResponse]:
    """Listing links is reading; making one is changing."""
    read = guarded(model_admin, "view", shares_view)
    write = guarded(model_admin, "change", shares_view)
    return lambda request, object_id: (write if request.method == "POST" else read)(request, object_id)


def page_context(request: HttpRequest, model_admin: Any, dashboard: Dashboard) -> dict[str, Any]:
    """What the change form's template needs to draw the board (embedded with json_script)."""
    name = f"{model_admin.admin_site.name}:dashboards_dashboard_console"
    base = reverse(f"{name}_data", args=[dashboard.pk], current_app=model_admin.admin_site.name)
    base = base[: -len("data")]
    return {"board": {
        "id": dashboard.pk, "base": base, "timezone": connection.tenant.timezone,
        "can_change": model_admin.has_change_permission(request, dashboard),
        "explore": f"{EXPLORER_PATH}?dashboard={dashboard.pk}", "widths": list(WIDTHS),
        "types": sorted(services.KINDS)}}


def urls(model_admin: Any) -> list:
    """The JSON views under /admin/dashboards/dashboard/<id>/console/."""
    from django.urls import path

    prefix = "dashboards_dashboard_console"
    return [
        path("<str:object_id>/console/data", guarded(model_admin, "view", data_view), name=f"{prefix}_data"),
        path("<str:object_id>/console/widgets", guarded(model_admin, "change", widget_add_view),
             name=f"{prefix}_widget_add"),
        path("<str:object_id>/console/widgets/<str:widget_id>", guarded(model_admin, "change", widget_change_view),
             name=f"{prefix}_widget_change"),
        path("<str:object_id>/console/arrange", guarded(model_admin, "change", arrange_view),
             name=f"{prefix}_arrange"),
        path("<str:object_id>/console/shares", shares_guard(model_admin), name=f"{prefix}_shares"),
        path("<str:object_id>/console/shares/<str:share_id>/revoke", guarded(model_admin, "change", share_revoke_view),
             name=f"{prefix}_share_revoke"),
    ]

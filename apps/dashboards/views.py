"""The read-only share page of a dashboard, `/d/<token>` (no key: the token is the credential)."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from apps.core.pages import secret_link_headers
from apps.dashboards import services
from apps.dashboards.models import Dashboard


@require_safe
def share_page(request: HttpRequest, token: str) -> HttpResponse:
    link = services.share_resolve(token)
    dashboard = None
    if link is not None:
        connection.set_tenant(link.tenant)
        dashboard = Dashboard.objects.prefetch_related("widgets").filter(pk=link.dashboard_id).first()
    if dashboard is None:
        response = render(request, "dashboards/not_found.html", status=404)
    else:
        data = services.share_page_data(dashboard=dashboard, tenant=link.tenant)
        views = [services.widget_view(entry) for entry in data["widgets"]]
        computed = [entry["computed_at"] for entry in data["widgets"] if "computed_at" in entry]
        response = render(request, "dashboards/share.html", {
            "dashboard": dashboard, "views": views, "computed_at": min(computed) if computed else None,
            "timezone": link.tenant.timezone})
    return secret_link_headers(response, csp="default-src 'none'; script-src 'self'; style-src 'self'; "
                               "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")

"""The one-click unsubscribe page, `/r/unsubscribe/<token>` (no key: the signed token is the
credential). GET shows a button, so that link scanners unsubscribe nobody; POST unsubscribes, and
is also what mail clients send for `List-Unsubscribe-Post` (RFC 8058)."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from apps.core.exceptions import NotFound
from apps.core.pages import secret_link_headers
from apps.reports import services
from apps.reports.models import Report
from apps.tenancy.models import Tenant


@csrf_exempt  # the signed token, not a session, authorises the POST (mail clients post it directly)
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe_page(request: HttpRequest, token: str) -> HttpResponse:
    target = services.unsubscribe_target(token)
    tenant = Tenant.objects.filter(schema_name=target.schema_name).first() if target else None
    report = None
    if tenant is not None:
        connection.set_tenant(tenant)
        report = Report.objects.filter(pk=target.report_id).first()
    if report is None:
        response = render(request, "reports/unsubscribe.html", {"state": "unknown"}, status=404)
    elif request.method == "POST":
        try:
            services.unsubscribe(report=report, email=target.email)
        except NotFound:
            pass  # never subscribed, or the subscription was deleted: the address gets nothing either way
        response = render(request, "reports/unsubscribe.html", {"state": "done", "report": report,
                                                                "email": target.email})
    else:
        response = render(request, "reports/unsubscribe.html", {"state": "confirm", "report": report,
                                                                "email": target.email})
    return secret_link_headers(response, csp="default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
                               "form-action 'self'; frame-ancestors 'none'")

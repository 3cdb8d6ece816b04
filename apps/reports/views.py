"""The one-click unsubscribe page, `/r/unsubscribe/<token>` (no key: the opaque token is the
credential, see apps.reports.services.unsubscribe_token). GET shows a button, so that link scanners
unsubscribe nobody; POST unsubscribes, and is also what mail clients send for
`List-Unsubscribe-Post` (RFC 8058). Any token that leads to no live subscription (damaged, forged,
of the old signed format, or of a deleted subscription) gets the same "not valid" page."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from apps.core.pages import secret_link_headers
from apps.reports import services


@csrf_exempt  # the token, not a session, authorises the POST (mail clients post it directly)
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe_page(request: HttpRequest, token: str) -> HttpResponse:
    target = services.unsubscribe_resolve(token)
    if target is None:
        response = render(request, "reports/unsubscribe.html", {"state": "unknown"}, status=404)
    else:
        subscription = target.subscription
        context = {"report": subscription.report, "email": subscription.email}
        if request.method == "POST":
            connection.set_tenant(target.tenant)
            services.subscription_unsubscribe(subscription=subscription)
            response = render(request, "reports/unsubscribe.html", {"state": "done", **context})
        else:
            response = render(request, "reports/unsubscribe.html", {"state": "confirm", **context})
    return secret_link_headers(response, csp="default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
                               "form-action 'self'; frame-ancestors 'none'")

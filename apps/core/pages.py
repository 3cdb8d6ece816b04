"""Pages opened by a secret in their address (a dashboard's share link, a report's unsubscribe
link): kept out of referrers, caches and search engines, under a strict CSP."""

from __future__ import annotations

from django.http import HttpResponse


def secret_link_headers(response: HttpResponse, *, csp: str) -> HttpResponse:
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "private, no-store"
    response["X-Robots-Tag"] = "noindex"
    response["Content-Security-Policy"] = csp
    return response

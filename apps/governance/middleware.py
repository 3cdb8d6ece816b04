"""Request middleware of the governance app."""

from __future__ import annotations

from typing import Callable

from django.http import HttpRequest, HttpResponse

from apps.governance.audit.context import actor_for_request, actor_reset, actor_set


class AuditContextMiddleware:
    """Makes the request's caller the actor of whatever the request records in the audit log.
    It only sets a context variable (the actor is worked out when something is recorded), so the
    ingestion path pays nothing measurable."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = actor_set(lambda: actor_for_request(request))
        try:
            return self.get_response(request)
        finally:
            actor_reset(token)

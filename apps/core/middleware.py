"""Prometheus request metrics: count and latency per method, route pattern and status."""

from __future__ import annotations

import time
from typing import Callable

from django.http import HttpRequest, HttpResponse

from apps.core.metrics import REQUEST_LATENCY, REQUESTS, method_label


class RequestMetricsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        # The route pattern, not the path: bounded label cardinality.
        route = match.route if match is not None else "unmatched"
        method = method_label(request.method)
        REQUESTS.labels(method, route, str(response.status_code)).inc()
        REQUEST_LATENCY.labels(method, route).observe(time.perf_counter() - started)
        return response

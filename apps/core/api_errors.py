"""Every error on an API path is the JSON error body, in every environment.

Django answers some errors itself, before or around our views: its technical 404 page with DEBUG,
`Bad Request (400)` for a body over DATA_UPLOAD_MAX_MEMORY_SIZE or a bad Host, the CSRF failure
page, 405 from `require_POST`, the 500 page. A client of the API (the SDK, a Segment library, curl)
would get HTML. This middleware, the outermost, turns any non-JSON 4xx/5xx on an API path into
`{"error": {"code", "message", "details"}}` with the same status and the headers that matter
(Allow, Retry-After, WWW-Authenticate). It also answers a trailing slash on API paths: the seeds'
clients write `/api/v1/metrics/` where our routes say `/api/v1/metrics`.
"""

from __future__ import annotations

import logging
from typing import Callable

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, get_urlconf, resolve

from apps.core.errors import error_response

logger = logging.getLogger(__name__)

# Paths answered to programs: the tenant and platform APIs, ingestion, health and metrics.
API_PATH_PREFIXES: tuple[str, ...] = (
    "/api/", "/platform/", "/v1/", "/batch", "/capture", "/e/", "/health", "/metrics",
)

_CODES = {
    400: ("malformed_request", "The request could not be read."),
    401: ("unauthenticated", "Authentication is required."),
    403: ("forbidden", "This request is not allowed."),
    404: ("not_found", "Not found."),
    405: ("method_not_allowed", "This method is not allowed here."),
    406: ("not_acceptable", "The requested format is not available."),
    413: ("body_too_large", "The request body is too large."),
    415: ("unsupported_media_type", "The body's media type is not supported."),
    429: ("rate_limited", "Too many requests."),
    503: ("unavailable", "The service is unavailable; retry shortly."),
}
_KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate", "Access-Control-Allow-Origin")


def is_api_path(path: str) -> bool:
    return path.startswith(API_PATH_PREFIXES)


def _is_json(response: HttpResponse) -> bool:
    return response.get("Content-Type", "").startswith("application/json")


def json_error_for(response: HttpResponse) -> HttpResponse:
    status = response.status_code
    code, message = _CODES.get(status, ("server_error" if status >= 500 else "error",
                                        "Internal server error." if status >= 500 else "The request failed."))
    replacement = error_response(status, code, message)
    for name in _KEPT_HEADERS:
        if response.has_header(name):
            replacement[name] = response[name]
    return replacement


def _without_trailing_slash(request: HttpRequest) -> None:
    """`/api/v1/metrics/` answers as `/api/v1/metrics` when only the latter is a route."""
    path = request.path_info
    if len(path) < 2 or not path.endswith("/"):
        return
    urlconf = getattr(request, "urlconf", None) or get_urlconf()
    try:
        resolve(path, urlconf)
        return
    except Resolver404:
        pass
    try:
        resolve(path.rstrip("/"), urlconf)
    except Resolver404:
        return
    request.path_info = path.rstrip("/")
    request.path = request.path[: len(request.path) - (len(path) - len(request.path_info))]


class ApiErrorsMiddleware:
    """Outermost: sees the final response of every other layer, Django's own error pages included."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code >= 400 and is_api_path(request.path_info) and not _is_json(response):
            return json_error_for(response)
        return response


class TrailingSlashMiddleware:
    """After tenant routing (the urlconf is known): strip a trailing slash that matches no route."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_api_path(request.path_info):
            _without_trailing_slash(request)
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        # DRF reads the body lazily, inside the view: a body past DATA_UPLOAD_MAX_MEMORY_SIZE is
        # a 413, not the 400 Django gives any SuspiciousOperation.
        if isinstance(exception, RequestDataTooBig) and is_api_path(request.path_info):
            return error_response(413, "body_too_large", "The request body is too large.")
        return None

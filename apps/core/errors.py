"""One error body for every 4xx/5xx the API answers: `{"error": {"code", "message", "details"}}`."""

from __future__ import annotations

import logging
import sys
from typing import Any

import psycopg
from django import db
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import set_rollback

from apps.core.exceptions import DomainError

logger = logging.getLogger(__name__)


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def error_response(status: int, code: str, message: str, details: Any = None,
                   headers: dict[str, str] | None = None) -> JsonResponse:
    response = JsonResponse(error_body(code, message, details), status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


_DRF_CODES = {
    drf.ParseError: "malformed_request",
    drf.AuthenticationFailed: "unauthenticated",
    drf.NotAuthenticated: "unauthenticated",
    drf.PermissionDenied: "forbidden",
    drf.NotFound: "not_found",
    drf.MethodNotAllowed: "method_not_allowed",
    drf.NotAcceptable: "not_acceptable",
    drf.UnsupportedMediaType: "unsupported_media_type",
    drf.Throttled: "rate_limited",
    drf.ValidationError: "invalid",
}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's exception handler: domain errors and DRF errors become the stable body."""
    if isinstance(exc, DomainError):
        set_rollback()
        retry_after = getattr(exc, "retry_after", None)
        return Response(error_body(exc.code, exc.message, exc.details), status=exc.status_code,
                        headers={"Retry-After": str(retry_after)} if retry_after else None)
    if isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = drf.PermissionDenied()
    if not isinstance(exc, drf.APIException):
        return None  # a real bug: let Django log it and answer 500
    set_rollback()
    code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), "error")
    if isinstance(exc, drf.ValidationError):
        message, details = "The request is not valid.", exc.detail
    else:
        message, details = str(exc.detail), None
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    return Response(error_body(code, message, details), status=exc.status_code, headers=headers)


def handler404(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return error_response(404, "not_found", "Not found.")


def handler500(request: HttpRequest) -> JsonResponse:
    """Django's last resort (also for exceptions raised in middleware). The database being
    unreachable (restarting, failing over) is the server's state, not a bug: 503 with Retry-After,
    which clients and the SDK retry. Django drops the broken connection when the request ends."""
    error = sys.exc_info()[1]
    if isinstance(error, (db.OperationalError, db.InterfaceError, psycopg.OperationalError, psycopg.InterfaceError)):
        return error_response(503, "unavailable", "The database is unavailable; retry shortly.",
                              headers={"Retry-After": "1"})
    return error_response(500, "server_error", "Internal server error.")

"""Tenant routing (DESIGN §3). It fails closed.

- API and ingestion paths: the tenant comes from the API key only (Bearer token, or the HTTP Basic
  username as Segment's libraries send it). No key, an unknown, revoked or expired key: 401. A write
  key outside the ingestion paths, or sending with a key without the `write` scope: 403. The host
  name plays no part, so a key can never reach another tenant's schema.
- `<slug>.<BASE_DOMAIN>`: that tenant's admin console; an unknown slug is a 404, never the public site.
- Anything else: the public schema (platform API, public admin, health, docs).
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Callable

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import set_urlconf

from apps.core.errors import error_response
from apps.core.scopes import READING_METHODS, SCOPE_WRITE, InsufficientScope
from apps.tenancy.models import ApiKey, Domain
from apps.tenancy.selectors import api_key_resolve_cached
from apps.tenancy.services import api_key_mark_used

# PostHog's capture API, so its client libraries work by changing the host.
POSTHOG_PATH_PREFIXES: tuple[str, ...] = ("/batch", "/capture", "/e/")
# The typed tracking forms (apps.metrics.api.typed), also under the seed's literal prefix.
TYPED_TRACK_PATH_PREFIXES: tuple[str, ...] = ("/api/v1/track/", "/api/analytics/track/")
# Explicit sessions (apps.events.api.sessions): start and end, also under the seed's literal prefix.
SESSION_PATH_PREFIXES: tuple[str, ...] = ("/api/v1/sessions/", "/api/analytics/session/")
# Paths whose tenant is named by an API key. The schema/docs pages under /api/ are public.
API_KEY_PATH_PREFIXES: tuple[str, ...] = ("/api/v1/", "/v1/", "/api/analytics/track/", "/api/analytics/session/",
                                          "/api/analytics/summary", "/api/analytics/real-time",
                                          *POSTHOG_PATH_PREFIXES)
# Of those, the ones a write key may use (ingestion).
INGESTION_PATH_PREFIXES: tuple[str, ...] = (
    "/v1/", "/api/v1/events/track", "/api/v1/events/batch", *TYPED_TRACK_PATH_PREFIXES, *SESSION_PATH_PREFIXES,
    *POSTHOG_PATH_PREFIXES,
)

TENANT_API_URLCONF = "analytics_project.urls_tenant"
TENANT_CONSOLE_URLCONF = "analytics_project.urls_tenant"


def credentials_from_request(request: HttpRequest) -> str | None:
    """The raw API key from `Authorization: Bearer <key>` or `Basic base64(<key>:)`."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = header.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        return value.strip() or None
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[0] or None
    return None


# Metric values, one metric's or a batch: `/api/v1/metrics/<name>/values`, `/api/v1/metrics/values/batch`,
# and the seed API's `/api/v1/metrics/values` (the metric in the body); a trailing slash too.
METRIC_VALUES_PATH = re.compile(r"^/api/v1/metrics/(?:values/batch|values|[^/]+/values)/?$")


def is_ingestion_path(path: str) -> bool:
    return path.startswith(INGESTION_PATH_PREFIXES) or METRIC_VALUES_PATH.match(path) is not None


class TenantRoutingMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.tenant_host_suffix = "." + settings.BASE_DOMAIN

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # Every request starts from the public schema; a pooled connection keeps no tenant.
        connection.set_schema_to_public()
        request.tenant = None
        request.api_key = None
        path = request.path_info
        if path.startswith(API_KEY_PATH_PREFIXES):
            refusal = self._route_by_key(request, path)
        else:
            refusal = self._route_by_host(request)
        if refusal is not None:
            return refusal
        try:
            return self.get_response(request)
        finally:
            connection.set_schema_to_public()

    def _route_by_key(self, request: HttpRequest, path: str) -> HttpResponse | None:
        request.urlconf = TENANT_API_URLCONF
        set_urlconf(TENANT_API_URLCONF)
        return route_by_key(request)

    def _route_by_host(self, request: HttpRequest) -> HttpResponse | None:
        host = request.get_host().rsplit(":", 1)[0].lower()
        if not host.endswith(self.tenant_host_suffix):
            set_urlconf(settings.PUBLIC_SCHEMA_URLCONF)
            request.urlconf = settings.PUBLIC_SCHEMA_URLCONF
            return None
        domain = Domain.objects.select_related("tenant").filter(domain=host).first()
        if domain is None:
            return error_response(404, "tenant_not_found", "No tenant at this address.")
        _enter(request, domain.tenant, TENANT_CONSOLE_URLCONF)
        return None


def route_by_key(request: HttpRequest) -> HttpResponse | None:
    """For an API or ingestion path: enter the tenant of the request's key, or refuse (401/403).
    Used by the middleware and by the ingestion fast path (apps.events.api.fastpath)."""
    request.tenant = None
    request.api_key = None
    raw_key = credentials_from_request(request)
    if raw_key is None and is_ingestion_path(request.path_info):
        # Segment and PostHog clients may put the key in the body (writeKey / api_key): the
        # ingestion view reads the body and calls enter_tenant_by_key itself. Until then the
        # request is in no tenant's schema.
        return None
    return enter_tenant_by_key(request, raw_key)


def enter_tenant_by_key(request: HttpRequest, raw_key: str | None) -> HttpResponse | None:
    """Resolve `raw_key` and enter its tenant's schema; or the 401/403 response that refuses it."""
    if raw_key is None:
        return error_response(401, "unauthenticated", "An API key is required (Authorization: Bearer <key>).",
                              headers={"WWW-Authenticate": 'Bearer realm="api"'})
    api_key = api_key_resolve_cached(raw_key=raw_key)
    if api_key is None:
        return error_response(401, "unauthenticated", "The API key is unknown or revoked.",
                              headers={"WWW-Authenticate": 'Bearer realm="api"'})
    if api_key.is_expired():
        return error_response(401, "unauthenticated", f"The API key expired at {api_key.expires_at.isoformat()}.",
                              details={"reason": "expired", "expired_at": api_key.expires_at.isoformat()},
                              headers={"WWW-Authenticate": 'Bearer realm="api", error="invalid_token"'})
    ingestion = is_ingestion_path(request.path_info)
    if api_key.kind == ApiKey.Kind.WRITE and not ingestion:
        return error_response(403, "forbidden", "A write key may only send events; use a secret key.")
    # Ingestion views are plain Django views (and the fast path skips DRF): the scope is checked
    # here. The tenant API's DRF views check theirs per view (apps.core.api.HasRequiredScope).
    if ingestion and request.method not in READING_METHODS and not api_key.has_scope(SCOPE_WRITE):
        refusal = InsufficientScope(SCOPE_WRITE, api_key.scopes)
        return error_response(403, refusal.code, refusal.message, refusal.details)
    api_key_mark_used(api_key=api_key)
    request.api_key = api_key
    _enter(request, api_key.tenant, TENANT_API_URLCONF)
    return None


def _enter(request: HttpRequest, tenant, urlconf: str) -> None:  # noqa: ANN001
    request.tenant = tenant
    connection.set_tenant(tenant)
    request.urlconf = urlconf
    set_urlconf(urlconf)

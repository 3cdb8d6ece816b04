"""Reads of tenants and API keys (public schema)."""

from __future__ import annotations

import hashlib
import hmac
import re
import time

from django.conf import settings
from django.db.models import QuerySet

from apps.tenancy.exceptions import TenantNotFound
from apps.tenancy.models import ApiKey, Tenant, UnsubscribeRoute

KEY_PATTERN = re.compile(r"^(wk|sk)_[A-Za-z0-9]{40}$")
PREFIX_LENGTH = 11  # "sk_" and 8 random characters


def api_key_hash(raw_key: str) -> str:
    # Keys carry 238 random bits, so a fast hash is safe: nothing to brute-force.
    return hashlib.sha256(raw_key.encode()).hexdigest()


def api_key_resolve(*, raw_key: str) -> ApiKey | None:
    """The active key matching `raw_key`, with its tenant loaded; None for anything else.

    One indexed read by prefix, then a constant-time comparison of the hash.
    """
    if not KEY_PATTERN.match(raw_key):
        return None
    key = ApiKey.objects.select_related("tenant").filter(prefix=raw_key[:PREFIX_LENGTH]).first()
    if key is None or key.revoked_at is not None:
        return None
    if not hmac.compare_digest(key.key_hash, api_key_hash(raw_key)):
        return None
    return key


# Resolved keys, per process, for API_KEY_CACHE_SECONDS: the ingestion hot path then costs no
# database read for its key. A revocation reaches other processes within that many seconds
# (in this process at once: api_key_revoke forgets the entry).
_resolved: dict[str, tuple[float, ApiKey]] = {}


def api_key_resolve_cached(*, raw_key: str) -> ApiKey | None:
    digest = api_key_hash(raw_key)
    now = time.monotonic()
    hit = _resolved.get(digest)
    if hit is not None and hit[0] > now:
        return hit[1]
    key = api_key_resolve(raw_key=raw_key)
    if key is not None:
        if len(_resolved) > 10_000:
            _resolved.clear()
        _resolved[digest] = (now + settings.API_KEY_CACHE_SECONDS, key)
    else:
        _resolved.pop(digest, None)
    return key


def api_key_cache_forget(*, prefix: str) -> None:
    for digest, (_, key) in list(_resolved.items()):
        if key.prefix == prefix:
            _resolved.pop(digest, None)


def tenant_current() -> Tenant:
    """The tenant of the current schema: the connection's row, or (under a schema_context, which
    holds only the schema's name) the row of that name."""
    from django.db import connection

    tenant = getattr(connection, "tenant", None)
    if isinstance(tenant, Tenant) and tenant.pk:
        return tenant
    return Tenant.objects.get(schema_name=connection.schema_name)


def tenant_list() -> QuerySet[Tenant]:
    return Tenant.objects.exclude(schema_name="public").order_by("slug")


def tenant_get(*, slug: str) -> Tenant:
    tenant = tenant_list().filter(slug=slug).first()
    if tenant is None:
        raise TenantNotFound(f"No tenant {slug!r}.")
    return tenant


def api_key_list(*, tenant: Tenant) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(tenant=tenant).order_by("-created_at", "-id")


def unsubscribe_route_get(*, token_hash: str) -> UnsubscribeRoute | None:
    """The route (with its tenant) of an unsubscribe token's hash, read in the public schema."""
    return UnsubscribeRoute.objects.select_related("tenant").filter(token_hash=token_hash).first()

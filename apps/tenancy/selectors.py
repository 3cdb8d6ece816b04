"""Reads of tenants and API keys (public schema)."""

from __future__ import annotations

import hashlib
import hmac
import re

from django.db.models import QuerySet

from apps.tenancy.exceptions import TenantNotFound
from apps.tenancy.models import ApiKey, Tenant

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


def tenant_list() -> QuerySet[Tenant]:
    return Tenant.objects.exclude(schema_name="public").order_by("slug")


def tenant_get(*, slug: str) -> Tenant:
    tenant = tenant_list().filter(slug=slug).first()
    if tenant is None:
        raise TenantNotFound(f"No tenant {slug!r}.")
    return tenant


def api_key_list(*, tenant: Tenant) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(tenant=tenant).order_by("-created_at", "-id")

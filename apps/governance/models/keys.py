"""The tenant console's view of its own API keys."""

from __future__ import annotations

from apps.tenancy.models import ApiKey


class TenantApiKey(ApiKey):
    """ApiKey (public schema) as the tenant console shows it: a proxy, no table of its own. Every
    read through the console filters on the request's tenant (apps.governance.admin)."""

    class Meta:
        proxy = True
        verbose_name = "API key"
        verbose_name_plural = "API keys"
        ordering = ["-created_at", "-id"]

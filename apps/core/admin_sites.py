"""Two admin sites, never one: the public console (platform staff: tenants, domains, keys) and each
tenant's console at <slug>.<BASE_DOMAIN> (that tenant's staff and objects). Sharing Django's
default site would show public models such as Tenant inside every tenant's console."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User
from django.http import HttpRequest


class PublicAdminSite(admin.AdminSite):
    site_header = "Analytics platform"
    site_title = "Analytics platform"
    index_title = "Platform administration"

    def has_permission(self, request: HttpRequest) -> bool:
        return getattr(request, "tenant", None) is None and super().has_permission(request)


class TenantAdminSite(admin.AdminSite):
    site_title = "Analytics console"
    index_title = "Console"

    def has_permission(self, request: HttpRequest) -> bool:
        return getattr(request, "tenant", None) is not None and super().has_permission(request)

    def each_context(self, request: HttpRequest) -> dict:
        context = super().each_context(request)
        tenant = getattr(request, "tenant", None)
        context["site_header"] = f"{tenant.name} — analytics console" if tenant else "Analytics console"
        return context


public_admin_site = PublicAdminSite(name="public_admin")
tenant_admin_site = TenantAdminSite(name="tenant_admin")

for site in (public_admin_site, tenant_admin_site):
    site.register(User, UserAdmin)
    site.register(Group, GroupAdmin)

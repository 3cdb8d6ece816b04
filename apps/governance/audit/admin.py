"""The audit log page of the tenant console: read-only, for whoever holds `governance.view_auditentry`
(the admin role: apps.governance.roles gives governance permissions to admins only)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from apps.core.admin_sites import tenant_admin_site
from apps.governance.models import AuditEntry


@admin.register(AuditEntry, site=tenant_admin_site)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "actor", "action", "object_type", "object_id", "object_repr", "source_address"]
    list_filter = ["action", "actor_type", "object_type", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["actor", "object_id", "object_repr"]
    date_hierarchy = None
    ordering = ["-id"]
    readonly_fields = ["created_at", "actor", "actor_type", "action", "object_type", "object_id", "object_repr",
                       "changes", "source_address"]
    fields = readonly_fields
    list_per_page = 100
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

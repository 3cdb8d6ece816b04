"""The public console's tenant, domain and key pages. Creating a tenant or a key goes through the
services, so the admin provisions exactly what the API and the commands provision; a new key's
secret is shown once, in the confirmation message."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from apps.core.admin_sites import public_admin_site
from apps.tenancy.models import ApiKey, Domain, Tenant
from apps.tenancy.services import api_key_create, api_key_revoke, tenant_create


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0


class ApiKeyInline(admin.TabularInline):
    model = ApiKey
    extra = 0
    fields = ("prefix", "kind", "name", "created_at", "last_used_at", "revoked_at")
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Tenant | None = None) -> bool:
        return False


@admin.register(Tenant, site=public_admin_site)
class TenantAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "timezone", "retention_days", "monthly_event_quota", "created_at")
    search_fields = ("slug", "name")
    readonly_fields = ("schema_name", "created_at")
    inlines = [DomainInline, ApiKeyInline]

    def get_fields(self, request: HttpRequest, obj: Tenant | None = None) -> list[str]:
        fields = ["slug", "name", "timezone", "retention_days", "monthly_event_quota"]
        # The session gap is a setting of an existing tenant (a new one starts with the default, 30).
        return fields + ["session_gap_minutes", "schema_name", "created_at"] if obj else fields

    def get_readonly_fields(self, request: HttpRequest, obj: Tenant | None = None) -> tuple[str, ...]:
        return (*self.readonly_fields, "slug") if obj else ()

    def get_inlines(self, request: HttpRequest, obj: Tenant | None) -> list:
        return self.inlines if obj else []

    def save_model(self, request: HttpRequest, obj: Tenant, form, change: bool) -> None:  # noqa: ANN001
        if change:
            obj.save()
            return
        created = tenant_create(
            slug=obj.slug, name=obj.name, timezone=obj.timezone, retention_days=obj.retention_days,
            monthly_event_quota=obj.monthly_event_quota,
        )
        obj.pk = created.tenant.pk
        obj.schema_name = created.tenant.schema_name
        self.message_user(
            request,
            f"Tenant {obj.slug} created. Copy its keys now, they are not shown again: "
            f"write key {created.write_key.raw}   secret key {created.secret_key.raw}",
            messages.WARNING,
        )

    def has_delete_permission(self, request: HttpRequest, obj: Tenant | None = None) -> bool:
        return False


@admin.register(Domain, site=public_admin_site)
class DomainAdmin(admin.ModelAdmin):
    list_display = ("domain", "tenant", "is_primary")
    search_fields = ("domain", "tenant__slug")
    list_select_related = ("tenant",)


@admin.register(ApiKey, site=public_admin_site)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("prefix", "tenant", "kind", "name", "scopes", "created_at", "expires_at", "last_used_at",
                    "revoked_at")
    list_filter = ("kind",)
    search_fields = ("prefix", "name", "tenant__slug")
    list_select_related = ("tenant",)
    actions = ["revoke"]

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> tuple[str, ...]:
        if obj is None:
            return ("tenant", "kind", "name")
        return ("tenant", "kind", "name", "prefix", "scopes", "created_at", "expires_at", "last_used_at", "revoked_at")

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> tuple[str, ...]:
        if obj is None:
            return ()
        return ("tenant", "kind", "prefix", "scopes", "created_at", "expires_at", "last_used_at", "revoked_at")

    def save_model(self, request: HttpRequest, obj: ApiKey, form, change: bool) -> None:  # noqa: ANN001
        if change:
            obj.save(update_fields=["name"])
            return
        issued = api_key_create(tenant=obj.tenant, kind=obj.kind, name=obj.name)
        obj.pk = issued.api_key.pk
        self.message_user(
            request, f"Key created. Copy it now, it is not shown again: {issued.raw}", messages.WARNING
        )

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for key in queryset.filter(revoked_at__isnull=True):
            api_key_revoke(prefix=key.prefix)
        self.message_user(request, f"Revoked at {timezone.now():%Y-%m-%d %H:%M:%S} UTC.")

    def has_delete_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        return False

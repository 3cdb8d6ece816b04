"""The tenant console's API keys page (registered by GovernanceConfig.ready()).

API keys (`/admin/governance/tenantapikey/`): the tenant's own keys only (ApiKey lives in the public
schema; every read here filters on the request's tenant), issued with scopes and an expiry (the
full key is shown once), renamed and revoked. Tenant admins only (apps.governance.roles): anyone else gets 403.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from apps.core.admin_sites import tenant_admin_site
from apps.core.exceptions import DomainError
from apps.core.scopes import SCOPES
from apps.governance.models import TenantApiKey
from apps.governance.roles import user_is_tenant_admin
from apps.tenancy.services import api_key_create, api_key_rename, api_key_revoke, api_key_scopes_clean


class KeyIssueForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=[(s, s) for s in SCOPES], widget=forms.CheckboxSelectMultiple, required=False,
        help_text="read: GET and queries; write: every other change and sending events; admin: governance. "
                  "None ticked: every scope for a secret key, write for a write key (its only scope).")
    expires_at = forms.DateTimeField(required=False, help_text="Optional, UTC (YYYY-MM-DD HH:MM). Empty: never.")

    class Meta:
        model = TenantApiKey
        fields = ["kind", "name"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        kind = data.get("kind")
        if kind:
            try:
                data["scopes"] = api_key_scopes_clean(kind=kind, scopes=data.get("scopes") or None)
            except DomainError as exc:
                self.add_error("scopes", exc.message)
        expires_at = data.get("expires_at")
        if expires_at is not None and expires_at <= timezone.now():
            self.add_error("expires_at", "Must be in the future.")
        return data


class KeyRenameForm(forms.ModelForm):
    name = forms.CharField(max_length=100, help_text="What the key is for. Its kind, scopes and expiry are fixed.")

    class Meta:
        model = TenantApiKey
        fields = ["name"]


@admin.register(TenantApiKey, site=tenant_admin_site)
class TenantApiKeyAdmin(admin.ModelAdmin):
    list_display = ("prefix", "kind", "name", "scope_list", "created_at", "last_used_at", "expires_at", "revoked_at")
    list_filter = ("kind",)
    search_fields = ("prefix", "name")
    actions = ["revoke"]
    form = KeyIssueForm

    # --- who: tenant admins, for their own tenant's keys ---------------------------------------

    def get_queryset(self, request: HttpRequest) -> QuerySet[TenantApiKey]:
        tenant = getattr(request, "tenant", None)
        if tenant is None:  # fails closed: never "all tenants"
            return TenantApiKey.objects.none()
        return super().get_queryset(request).filter(tenant=tenant)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return user_is_tenant_admin(request.user)

    def has_view_permission(self, request: HttpRequest, obj: TenantApiKey | None = None) -> bool:
        return user_is_tenant_admin(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return user_is_tenant_admin(request.user)

    def has_change_permission(self, request: HttpRequest, obj: TenantApiKey | None = None) -> bool:
        return user_is_tenant_admin(request.user)  # its name only: kind, scopes and expiry are fixed

    def has_delete_permission(self, request: HttpRequest, obj: TenantApiKey | None = None) -> bool:
        return False  # revoked keys stay listed

    # --- pages ---------------------------------------------------------------------------------

    @admin.display(description="scopes")
    def scope_list(self, key: TenantApiKey) -> str:
        return ", ".join(key.scopes)

    def get_fields(self, request: HttpRequest, obj: TenantApiKey | None = None) -> list[str]:
        if obj is None:
            return ["kind", "name", "scopes", "expires_at"]
        return ["prefix", "kind", "name", "scope_list", "created_at", "last_used_at", "expires_at", "revoked_at"]

    def get_form(self, request: HttpRequest, obj: TenantApiKey | None = None, change: bool = False,
                 **kwargs: Any) -> type[forms.ModelForm]:
        if obj is None:
            # Only the model's editable fields here; scopes and expiry are the form's own fields
            # (on the model they are not editable: fixed at issue).
            kwargs["fields"] = ["kind", "name"]
        else:
            kwargs["form"] = KeyRenameForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: TenantApiKey | None = None) -> list[str]:
        return [] if obj is None else [f for f in self.get_fields(request, obj) if f != "name"]

    def save_model(self, request: HttpRequest, obj: TenantApiKey, form: forms.ModelForm, change: bool) -> None:
        if change:
            api_key_rename(prefix=obj.prefix, tenant=request.tenant, name=form.cleaned_data["name"])
            return
        issued = api_key_create(tenant=request.tenant, kind=form.cleaned_data["kind"],
                                name=form.cleaned_data.get("name") or "", scopes=form.cleaned_data["scopes"],
                                expires_at=form.cleaned_data.get("expires_at"))
        obj.pk = issued.api_key.pk
        self.message_user(request, f"Key {issued.api_key.prefix}… issued ({', '.join(issued.api_key.scopes)}). "
                                   f"Copy it now, it is not shown again: {issued.raw}", messages.WARNING)

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[TenantApiKey]) -> None:
        prefixes = list(queryset.filter(revoked_at__isnull=True).values_list("prefix", flat=True))
        for prefix in prefixes:
            # The tenant again in the service: a tampered selection never reaches another tenant's key.
            api_key_revoke(prefix=prefix, tenant=request.tenant)
        self.message_user(request, f"Revoked {len(prefixes)} key(s) at {timezone.now():%Y-%m-%d %H:%M:%S} UTC.")


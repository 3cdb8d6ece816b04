"""The tenant console's tracking plan: the plan's mode, the planned events with their properties
(edited by those holding the governance permissions: the admin role; others read), and the
violations (counts and samples, read-only)."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import connection
from django.http import HttpRequest

from apps.core.admin_sites import ReadOnly, tenant_admin_site
from apps.core.exceptions import DomainError
from apps.governance.models import (
    EventDefinition,
    PropertyDefinition,
    TrackingPlan,
    TrackingViolationCount,
    TrackingViolationSample,
)
from apps.governance.tracking import services
from apps.governance.tracking.plan import PLAN_SINGLETON
from apps.governance.tracking.violations import violations_flush


@admin.register(TrackingPlan, site=tenant_admin_site)
class TrackingPlanAdmin(admin.ModelAdmin):
    list_display = ("__str__", "mode", "enabled", "flag_unplanned_properties", "version", "updated_at")
    fields = ("mode", "enabled", "flag_unplanned_properties", "version", "updated_at")
    readonly_fields = ("version", "updated_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and not TrackingPlan.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:  # noqa: ANN001
        return False

    def save_model(self, request: HttpRequest, obj: TrackingPlan, form: forms.ModelForm, change: bool) -> None:
        obj.pk = PLAN_SINGLETON
        super().save_model(request, obj, form, change)


class PropertyDefinitionForm(forms.ModelForm):
    class Meta:
        model = PropertyDefinition
        fields = ["name", "type", "required", "allowed_values", "description"]

    def clean(self) -> dict:
        data = super().clean()
        if data.get("name") and data.get("type"):
            try:
                services.property_check(data)
            except DomainError as exc:
                raise ValidationError(exc.message) from None
        return data


class PropertyDefinitionInline(admin.TabularInline):
    model = PropertyDefinition
    form = PropertyDefinitionForm
    extra = 1


@admin.register(EventDefinition, site=tenant_admin_site)
class EventDefinitionAdmin(admin.ModelAdmin):
    list_display = ("name", "description", "updated_at")
    search_fields = ("name",)
    inlines = [PropertyDefinitionInline]

    def save_model(self, request: HttpRequest, obj: EventDefinition, form: forms.ModelForm, change: bool) -> None:
        services.tracking_plan_ensure()
        super().save_model(request, obj, form, change)


class FlushedFirst(ReadOnly):
    """Pending counts and samples (Redis) are written before the list is read."""

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):  # noqa: ANN201
        violations_flush(schema_name=connection.schema_name)
        return super().changelist_view(request, extra_context)


@admin.register(TrackingViolationCount, site=tenant_admin_site)
class TrackingViolationCountAdmin(FlushedFirst):
    list_display = ("day", "event", "kind", "count")
    list_filter = ("kind", "day")
    search_fields = ("event",)
    date_hierarchy = "day"


@admin.register(TrackingViolationSample, site=tenant_admin_site)
class TrackingViolationSampleAdmin(FlushedFirst):
    list_display = ("received_at", "event", "kind", "message")
    list_filter = ("kind",)
    search_fields = ("event",)
    readonly_fields = ("event", "kind", "message", "received_at", "payload")

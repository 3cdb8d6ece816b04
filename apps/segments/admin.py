"""The tenant console's segments: definitions (rules edited as JSON, through the same checks as
the API), a "refresh now" action, and the size history."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from apps.core.admin_sites import tenant_admin_site
from apps.core.exceptions import DomainError
from apps.segments import rules as tree
from apps.segments import services
from apps.segments.models import Segment, SegmentSize


class SegmentForm(forms.ModelForm):
    class Meta:
        model = Segment
        fields = ["name", "display_name", "description", "rules"]

    def clean(self) -> dict:
        data = super().clean()
        try:
            services.check_name(data.get("name"))
            data["rules"], self.instance.next_rule_id = tree.tree_check(
                data.get("rules") or None, next_id=self.instance.next_rule_id or 1)
        except DomainError as exc:
            raise ValidationError(exc.message) from None
        return data


class SegmentSizeInline(admin.TabularInline):
    model = SegmentSize
    fields = ("computed_at", "size", "duration_ms")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ("-computed_at",)

    def get_queryset(self, request: HttpRequest):  # noqa: ANN201
        return super().get_queryset(request).order_by("-computed_at")


@admin.register(Segment, site=tenant_admin_site)
class SegmentAdmin(admin.ModelAdmin):
    form = SegmentForm
    list_display = ("name", "display_name", "size", "refreshed_at", "refresh_error")
    search_fields = ("name", "display_name")
    readonly_fields = ("size", "refreshed_at", "refresh_error")
    inlines = [SegmentSizeInline]
    actions = ["refresh_now"]

    def save_model(self, request: HttpRequest, obj: Segment, form: forms.ModelForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        services.segment_refresh_after_change(obj)

    @admin.action(description="Refresh now", permissions=["change"])
    def refresh_now(self, request: HttpRequest, queryset) -> None:  # noqa: ANN001
        for segment in queryset:
            try:
                size = services.segment_refresh(segment_id=segment.pk)
                self.message_user(request, f"{segment.name}: {size} members.")
            except services.RefreshTimedOut as exc:
                self.message_user(request, f"{segment.name}: {exc}", level=messages.ERROR)

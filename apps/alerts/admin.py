"""The tenant console's alerts: rules (checked like the API) with their state, last value and last
check; their firings inline and in their own read-only list, each with its deliveries; a "send a
test notification" action."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db import connection
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from apps.alerts import services
from apps.alerts.models import AlertDelivery, AlertFiring, AlertRule
from apps.core.admin_sites import tenant_admin_site
from apps.core.exceptions import DomainError


class AlertRuleForm(forms.ModelForm):
    class Meta:
        model = AlertRule
        fields = ["name", "display_name", "enabled", "query", "condition", "threshold", "method", "period",
                  "cooldown", "channels"]
        help_texts = {"period": 'How far back a check looks, e.g. "1h" (units s, m, h, d, w).',
                      "cooldown": "Seconds after a notified breach during which a new breach is not notified.",
                      "channels": '[{"type": "email", "address": "..."}, {"type": "webhook", "url": "https://..."}]',
                      "threshold": "anomaly: the z-score (3) or IQR multiplier (1.5) when left as is."}

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        if "threshold" in self.fields:  # a viewer's form is read-only, without fields
            self.fields["threshold"].required = False

    def _post_clean(self) -> None:
        super()._post_clean()
        try:
            services.rule_check(self.instance, connection.tenant)
        except DomainError as exc:
            self.add_error(None, exc.message)


class FiringInline(admin.TabularInline):
    model = AlertFiring
    fields = ("link", "kind", "value", "threshold", "lower", "upper", "notified", "fired_at", "message")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True

    def get_queryset(self, request: HttpRequest):  # noqa: ANN201
        return super().get_queryset(request).order_by("-fired_at", "-id")

    @admin.display(description="firing")
    def link(self, firing: AlertFiring) -> str:
        return format_html('<a href="{}">#{}</a>', reverse("tenant_admin:alerts_alertfiring_change",
                                                            args=[firing.pk]), firing.pk)


@admin.register(AlertRule, site=tenant_admin_site)
class AlertRuleAdmin(admin.ModelAdmin):
    form = AlertRuleForm
    list_display = ("name", "display_name", "condition", "period", "state", "last_value", "last_checked_at",
                    "enabled")
    list_filter = ("state", "condition", "enabled")
    search_fields = ("name", "display_name")
    readonly_fields = ("state", "last_value", "last_checked_at", "last_error", "breach_since", "last_notified_at")
    fieldsets = [
        (None, {"fields": ["name", "display_name", "enabled", "query", "condition", "threshold", "method", "period",
                           "cooldown", "channels"]}),
        ("State", {"fields": ["state", "last_value", "last_checked_at", "last_error", "breach_since",
                              "last_notified_at"]}),
    ]
    inlines = [FiringInline]
    actions = ["send_test"]

    def save_model(self, request: HttpRequest, obj: AlertRule, form: forms.ModelForm, change: bool) -> None:
        fields = {field: getattr(obj, field) for field in services.RULE_FIELDS}
        if change:
            services.rule_update(rule=AlertRule.objects.get(pk=obj.pk), tenant=connection.tenant, changes=fields)
        else:
            obj.pk = services.rule_create(tenant=connection.tenant, **fields).pk

    @admin.action(description="Send a test notification", permissions=["change"])
    def send_test(self, request: HttpRequest, queryset) -> None:  # noqa: ANN001
        for rule in queryset:
            firing = services.rule_test(rule=rule)
            self.message_user(request, f"{rule.name}: test notification #{firing.pk} queued.")


class DeliveryInline(admin.TabularInline):
    model = AlertDelivery
    fields = ("channel", "channel_type", "target", "status", "attempts", "delivered_at", "response_status",
              "last_error")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False


@admin.register(AlertFiring, site=tenant_admin_site)
class AlertFiringAdmin(admin.ModelAdmin):
    list_display = ("id", "rule", "kind", "value", "notified", "fired_at")
    list_filter = ("kind", "notified")
    search_fields = ("rule__name",)
    fields = ("rule", "kind", "value", "threshold", "lower", "upper", "notified", "fired_at", "message")
    readonly_fields = fields
    inlines = [DeliveryInline]

    def get_queryset(self, request: HttpRequest):  # noqa: ANN201
        return super().get_queryset(request).select_related("rule")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AlertFiring | None = None) -> bool:
        return False

"""The tenant console's reports: definition and schedule (checked like the API), subscriptions
inline, "send now" and "generate now" actions, and the runs with their deliveries."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db import connection
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from apps.core.admin_sites import tenant_admin_site
from apps.core.exceptions import DomainError
from apps.reports import services
from apps.reports.selectors import RENDITIONS
from apps.reports.models import Delivery, Report, ReportRun, Subscription


class ReportForm(forms.ModelForm):
    class Meta:
        model = Report
        exclude = ["next_run_at"]

    def _post_clean(self) -> None:
        super()._post_clean()
        try:
            services.report_check(self.instance, connection.tenant)
        except DomainError as exc:
            self.add_error(None, exc.message)


class SubscriptionInline(admin.TabularInline):
    model = Subscription
    fields = ("email", "user_id", "created_at", "unsubscribed_at")
    readonly_fields = ("created_at",)
    extra = 1


class RunInline(admin.TabularInline):
    model = ReportRun
    fields = ("link", "scheduled_for", "status", "attempts", "started_at", "finished_at", "error")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True

    def get_queryset(self, request: HttpRequest):  # noqa: ANN201
        return super().get_queryset(request).defer(*RENDITIONS)

    @admin.display(description="run")
    def link(self, run: ReportRun) -> str:
        return format_html('<a href="{}">#{}</a>', reverse("tenant_admin:reports_reportrun_change", args=[run.pk]),
                           run.pk)


@admin.register(Report, site=tenant_admin_site)
class ReportAdmin(admin.ModelAdmin):
    form = ReportForm
    list_display = ("name", "display_name", "report_type", "schedule", "next_run_at", "enabled")
    list_filter = ("report_type", "frequency", "enabled")
    search_fields = ("name", "display_name", "owner")
    readonly_fields = ("schedule", "next_run_at")
    fieldsets = [
        (None, {"fields": ["name", "display_name", "description", "owner", "report_type", "dashboard",
                           "query_config", "time_range", "formats"]}),
        ("Schedule", {"fields": ["enabled", "frequency", "hour", "minute", "weekday", "day_of_month", "cron",
                                 "timezone", "schedule", "next_run_at"],
                      "description": "Local wall-clock time in the time zone; weekday 0 is Monday."}),
    ]
    inlines = [SubscriptionInline, RunInline]
    actions = ["send_now", "generate_now"]

    @admin.display(description="schedule")
    def schedule(self, report: Report) -> str:
        schedule = services.report_schedule(report)
        return schedule.describe() if schedule else "not scheduled"

    def save_model(self, request: HttpRequest, obj: Report, form: forms.ModelForm, change: bool) -> None:
        services.report_update(report=obj, tenant=connection.tenant, changes={})

    @admin.action(description="Send now to the subscribers", permissions=["change"])
    def send_now(self, request: HttpRequest, queryset) -> None:  # noqa: ANN001
        for report in queryset:
            run = services.run_now(report=report, send=True)
            self.message_user(request, f"{report.name}: run #{run.pk} queued, to be sent.")

    @admin.action(description="Generate now (no email)", permissions=["change"])
    def generate_now(self, request: HttpRequest, queryset) -> None:  # noqa: ANN001
        for report in queryset:
            run = services.run_now(report=report, send=False)
            self.message_user(request, f"{report.name}: run #{run.pk} queued.")


class DeliveryInline(admin.TabularInline):
    model = Delivery
    fields = ("email", "status", "sent_at", "message_id", "error")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False


@admin.register(ReportRun, site=tenant_admin_site)
class ReportRunAdmin(admin.ModelAdmin):
    list_display = ("id", "report", "scheduled_for", "status", "attempts", "created_at", "finished_at")
    list_filter = ("status",)
    search_fields = ("report__name",)
    fields = ("report", "scheduled_for", "send", "status", "attempts", "created_at", "started_at", "finished_at",
              "period_start", "period_end", "subject", "error")
    readonly_fields = fields
    inlines = [DeliveryInline]

    def get_queryset(self, request: HttpRequest):  # noqa: ANN201
        return super().get_queryset(request).select_related("report").defer(*RENDITIONS)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ReportRun | None = None) -> bool:
        return False

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.reports.models import Delivery, Report, ReportRun, Subscription

FORMATS_HELP = ("Distinct values among html, csv, xlsx, png, svg, pdf: png and svg attach each chart as an "
                "image, pdf the whole report.")

# What a run can be downloaded as: png and svg are ZIPs of one image per chart.
DOWNLOADS = ["html", "csv", "xlsx", "png", "svg", "pdf"]


class SubscriptionOutput(serializers.ModelSerializer):
    class Meta:
        model = Subscription
        fields = ["id", "email", "user_id", "created_at", "unsubscribed_at"]


class ReportOutput(serializers.ModelSerializer):
    subscriptions = serializers.SerializerMethodField()
    schedule = serializers.SerializerMethodField()

    class Meta:
        model = Report
        fields = ["id", "name", "display_name", "description", "report_type", "dashboard", "query_config",
                  "time_range", "formats", "frequency", "hour", "minute", "weekday", "day_of_month", "cron",
                  "timezone", "enabled", "schedule", "next_run_at", "owner", "subscriptions", "created_at",
                  "updated_at"]

    def get_subscriptions(self, report: Report) -> list[dict[str, Any]]:
        active = [s for s in report.subscriptions.all() if s.unsubscribed_at is None]
        return SubscriptionOutput(active, many=True).data

    def get_schedule(self, report: Report) -> str | None:
        from apps.reports.services import report_schedule

        schedule = report_schedule(report)
        return schedule.describe() if schedule else None


class ReportPatch(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    display_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    report_type = serializers.CharField(max_length=20, required=False)
    dashboard = serializers.IntegerField(required=False, allow_null=True, source="dashboard_id")
    query_config = serializers.JSONField(required=False)
    time_range = serializers.CharField(max_length=20, required=False)
    formats = serializers.JSONField(required=False, help_text=FORMATS_HELP)
    frequency = serializers.CharField(max_length=10, required=False, allow_blank=True)
    hour = serializers.IntegerField(required=False, min_value=0, max_value=23)
    minute = serializers.IntegerField(required=False, min_value=0, max_value=59)
    weekday = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=6)
    day_of_month = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=31)
    cron = serializers.CharField(max_length=100, required=False, allow_blank=True)
    timezone = serializers.CharField(max_length=64, required=False)
    enabled = serializers.BooleanField(required=False)
    owner = serializers.CharField(max_length=200, required=False, allow_blank=True)


class ReportInput(ReportPatch):
    name = serializers.CharField(max_length=100)
    report_type = serializers.CharField(max_length=20)
    formats = serializers.JSONField(required=False, default=["html", "csv"], help_text=FORMATS_HELP)


class SubscriptionInput(serializers.Serializer):
    email = serializers.CharField(max_length=254)
    user_id = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class SubscriptionDelete(serializers.Serializer):
    email = serializers.CharField(max_length=254)


class RunInput(serializers.Serializer):
    send = serializers.BooleanField(required=False, default=False)


class DeliveryOutput(serializers.ModelSerializer):
    class Meta:
        model = Delivery
        fields = ["email", "status", "sent_at", "error"]


class RunOutput(serializers.ModelSerializer):
    recipients = DeliveryOutput(many=True, read_only=True, source="deliveries")
    formats = serializers.SerializerMethodField()

    class Meta:
        model = ReportRun
        fields = ["id", "report", "scheduled_for", "send", "status", "attempts", "created_at", "started_at",
                  "finished_at", "error", "period_start", "period_end", "subject", "formats", "recipients"]

    def get_formats(self, run: ReportRun) -> list[str]:
        """The formats ready for download."""
        return [name for name in DOWNLOADS if getattr(run, f"ready_{name}")]


class DownloadParams(serializers.Serializer):
    format = serializers.ChoiceField(choices=DOWNLOADS)

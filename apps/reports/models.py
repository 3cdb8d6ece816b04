"""Reports (DESIGN §9): what to send (a dashboard, widgets or query specs over a time range), when
(a schedule in a time zone), to whom (subscriptions), and every run with its deliveries.

Exactly-once delivery rests on two constraints, not on timing: one run per (report, scheduled_for),
and one delivery per (run, email); a delivery marked `sent` is never sent again.
"""

from __future__ import annotations

import secrets

from django.db import models


def unsubscribe_nonce() -> str:
    return secrets.token_urlsafe(32)


class Report(models.Model):
    class Type(models.TextChoices):
        DASHBOARD = "dashboard"
        WIDGETS = "widgets"
        QUERIES = "queries"

    class TimeRange(models.TextChoices):
        DAY = "1d"
        WEEK = "7d"
        MONTH = "30d"
        LAST_WEEK = "last_week"
        LAST_MONTH = "last_month"

    class Frequency(models.TextChoices):
        NONE = "", "not scheduled"
        DAILY = "daily"
        WEEKLY = "weekly"
        MONTHLY = "monthly"
        CRON = "cron"

    name = models.CharField(max_length=100, unique=True)
    display_name = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    report_type = models.CharField(max_length=20, choices=Type.choices)
    dashboard = models.ForeignKey("dashboards.Dashboard", null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="reports")
    # widgets: {"widgets": [ids]}; queries: {"queries": [{"name", "title", "chart", "query"}]}.
    query_config = models.JSONField(default=dict, blank=True)
    time_range = models.CharField(max_length=20, choices=TimeRange.choices, default=TimeRange.WEEK)
    formats = models.JSONField(default=list)
    # The schedule: local wall-clock time in `timezone`; see apps/reports/schedules.py.
    frequency = models.CharField(max_length=10, choices=Frequency.choices, blank=True, default="")
    hour = models.SmallIntegerField(default=9)
    minute = models.SmallIntegerField(default=0)
    weekday = models.SmallIntegerField(null=True, blank=True)
    day_of_month = models.SmallIntegerField(null=True, blank=True)
    cron = models.CharField(max_length=100, blank=True)
    timezone = models.CharField(max_length=64, default="UTC")
    enabled = models.BooleanField(default=True)
    next_run_at = models.DateTimeField(null=True, blank=True, db_index=True)
    owner = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "reports"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.display_name or self.name


class Subscription(models.Model):
    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="subscriptions")
    email = models.EmailField(max_length=254)
    user_id = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    # The secret the unsubscribe link's token is derived from (apps.reports.services.unsubscribe_token):
    # random per subscription, and drawn again when an address subscribes anew, so an old link dies.
    unsubscribe_nonce = models.CharField(max_length=64, default=unsubscribe_nonce, editable=False)

    class Meta:
        db_table = "report_subscriptions"
        ordering = ["email"]
        constraints = [models.UniqueConstraint(fields=["report", "email"], name="subscription_per_email")]

    def __str__(self) -> str:
        return self.email


class ReportRun(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        RETRYING = "retrying"

    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="runs")
    # The schedule's occurrence this run delivers; null for a run started by hand.
    scheduled_for = models.DateTimeField(null=True, blank=True)
    send = models.BooleanField(default=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.SmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    # When the current attempt claimed the run: a `running` run older than the lease is taken over.
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    subject = models.CharField(max_length=300, blank=True)
    html = models.TextField(blank=True)
    text = models.TextField(blank=True)
    csv = models.BinaryField(null=True, blank=True)
    xlsx = models.BinaryField(null=True, blank=True)
    # The charts as a ZIP of one PNG (SVG) per chart, named "<position>-<item>.png"; the report as a PDF.
    png = models.BinaryField(null=True, blank=True)
    svg = models.BinaryField(null=True, blank=True)
    pdf = models.BinaryField(null=True, blank=True)

    class Meta:
        db_table = "report_runs"
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["report", "scheduled_for"], name="run_per_occurrence")]

    def __str__(self) -> str:
        return f"{self.report} @ {self.scheduled_for or self.created_at:%Y-%m-%d %H:%M}"


class Delivery(models.Model):
    class Status(models.TextChoices):
        SENDING = "sending"
        SENT = "sent"
        FAILED = "failed"

    run = models.ForeignKey(ReportRun, on_delete=models.CASCADE, related_name="deliveries")
    email = models.EmailField(max_length=254)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SENDING)
    message_id = models.CharField(max_length=300, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        db_table = "report_deliveries"
        ordering = ["email"]
        constraints = [models.UniqueConstraint(fields=["run", "email"], name="delivery_per_email")]

    def __str__(self) -> str:
        return f"{self.email}: {self.status}"

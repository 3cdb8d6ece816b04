"""`GET /api/v1/status` (secret key, `read` scope): the tenant's operational status (apps.reports.status)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api import TenantApi
from apps.core.scopes import SCOPE_READ
from apps.reports.status import tenant_status


class IngestionStatus(serializers.Serializer):
    last_event_received_at = serializers.DateTimeField(allow_null=True)
    lag_seconds = serializers.FloatField(allow_null=True, help_text="Now minus the newest event's receive time.")
    known = serializers.BooleanField(help_text="False when the store of the receive time (Redis) is unreachable.")


class UsageStatus(serializers.Serializer):
    month = serializers.CharField(help_text="YYYY-MM, UTC")
    events = serializers.IntegerField(allow_null=True, help_text="Counted against the quota; null when Redis "
                                                                 "is unreachable.")
    monthly_event_quota = serializers.IntegerField()


class RollupStatus(serializers.Serializer):
    every_seconds = serializers.FloatField()
    state = serializers.ChoiceField(choices=["pending", "up_to_date"])
    oldest_pending_minute = serializers.DateTimeField(allow_null=True)
    last_run_at = serializers.DateTimeField(allow_null=True, help_text="Not recorded: always null.")


class SegmentRefreshStatus(serializers.Serializer):
    every_seconds = serializers.FloatField()
    segments = serializers.IntegerField()
    never_refreshed = serializers.IntegerField()
    last_run_at = serializers.DateTimeField(allow_null=True)
    stalest_refreshed_at = serializers.DateTimeField(allow_null=True)
    next_due_at = serializers.DateTimeField(allow_null=True)


class ReportRunStatus(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class ReportsStatus(serializers.Serializer):
    scheduled = serializers.IntegerField()
    next_due_at = serializers.DateTimeField(allow_null=True)
    last_run = ReportRunStatus(allow_null=True)
    last_failure_at = serializers.DateTimeField(allow_null=True)


class AlertsStatus(serializers.Serializer):
    every_seconds = serializers.FloatField(help_text="How often beat looks for rules due a check.")
    rules = serializers.IntegerField()
    enabled = serializers.IntegerField()
    firing = serializers.IntegerField(help_text="Rules in breach now.")
    errors = serializers.IntegerField(help_text="Rules whose last check failed.")
    firings = serializers.IntegerField(help_text="Breaches and recoveries recorded.")
    last_check_at = serializers.DateTimeField(allow_null=True)
    last_firing_at = serializers.DateTimeField(allow_null=True)


class JobsStatus(serializers.Serializer):
    metric_rollups = RollupStatus()
    segment_refreshes = SegmentRefreshStatus()
    reports = ReportsStatus()
    alerts = AlertsStatus()


class StatusOutput(serializers.Serializer):
    at = serializers.DateTimeField()
    ingestion = IngestionStatus()
    usage = UsageStatus()
    queue_depth = serializers.IntegerField(allow_null=True, help_text="Tasks waiting for a worker (the whole "
                                                                      "service's queue); null when Redis is "
                                                                      "unreachable.")
    jobs = JobsStatus()


@extend_schema(tags=["status"])
class StatusApi(TenantApi):
    required_scope = SCOPE_READ

    @extend_schema(responses=StatusOutput, summary="The tenant's ingestion lag, usage, queue and scheduled jobs")
    def get(self, request: Request) -> Response:
        return Response(tenant_status(tenant=request.tenant))

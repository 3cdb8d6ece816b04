"""A tenant's operational status (`GET /api/v1/status`): ingestion lag, this month's usage against
its quota, the task queue, and its scheduled jobs. Every figure is a counter or an index-ordered
LIMIT 1 (or a read of a small table): never a scan of the events table.

Here, in reports, because it reads events, metrics, segments, alerts and reports (DESIGN §2's layers).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from django.db import connection
from django.db.models import Count, Max, Min, Q

from apps.alerts.selectors import alerts_summary
from apps.core.redis import get_redis
from apps.events.limits import usage_get
from apps.events.realtime import RealtimeUnavailable, last_received_get
from apps.reports.models import Report, ReportRun
from apps.segments.models import Segment
from apps.tenancy.models import Tenant

METRICS_ROLL_SECONDS = 60.0
SEGMENTS_REFRESH_SECONDS = 900.0
ALERTS_CHECK_SECONDS = 60.0


def _beat_seconds(name: str, default: float) -> float:
    """A job's interval from the beat schedule (the one place it is defined)."""
    from analytics_project.celery import app

    schedule = app.conf.beat_schedule.get(name, {}).get("schedule")
    return float(schedule) if isinstance(schedule, (int, float)) else default


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _queue_depth() -> int | None:
    try:
        return int(get_redis().llen("celery"))  # Celery's default queue, as /health/detailed reads it
    except Exception:  # noqa: BLE001 - Redis down: unknown, the rest of the status still answers
        return None


def _ingestion(tenant: Tenant, now: datetime) -> dict[str, Any]:
    try:
        last = last_received_get(schema=tenant.schema_name)
        known = True
    except RealtimeUnavailable:
        last, known = None, False
    return {
        "last_event_received_at": _iso(last),
        "lag_seconds": None if last is None else round(max((now - last).total_seconds(), 0.0), 3),
        "known": known,
    }


def _metric_rollups(now: datetime) -> dict[str, Any]:
    """Values waiting to be rolled up: the oldest queued minute (metric_dirty's primary key is in
    insertion order, so the first row is the oldest write)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT minute FROM metric_dirty ORDER BY id LIMIT 1")
        row = cursor.fetchone()
    oldest = row[0] if row else None
    return {
        "every_seconds": _beat_seconds("metrics-roll", METRICS_ROLL_SECONDS),
        "state": "pending" if oldest else "up_to_date",
        "oldest_pending_minute": _iso(oldest),
        "last_run_at": None,  # the roll-up does not record its runs; `state` says whether work waits
    }


def _segment_refreshes(now: datetime) -> dict[str, Any]:
    every = _beat_seconds("segments-refresh", SEGMENTS_REFRESH_SECONDS)
    figures = Segment.objects.aggregate(
        segments=Count("id"), never=Count("id", filter=Q(refreshed_at__isnull=True)),
        last=Max("refreshed_at"), stalest=Min("refreshed_at"))
    stalest = figures["stalest"]
    next_due = None
    if figures["segments"]:
        next_due = now if figures["never"] or stalest is None else max(stalest + timedelta(seconds=every), now)
    return {
        "every_seconds": every, "segments": figures["segments"], "never_refreshed": figures["never"],
        "last_run_at": _iso(figures["last"]), "stalest_refreshed_at": _iso(stalest),
        "next_due_at": _iso(next_due),
    }


def _reports() -> dict[str, Any]:
    enabled = Report.objects.filter(enabled=True)
    next_due = enabled.filter(next_run_at__isnull=False).order_by("next_run_at").values_list(
        "next_run_at", flat=True).first()
    run = ReportRun.objects.order_by("-id").only("status", "created_at", "started_at", "finished_at").first()
    last_failed = ReportRun.objects.filter(status=ReportRun.Status.FAILED).order_by("-id").values_list(
        "finished_at", flat=True).first()
    return {
        "scheduled": enabled.exclude(next_run_at__isnull=True).count(),
        "next_due_at": _iso(next_due),
        "last_run": None if run is None else {
            "id": run.id, "status": run.status, "created_at": _iso(run.created_at),
            "finished_at": _iso(run.finished_at)},
        "last_failure_at": _iso(last_failed),
    }


def _alerts() -> dict[str, Any]:
    summary = alerts_summary()
    return {"every_seconds": _beat_seconds("alerts-check", ALERTS_CHECK_SECONDS), **summary,
            "last_check_at": _iso(summary["last_check_at"]), "last_firing_at": _iso(summary["last_firing_at"])}


def tenant_status(*, tenant: Tenant) -> dict[str, Any]:
    now = datetime.now(timezone.utc)
    return {
        "at": _iso(now),
        "ingestion": _ingestion(tenant, now),
        "usage": {"month": f"{now:%Y-%m}", "events": usage_get(tenant_id=tenant.id),
                  "monthly_event_quota": tenant.monthly_event_quota},
        "queue_depth": _queue_depth(),
        "jobs": {"metric_rollups": _metric_rollups(now), "segment_refreshes": _segment_refreshes(now),
                 "reports": _reports(), "alerts": _alerts()},
    }

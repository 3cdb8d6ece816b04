from __future__ import annotations

from typing import Any

from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet

from apps.core.names import object_get
from apps.reports.models import Report, ReportRun

RENDITIONS = ("html", "text", "csv", "xlsx", "png", "svg", "pdf")  # a run's heavy columns, loaded when asked


def report_list() -> QuerySet[Report]:
    return Report.objects.prefetch_related("subscriptions")


def report_get(*, report_id: Any) -> Report:
    return object_get(report_list(), report_id, "report")


def _runs() -> QuerySet[ReportRun]:
    """Runs without their renditions, but knowing which are ready."""
    def ready(condition: Q) -> ExpressionWrapper:
        return ExpressionWrapper(condition, output_field=BooleanField())

    return ReportRun.objects.prefetch_related("deliveries").defer(*RENDITIONS).annotate(
        ready_html=ready(~Q(html="")),
        **{f"ready_{name}": ready(Q(**{f"{name}__isnull": False}))
           for name in ("csv", "xlsx", "png", "svg", "pdf")})


def run_list(*, report: Report) -> QuerySet[ReportRun]:
    return _runs().filter(report=report)


def run_get(*, run_id: Any) -> ReportRun:
    return object_get(_runs(), run_id, "report run")

"""Reads of the tracking plan and its violations."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db.models import Max, Min, QuerySet, Sum

from apps.governance.models import EventDefinition, TrackingPlan, TrackingViolationCount, TrackingViolationSample
from apps.governance.tracking.plan import PLAN_SINGLETON


def tracking_plan_get() -> TrackingPlan:
    """The plan's settings (the defaults, unsaved, before anything was set)."""
    return TrackingPlan.objects.filter(pk=PLAN_SINGLETON).first() or TrackingPlan(pk=PLAN_SINGLETON, version=0)


def event_definition_list() -> QuerySet[EventDefinition]:
    return EventDefinition.objects.prefetch_related("properties")


def violation_summary_list(*, date_from: date | None = None, date_to: date | None = None, event: str | None = None,
                           kind: str | None = None) -> QuerySet:
    """Counts per (event, kind) over the days [date_from, date_to), with the first and last day seen."""
    rows = TrackingViolationCount.objects.all()
    if date_from is not None:
        rows = rows.filter(day__gte=date_from)
    if date_to is not None:
        rows = rows.filter(day__lt=date_to)
    if event is not None:
        rows = rows.filter(event=event)
    if kind is not None:
        rows = rows.filter(kind=kind)
    return rows.order_by().values("event", "kind").annotate(count=Sum("count"), first_day=Min("day"),
                                                            last_day=Max("day"))


def violation_samples_for(pairs: list[tuple[str, str]], *, limit: int) -> dict[tuple[str, str], list[Any]]:
    """The newest `limit` samples of each (event, kind), in one query."""
    if not pairs or limit <= 0:
        return {}
    found: dict[tuple[str, str], list[Any]] = {pair: [] for pair in pairs}
    events = sorted({event for event, _ in pairs})
    for sample in TrackingViolationSample.objects.filter(event__in=events).order_by("-received_at", "-id"):
        bucket = found.get((sample.event, sample.kind))
        if bucket is not None and len(bucket) < limit:
            bucket.append(sample)
    return found

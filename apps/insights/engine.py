"""The query engine's entry point: a JSON spec in, the answer of DESIGN §5 out, cached in Redis.

Every consumer (the /api/v1/query endpoint, dashboards, reports, segments) calls `query_run`.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from typing import Any

import msgspec
from django.conf import settings
from django.core.cache import cache
from django.db import OperationalError, connection, transaction
from psycopg.errors import QueryCanceled

from apps.core.exceptions import Unavailable, ValidationFailed
from apps.core.timeranges import TimeRange, range_resolve, zone_get
from apps.events import selectors as event_selectors
from apps.core import throttle
from apps.insights import budget
from apps.insights.queries import funnel, retention, sessions, summary, trends
from apps.insights.sessionize import has_session_filters
from apps.insights.segments import segment_condition, segment_version
from apps.insights.spec import (
    EventsSpec,
    FunnelSpec,
    MetricSpec,
    QuerySpec,
    RetentionSpec,
    SegmentSizeSpec,
    SessionsSpec,
    SummarySpec,
    TrendsSpec,
)

logger = logging.getLogger(__name__)
_encode = msgspec.json.encode
CACHE_VERSION = 1


def spec_parse(data: Any) -> QuerySpec:
    """Strict decoding; the error names the offending field (`$.series[0].math`)."""
    if not isinstance(data, dict):
        raise ValidationFailed("The query must be a JSON object.", details={"$": "not an object"})
    try:
        return msgspec.convert(data, QuerySpec)
    except msgspec.ValidationError as exc:
        message = str(exc)
        path = message.rsplit(" - at `", 1)[1].rstrip("`") if " - at `" in message else "$"
        raise ValidationFailed(f"The query is not valid: {message}", details={path: message}) from None


def query_check(*, data: Any, tenant: Any) -> tuple[QuerySpec, Any]:
    """The spec and its resolved time range, or ValidationFailed naming what is wrong; runs nothing
    (dashboards check their widgets' specs with it when they are saved)."""
    spec = spec_parse(data)
    if spec.segment is not None and isinstance(spec, MetricSpec):
        raise ValidationFailed("The metric kind takes no segment: metric values belong to no person.",
                               details={"segment": spec.segment})
    if isinstance(spec, SegmentSizeSpec) and spec.segment is None:
        raise ValidationFailed("The segment_size kind needs `segment`.", details={"segment": "missing"})
    if spec.filters and isinstance(spec, SegmentSizeSpec):
        raise ValidationFailed("The segment_size kind takes no `filters`.", details={"filters": "unsupported"})
    if spec.filters and isinstance(spec, MetricSpec):
        raise ValidationFailed("The metric kind filters on `dimensions`, not property `filters`.",
                               details={"filters": "unsupported"})
    zone = zone_get(spec.timezone or tenant.timezone)
    time_range = range_resolve(date_from=spec.date_from, date_to=spec.date_to, zone=zone)
    if time_range.end - time_range.start > timedelta(days=settings.QUERY_MAX_RANGE_DAYS):
        raise ValidationFailed(f"The range is longer than {settings.QUERY_MAX_RANGE_DAYS} days.",
                               details={"date_from": spec.date_from, "date_to": spec.date_to})
    return spec, time_range


def query_run(*, data: Any, tenant: Any) -> dict[str, Any]:
    """Run the spec `data` in the current tenant schema (`tenant` is its row: default time zone)."""
    spec, time_range = query_check(data=data, tenant=tenant)
    gap = session_gap(tenant) if uses_sessions(spec) else None
    key = _cache_key(spec, time_range, gap)
    if not spec.refresh and settings.ENABLE_QUERY_CACHE:
        hit = _cache_get(key)
        if hit is not None:
            return {**hit, "cached": True}
    # Only work that reaches PostgreSQL takes a slot: a tenant's cache hits never queue.
    with throttle.slot(key=f"queries:{connection.schema_name}", limit=settings.QUERY_CONCURRENCY_PER_TENANT,
                       lease_seconds=settings.QUERY_TIMEOUT_MS // 1000 + 5, what="queries"):
        answer = _compute(spec, time_range, gap)
    answer["computed_at"] = datetime.now(timezone.utc).isoformat()
    ttl = settings.QUERY_CACHE_TTL_NOW if time_range.touches_now else settings.QUERY_CACHE_TTL_PAST
    if settings.ENABLE_QUERY_CACHE:
        _cache_set(key, answer, ttl)
    return {**answer, "cached": False}


def uses_sessions(spec: QuerySpec) -> bool:
    """Whether the answer depends on how sessions are cut (the tenant's gap)."""
    if isinstance(spec, (SessionsSpec, SummarySpec)):
        return True
    lists = [spec.filters]
    if isinstance(spec, TrendsSpec):
        lists += [series.filters for series in spec.series]
    if isinstance(spec, FunnelSpec):
        lists += [step.filters for step in spec.steps]
    return has_session_filters(*lists)


def session_gap(tenant: Any) -> int:
    """The tenant's session gap, read now (the tenant row a request carries may be seconds old)."""
    from apps.tenancy.models import Tenant

    gap = Tenant.objects.filter(pk=tenant.pk).values_list("session_gap_minutes", flat=True).first()
    return gap if gap is not None else tenant.session_gap_minutes


def _compute(spec: QuerySpec, time_range: Any, gap: int | None = None) -> dict[str, Any]:
    """Runs the kind's queries in one read transaction with the query memory and time limits."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT set_config('work_mem', %s, true), set_config('statement_timeout', %s, true)",
                           [f"{settings.QUERY_WORK_MEM_MB}MB", f"{budget.statement_timeout_ms()}ms"])
            return _answer(spec, time_range, gap)
    except OperationalError as exc:
        if isinstance(exc.__cause__, QueryCanceled):
            raise Unavailable(f"The query ran past its time limit ({settings.QUERY_TIMEOUT_MS} ms a statement, "
                              f"{settings.QUERY_REQUEST_BUDGET_MS} ms a request); narrow the range or the filters.",
                              code="query_timeout") from None
        raise


def _answer(spec: QuerySpec, time_range: Any, gap: int | None) -> dict[str, Any]:
    if isinstance(spec, SessionsSpec):
        return {"kind": "sessions", "interval": spec.interval, "timezone": time_range.zone.key,
                "date_from": time_range.start.isoformat(), "date_to": time_range.end.isoformat(),
                "series": sessions.run(spec, time_range, gap_minutes=gap)}
    if isinstance(spec, TrendsSpec):
        series = trends.run(spec, time_range, gap_minutes=gap)
        return {"kind": "trends", "interval": spec.interval, "timezone": time_range.zone.key,
                "date_from": time_range.start.isoformat(), "date_to": time_range.end.isoformat(),
                "series": [asdict(s) for s in series]}
    if isinstance(spec, FunnelSpec):
        return {"kind": "funnel", "window": spec.window, "timezone": time_range.zone.key,
                "date_from": time_range.start.isoformat(), "date_to": time_range.end.isoformat(),
                "steps": funnel.run(spec, time_range, gap_minutes=gap)}
    if isinstance(spec, RetentionSpec):
        return {"kind": "retention", "period": spec.period, "periods": spec.periods, "timezone": time_range.zone.key,
                "date_from": time_range.start.isoformat(), "date_to": time_range.end.isoformat(),
                "cohorts": retention.run(spec, time_range)}
    if isinstance(spec, MetricSpec):
        from apps.metrics.queries import aggregate
        from apps.metrics.selectors import metric_get

        series, from_rollups = aggregate.run(
            metric=metric_get(name=spec.metric), aggregation=spec.aggregation, granularity=spec.granularity,
            group_by=spec.group_by, limit=spec.limit, time_range=time_range,
            filters={name: value if isinstance(value, list) else [value] for name, value in spec.dimensions.items()},
        )
        return {"kind": "metric", "metric": spec.metric, "aggregation": spec.aggregation,
                "granularity": spec.granularity, "timezone": time_range.zone.key,
                "date_from": time_range.start.isoformat(), "date_to": time_range.end.isoformat(),
                "from_rollups": from_rollups, "series": series}
    if isinstance(spec, SummarySpec):
        return {"kind": "summary", "timezone": time_range.zone.key, "date_from": time_range.start.isoformat(),
                "date_to": time_range.end.isoformat(),
                **summary.run(spec, time_range, sessions=_session_counts(spec, time_range, gap))}
    if isinstance(spec, SegmentSizeSpec):
        from apps.segments.selectors import segment_sizes

        return {"kind": "segment_size", "segment": spec.segment, "interval": spec.interval,
                "timezone": time_range.zone.key, "date_from": time_range.start.isoformat(),
                "date_to": time_range.end.isoformat(), **segment_sizes(key=spec.segment, interval=spec.interval,
                                                                       time_range=time_range)}
    assert isinstance(spec, EventsSpec)
    from apps.events.api.serializers import EventOutput

    events = event_selectors.event_list(event=spec.event, distinct_id=spec.distinct_id,
                                        date_from=time_range.start, date_to=time_range.end)
    if spec.segment is not None:
        condition, params = segment_condition(
            spec.segment, person="COALESCE((SELECT po.person_id FROM person_overrides po "
                                 "WHERE po.old_person_id = events.person_id), events.person_id)")
        events = events.extra(where=[condition], params=params)
    if spec.filters:
        raise ValidationFailed("The events kind takes event, distinct_id and the time range; use "
                               "GET /api/v1/events for property filters.", details={"filters": "unsupported"})
    rows = list(events.order_by("-timestamp", "-id")[: spec.limit])
    return {"kind": "events", "timezone": time_range.zone.key, "date_from": time_range.start.isoformat(),
            "date_to": time_range.end.isoformat(), "results": EventOutput(rows, many=True).data}


def _session_counts(spec: SummarySpec, time_range: TimeRange, gap: int) -> tuple[int, int]:
    """The sessions kind's count over the range and over the previous period (summary step 3),
    with the summary's filters and segment."""
    counted = SessionsSpec(measures=["sessions"], interval="month", filters=spec.filters, segment=spec.segment)
    previous = summary.periods(time_range)
    counts = []
    for start, end in ((previous.start, previous.end), (previous.previous_start, previous.start)):
        series = sessions.run(counted, TimeRange(start=start, end=end, zone=time_range.zone), gap_minutes=gap)
        counts.append(int(series[0]["total"]) if series else 0)
    return counts[0], counts[1]


def _cache_key(spec: QuerySpec, time_range: Any, gap: int | None = None) -> str:
    """The spec plus its resolved range to the minute: a relative range (`-7d`) asked within the
    same minute shares an answer; a minute later it is another question. Answers for ranges that
    reach now live QUERY_CACHE_TTL_NOW seconds, so they are never staler than that. Answers that
    depend on sessions also name the session gap they were cut with."""
    normalized = msgspec.structs.replace(spec, refresh=False)
    minute = "%Y-%m-%dT%H:%M"
    digest = hashlib.sha256(
        _encode(normalized) + time_range.start.strftime(minute).encode() + time_range.end.strftime(minute).encode()
        + time_range.zone.key.encode() + segment_version(spec.segment).encode()
        + (b"" if gap is None else f"|gap={gap}".encode())
    ).hexdigest()
    return f"query:v{CACHE_VERSION}:{connection.schema_name}:{digest}"


def _cache_get(key: str) -> dict[str, Any] | None:
    try:
        return cache.get(key)
    except Exception:  # noqa: BLE001 - a cache outage costs speed, not answers
        logger.warning("query cache unavailable", exc_info=True)
        return None


def _cache_set(key: str, answer: dict[str, Any], ttl: int) -> None:
    try:
        cache.set(key, answer, ttl)
    except Exception:  # noqa: BLE001
        logger.warning("query cache unavailable", exc_info=True)

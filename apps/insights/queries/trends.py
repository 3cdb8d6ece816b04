"""Trends: how often an event happened per time bucket (DESIGN §5).

Semantics, in order:
1. Range: events with date_from <= timestamp < date_to (half-open).
2. Buckets: calendar periods (minute, hour, day, week from Monday, month) in the query's time zone,
   from the one holding date_from to the last one starting before date_to. Every bucket is present.
   An event belongs to the bucket holding its local time (so a DST day has 23 or 25 hours).
3. Persons: an event's person is the person owning its distinct_id after identity merges.
4. Filters: the query's filters and the series' filters, all of them (AND); event filters read the
   event's properties, person filters the person's traits; `segment` keeps the segment's persons;
   session filters keep the events whose session (apps/insights/sessionize.py, cut from the events
   of [date_from, date_to)) has the property asked ($entry_page, $exit_page, $session_duration,
   $event_count, $page_count).
5. Math per bucket: `total` = events; `unique_persons` = distinct persons; `sum|avg|min|max` of a
   numeric property (events whose property is not a JSON number are ignored); `p50|p90|p95|p99` =
   percentile with linear interpolation (percentile_cont). Empty buckets: 0 for total,
   unique_persons and sum; null for the others.
6. `total` of a series: the same math over the whole range (not the sum of the buckets, except for
   total and sum where they agree).
7. Breakdown (optional): by one event property or person trait (its text value; missing = null).
   The `limit` values with the most events in the range (ties: by value, bytewise) each get a series; all the other values
   are merged into one series whose breakdown_value is "$other" (its unique persons and
   percentiles are computed over the merged events, not added up).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection

from apps.core.exceptions import ValidationFailed
from apps.core.timeranges import TimeRange
from apps.core.buckets import bucket_bounds, bucket_starts, timestamps_array
from apps.core.numbers import json_number
from apps.insights import budget
from apps.insights.filters import PERSON, PERSON_JOIN, TRAITS_JOIN, event_match_sql, filters_sql
from apps.insights.segments import segment_condition
from apps.insights.sessionize import session_filter_sql
from apps.insights.spec import PropertyFilter, Series, TrendsSpec

OTHER = "$other"
_AGGREGATE = {
    "total": "count(*)",
    "sum": "coalesce(sum(value), 0)",
    "avg": "avg(value)",
    "min": "min(value)",
    "max": "max(value)",
    "p50": "percentile_cont(0.5) WITHIN GROUP (ORDER BY value)",
    "p90": "percentile_cont(0.9) WITHIN GROUP (ORDER BY value)",
    "p95": "percentile_cont(0.95) WITHIN GROUP (ORDER BY value)",
    "p99": "percentile_cont(0.99) WITHIN GROUP (ORDER BY value)",
}
_ZERO_WHEN_EMPTY = {"total", "unique_persons", "sum"}


@dataclass(frozen=True)
class SeriesResult:
    event: str
    math: str
    breakdown_value: str | None
    buckets: list[str]
    values: list[float | int | None]
    total: float | int | None


def run(spec: TrendsSpec, time_range: TimeRange, *, gap_minutes: int | None = None) -> list[SeriesResult]:
    """`gap_minutes`: the tenant's session gap, for session filters."""
    if spec.breakdown is not None and spec.breakdown.type == "session":
        raise ValidationFailed("A session breakdown is for the sessions kind; trends break down by an event "
                               "property or a person trait.", details={"breakdown.type": "session"})
    starts = bucket_starts(time_range, spec.interval)
    labels = [start.replace(tzinfo=time_range.zone).isoformat() for start in starts]
    results: list[SeriesResult] = []
    for index, series in enumerate(spec.series):
        if series.math not in ("total", "unique_persons") and not series.property:
            raise ValidationFailed(f"math {series.math!r} needs a numeric `property`.",
                                   details={f"series[{index}].property": None})
        results.extend(_series(spec, series, index, time_range, starts, labels, gap_minutes))
    return results


def _series(spec: TrendsSpec, series: Series, index: int, time_range: TimeRange, starts: list[datetime],
            labels: list[str], gap_minutes: int | None) -> list[SeriesResult]:
    filters: list[PropertyFilter] = [*spec.filters, *series.filters]
    where, params, needs_person = filters_sql(filters, "filters", sessions=True)
    # Session filters (rare): the events whose session passes them; absent, the SQL is unchanged.
    session_sql, session_params = session_filter_sql(filters, "filters", start=time_range.start,
                                                     end=time_range.end, gap_minutes=gap_minutes)
    segment_sql, segment_params = segment_condition(spec.segment)
    breakdown = spec.breakdown
    breakdown_column = None
    if breakdown is not None:
        breakdown_column = "e.properties" if breakdown.type == "event" else "p.traits"
        needs_person |= breakdown.type == "person"
    value_sql, value_params = "NULL::double precision", []
    if series.property:
        value_sql = ("CASE WHEN jsonb_typeof(e.properties -> %s) = 'number' "
                     "THEN (e.properties ->> %s)::double precision END")
        value_params = [series.property, series.property]
    breakdown_sql, breakdown_params = "NULL::text", []
    if breakdown_column:
        breakdown_sql, breakdown_params = f"({breakdown_column} ->> %s)", [breakdown.property]
    person_join = TRAITS_JOIN if needs_person else ""
    uses_person = series.math == "unique_persons"
    # Only what the question reads is joined: a plain count never touches persons.
    overrides_join = PERSON_JOIN if uses_person or needs_person or spec.segment is not None else ""
    person_sql = f"{PERSON} AS person_id" if uses_person else "NULL::bigint AS person_id"
    # Buckets from precomputed bounds (a binary search per event, no time zone arithmetic), or
    # from each event's local time when a clock fold makes bounds ambiguous.
    bounds = bucket_bounds(starts, time_range.zone)
    if bounds is not None:
        bucket_sql, bucket_params = 'width_bucket(e."timestamp", %s::timestamptz[])', [timestamps_array(bounds)]
    else:
        bucket_sql, bucket_params = 'date_trunc(%s, e."timestamp" AT TIME ZONE %s)', [spec.interval,
                                                                                  time_range.zone.key]
    match_sql, match_params = event_match_sql(series)
    scoped = f"""
        SELECT {bucket_sql} AS bucket, {person_sql}, {value_sql} AS value, {breakdown_sql} AS breakdown
        FROM events e
        {overrides_join}
        {person_join}
        WHERE {match_sql} AND e."timestamp" >= %s AND e."timestamp" < %s AND {where} AND {segment_sql}
        {"AND " + session_sql if session_sql else ""}
    """
    scoped_params = [*bucket_params, *value_params, *breakdown_params, *match_params,
                     time_range.start, time_range.end, *params, *segment_params, *session_params]

    if breakdown is None:
        sources, source_params, extra = f"g AS (SELECT s.*, NULL::text AS grp FROM ({scoped}) s)", scoped_params, ""
    else:
        # One pass over the events: rank the values, then group by the top ones and "$other".
        order = 'n DESC, breakdown COLLATE "C" NULLS LAST'
        sources = f"""
            s AS MATERIALIZED ({scoped}),
            ranked AS (SELECT breakdown, count(*) AS n FROM s GROUP BY breakdown ORDER BY {order} LIMIT %s),
            top AS (SELECT * FROM ranked ORDER BY {order} LIMIT %s),
            g AS (
                SELECT s.*, CASE WHEN breakdown IS NULL
                                 THEN (CASE WHEN (SELECT bool_or(breakdown IS NULL) FROM top) THEN NULL ELSE %s END)
                                 WHEN breakdown = ANY(ARRAY(SELECT breakdown FROM top)) THEN breakdown ELSE %s END AS grp
                FROM s
            )"""
        source_params = [*scoped_params, breakdown.limit + 1, breakdown.limit, OTHER, OTHER]
        extra = f", (SELECT array_agg(breakdown ORDER BY {order}) FROM top), (SELECT count(*) FROM ranked) > %s"
    if series.math in ("total", "sum"):
        # The whole range's value is the sum of the buckets' (added up below).
        final = f"SELECT grp, bucket, {_AGGREGATE[series.math]}, false {extra} FROM g GROUP BY grp, bucket"
    elif uses_person:
        sources += ", d AS (SELECT DISTINCT grp, bucket, person_id FROM g)"
        final = (f"SELECT grp, bucket, count(*), false {extra} FROM d GROUP BY grp, bucket UNION ALL "
                 f"SELECT grp, NULL, count(*), true {extra} FROM (SELECT DISTINCT grp, person_id FROM d) w "
                 "GROUP BY grp")
    else:
        final = (f"SELECT grp, bucket, {_AGGREGATE[series.math]}, GROUPING(bucket) = 1 {extra} FROM g "
                 "GROUP BY GROUPING SETS ((grp, bucket), (grp))")
    extra_params = [breakdown.limit] if breakdown is not None else []
    with connection.cursor() as cursor:
        budget.apply(cursor)  # a statement per series: each gets only what the request has left
        cursor.execute(f"WITH {sources} {final}",
                       [*source_params, *extra_params, *(extra_params if uses_person else [])])
        rows = cursor.fetchall()

    groups: list[str | None] = [None]
    if breakdown is not None:
        groups = (list(rows[0][4] or []) + ([OTHER] if rows[0][5] else [])) if rows else []
    per_group: dict[str | None, dict[datetime, Any]] = {group: {} for group in groups}
    totals: dict[str | None, Any] = {}
    for group, bucket, value, whole, *_ in rows:
        if whole:
            totals[group] = value
        else:
            per_group.setdefault(group, {})[starts[bucket - 1] if bounds is not None else bucket] = value
    if series.math in ("total", "sum"):
        totals = {group: sum(values.values()) for group, values in per_group.items() if values}
    empty = 0 if series.math in _ZERO_WHEN_EMPTY else None
    return [
        SeriesResult(
            event=series.label, math=series.math, breakdown_value=group, buckets=labels,
            values=[json_number(per_group[group].get(start, empty)) for start in starts],
            total=json_number(totals.get(group, empty)),
        )
        for group in groups
    ]

"""Metric aggregation: a metric's values per time bucket, optionally per dimension group (DESIGN §6).

Semantics, in order:
1. Values: the metric's values with date_from <= timestamp < date_to (half-open) whose dimensions
   match every filter (a dimension equals the value, or one of the listed values; a value without
   the dimension matches nothing).
2. Buckets: calendar periods (minute, hour, day, week from Monday, month) in the query's time zone,
   from the one holding date_from to the last one starting before date_to; every bucket is present.
   A value belongs to the bucket holding its local time.
3. Groups: without `group_by`, one series with group {}. With it, one series per combination of the
   group_by dimensions' values (a missing dimension is null); the `limit` combinations with the
   most values in the range are kept (ties by the combination's JSON text, bytewise), ordered so.
4. Per bucket: count = values; sum; avg; min; max; last = the value with the latest timestamp (ties:
   the last stored); p50/p90/p95/p99 = percentile with linear interpolation; rate (counters only)
   = sum / seconds of the bucket inside [date_from, date_to).
5. Empty buckets: 0 for count, sum and rate (nothing happened); null for the others (there is no
   average, extreme, last value or percentile of nothing).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from django.db import connection

from apps.core.buckets import bucket_bounds, bucket_starts
from apps.core.exceptions import ValidationFailed
from apps.core.numbers import json_number
from apps.core.timeranges import TimeRange
from apps.metrics.models import Metric

ZERO_WHEN_EMPTY = {"count", "sum", "rate"}
_AGGREGATE = {
    "count": "count(*)",
    "sum": "sum(value)",
    "rate": "sum(value)",
    "avg": "avg(value)",
    "min": "min(value)",
    "max": "max(value)",
    "p50": "percentile_cont(0.5) WITHIN GROUP (ORDER BY value)",
    "p90": "percentile_cont(0.9) WITHIN GROUP (ORDER BY value)",
    "p95": "percentile_cont(0.95) WITHIN GROUP (ORDER BY value)",
    "p99": "percentile_cont(0.99) WITHIN GROUP (ORDER BY value)",
}


def _instant(local: datetime, time_range: TimeRange) -> datetime:
    return local.replace(tzinfo=time_range.zone).astimezone(timezone.utc)


def run(*, metric: Metric, aggregation: str, granularity: str, group_by: list[str], filters: dict[str, list[str]],
        limit: int, time_range: TimeRange) -> list[dict[str, Any]]:
    if aggregation == "rate" and metric.metric_type != Metric.Type.COUNTER:
        raise ValidationFailed("`rate` is for counters only.", details={"aggregation": aggregation})
    allowed = set(metric.dimensions)
    for field, names in (("group_by", group_by), ("dimensions", list(filters))):
        unknown = sorted(set(names) - allowed)
        if unknown:
            raise ValidationFailed(f"{unknown} are not dimensions of {metric.name!r}.", details={field: unknown})
    starts = bucket_starts(time_range, granularity)
    labels = [start.replace(tzinfo=time_range.zone).isoformat() for start in starts]
    bounds = bucket_bounds(starts, time_range.zone)
    if bounds is not None:
        bucket_sql, bucket_params = 'width_bucket("timestamp", %s::timestamptz[])', [bounds]
    else:
        bucket_sql, bucket_params = 'date_trunc(%s, "timestamp" AT TIME ZONE %s)', [granularity, time_range.zone.key]
    where, where_params = [], []
    for name, values in sorted(filters.items()):
        where.append("(dimensions ->> %s) = ANY(%s::text[])")
        where_params += [name, values]
    group_sql = "jsonb_build_array(" + ", ".join(["dimensions -> %s"] * len(group_by)) + ")::text"
    base = f"""
        SELECT {group_sql} AS grp, {bucket_sql} AS bucket, value, "timestamp" AS ts, id
        FROM metric_values
        WHERE metric_id = %s AND "timestamp" >= %s AND "timestamp" < %s {"".join(f" AND {w}" for w in where)}
    """
    params = [*group_by, *bucket_params, metric.id, time_range.start, time_range.end, *where_params]
    kept = "true"
    if group_by:
        kept = "grp IN (SELECT grp FROM base GROUP BY grp ORDER BY count(*) DESC, grp COLLATE \"C\" LIMIT %s)"
        params.append(limit)
    if aggregation == "last":
        final = (f"SELECT DISTINCT ON (grp, bucket) grp, bucket, value, count(*) OVER (PARTITION BY grp, bucket) "
                 f"FROM base WHERE {kept} ORDER BY grp, bucket, ts DESC, id DESC")
    else:
        final = (f"SELECT grp, bucket, {_AGGREGATE[aggregation]}, count(*) FROM base WHERE {kept} "
                 "GROUP BY grp, bucket")
    with connection.cursor() as cursor:
        cursor.execute(f"WITH base AS MATERIALIZED ({base}) {final}", params)
        rows = cursor.fetchall()

    per_group: dict[str, dict[datetime, Any]] = {}
    counts: dict[str, int] = {}
    for grp, bucket, value, n in rows:
        per_group.setdefault(grp, {})[starts[bucket - 1] if bounds is not None else bucket] = value
        counts[grp] = counts.get(grp, 0) + n
    if aggregation == "rate":
        ends = [*(_instant(s, time_range) for s in starts[1:]), time_range.end]
        seconds = {start: (min(end, time_range.end) - max(_instant(start, time_range), time_range.start))
                   .total_seconds() for start, end in zip(starts, ends)}
        per_group = {grp: {start: (v / seconds[start] if seconds[start] > 0 else 0.0) for start, v in values.items()}
                     for grp, values in per_group.items()}
    if not group_by:
        per_group.setdefault("[]", {})
    # The kept groups by their number of values, as step 3 says.
    ordered = sorted(per_group, key=lambda g: (-counts.get(g, 0), g.encode()))
    empty = 0 if aggregation in ZERO_WHEN_EMPTY else None
    return [
        {
            "group": dict(zip(group_by, json.loads(grp))),
            "buckets": labels,
            "values": [json_number(per_group[grp].get(start, empty)) for start in starts],
        }
        for grp in ordered
    ]


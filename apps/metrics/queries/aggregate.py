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
   Ranges longer than METRIC_ROLLUP_AFTER_HOURS are answered from rollups (rollup.py) where the
   buckets allow: the coarsest rollup (day, hour, minute in UTC) that divides every bucket start is
   read for the whole buckets inside the range; the partial ones at its ends, and rollup buckets
   with values not yet rolled up, are read raw. count, sum, avg, min, max, last and rate are the
   same either way (sums to rounding); percentiles come from the merged sketches (within 1%).
5. Empty buckets: 0 for count, sum and rate (nothing happened); null for the others (there is no
   average, extreme, last value or percentile of nothing).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import connection

from apps.core.buckets import bucket_bounds, bucket_starts, timestamps_array
from apps.core.exceptions import ValidationFailed
from apps.core.numbers import json_number
from apps.core.timeranges import TimeRange
from apps.metrics.models import Metric
from apps.metrics.queries import rollup
from apps.metrics.states import States, micros

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
        limit: int, time_range: TimeRange) -> tuple[list[dict[str, Any]], bool]:
    """The series, and whether they came from rollups (percentiles then from sketches, within 1%)."""
    if aggregation == "rate" and metric.metric_type != Metric.Type.COUNTER:
        raise ValidationFailed("`rate` is for counters only.", details={"aggregation": aggregation})
    # A metric declared without dimensions takes any (names are checked by the spec's pattern).
    allowed = set(metric.dimensions)
    for field, names in (("group_by", group_by), ("dimensions", list(filters))):
        unknown = sorted(set(names) - allowed) if allowed else []
        if unknown:
            raise ValidationFailed(f"{unknown} are not dimensions of {metric.name!r}.", details={field: unknown})
    starts = bucket_starts(time_range, granularity)
    labels = [start.replace(tzinfo=time_range.zone).isoformat() for start in starts]
    bounds = bucket_bounds(starts, time_range.zone)
    if bounds is not None:
        bucket_sql, bucket_params = 'width_bucket("timestamp", %s::timestamptz[])', [timestamps_array(bounds)]
    else:
        bucket_sql, bucket_params = 'date_trunc(%s, "timestamp" AT TIME ZONE %s)', [granularity, time_range.zone.key]
    where, where_params = [], []
    for name, values in sorted(filters.items()):
        where.append("(dimensions ->> %s) = ANY(%s::text[])")
        where_params += [name, values]
    rollup_granularity = _rollup_granularity(bounds, time_range, by_dimension=bool(group_by or where))
    if rollup_granularity is not None:
        return _from_rollups(metric=metric, aggregation=aggregation, group_by=group_by, where=where,
                             where_params=where_params, limit=limit, time_range=time_range, starts=starts,
                             labels=labels, bounds=bounds, granularity=rollup_granularity), True
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
        seconds = _bucket_seconds(starts, time_range)
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
    ], False


def _aligned(moment: datetime, granularity: str) -> bool:
    moment = moment.astimezone(timezone.utc)
    if moment.second or moment.microsecond:
        return False
    if granularity == "minute":
        return True
    return moment.minute == 0 and (granularity == "hour" or moment.hour == 0)


def _floor(moment: datetime, granularity: str) -> datetime:
    moment = moment.astimezone(timezone.utc).replace(second=0, microsecond=0)
    if granularity != "minute":
        moment = moment.replace(minute=0)
    if granularity == "day":
        moment = moment.replace(hour=0)
    return moment


def _rollup_granularity(bounds: list[datetime] | None, time_range: TimeRange, *, by_dimension: bool) -> str | None:
    """The coarsest rollup dividing every bucket start after the first, for a long enough range
    (minute rollups only hold the ALL rows)."""
    if bounds is None or time_range.end - time_range.start <= timedelta(hours=settings.METRIC_ROLLUP_AFTER_HOURS):
        return None
    for granularity in ("day", "hour") if by_dimension else ("day", "hour", "minute"):
        if all(_aligned(bound, granularity) for bound in bounds[1:]):
            return granularity
    return None


def _from_rollups(*, metric: Metric, aggregation: str, group_by: list[str], where: list[str],
                  where_params: list[Any], limit: int, time_range: TimeRange, starts: list[datetime],
                  labels: list[str], bounds: list[datetime], granularity: str) -> list[dict[str, Any]]:
    step = rollup.STEPS[granularity]
    low = _floor(time_range.start, granularity)
    low = low if low >= time_range.start else low + step
    high = _floor(time_range.end, granularity)
    by_series = bool(group_by or where)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT DISTINCT date_bin(%s::interval, minute, {rollup.ORIGIN}) FROM metric_dirty "
                       "WHERE metric_id = %s AND minute >= %s AND minute < %s",
                       [f"1 {granularity}", metric.id, low, high])
        stale = sorted(row[0] for row in cursor.fetchall())
        # The series in scope, each with its group: the JSON array of its group_by dimensions.
        if by_series:
            group_sql = "jsonb_build_array(" + ", ".join(["dimensions -> %s"] * len(group_by)) + ")::text"
            cursor.execute(f"SELECT series, {group_sql} FROM metric_series WHERE metric_id = %s "
                           f"{''.join(f' AND {w}' for w in where)} ORDER BY series",
                           [*group_by, metric.id, *where_params])
            scope = cursor.fetchall()
        else:
            scope = [(rollup.ALL, "[]")]
        series_ids = np.array([row[0] for row in scope], dtype=np.int64)
        group_of_series, groups = pd.factorize(np.array([row[1] for row in scope], dtype=object))
        # Read raw: the partial buckets at both ends and the rollup buckets not rolled up yet.
        pieces = [(time_range.start, min(low, time_range.end)), (max(high, time_range.start), time_range.end)]
        pieces = [(lo, hi) for lo, hi in pieces if lo < hi] + [(bucket, bucket + step) for bucket in stale]
        _, ts, ids, values, raw_series = rollup.raw_values(
            cursor, [(metric.id, lo, hi) for lo, hi in pieces], series=series_ids.tolist() if by_series else None)
        with rollup.binary_cursor(cursor) as binary:
            # Series 0 as a literal, so the planner can use the partial index of the ALL rows.
            binary.execute(
                f"""SELECT {rollup.micros_sql('bucket')}, series, count, sum, min, max, {rollup.micros_sql('last_ts')},
                           last_id, last_value, sketch
                    FROM metric_rollups
                    WHERE metric_id = %s AND granularity = %s AND bucket >= %s AND bucket < %s
                      AND bucket <> ALL(%s::timestamptz[])
                      AND {"series = ANY(%s::int8[])" if by_series else f"series = {rollup.ALL} AND %s::int8[] IS NULL"}""",
                [metric.id, rollup.GRANULARITY[granularity], low, high, stale, series_ids.tolist() if by_series else None])
            rows = binary.fetchall()
    bounds_us = np.array([micros(bound) for bound in bounds], dtype=np.int64)
    raw_group = group_of_series[np.searchsorted(series_ids, raw_series)] if by_series else np.zeros(len(ts), np.int64)
    rolled_series = np.array([row[1] for row in rows], dtype=np.int64)
    rolled_group = group_of_series[np.searchsorted(series_ids, rolled_series)] if by_series else \
        np.zeros(len(rows), np.int64)
    # Per state, its bucket (1-based, as width_bucket) and group; merged per (bucket, group).
    bucket = np.concatenate([np.searchsorted(bounds_us, ts, side="right"),
                             np.searchsorted(bounds_us, np.array([row[0] for row in rows], dtype=np.int64),
                                             side="right")])
    group = np.concatenate([raw_group, rolled_group]).astype(np.int64)
    first, merged = States.concat([States.of_values(ts, ids, values), States.from_rows([row[2:] for row in rows])]
                                  ).fold(bucket * max(len(groups), 1) + group)
    bucket, group = bucket[first], group[first]
    totals = np.bincount(group, weights=merged.count, minlength=len(groups))
    ordered = sorted(range(len(groups)), key=lambda g: (-totals[g], groups[g].encode()))
    ordered = [g for g in ordered if totals[g] > 0][:limit] if group_by else [0]
    if aggregation.startswith("p"):
        answer = merged.quantiles(int(aggregation[1:]) / 100)
    elif aggregation == "avg":
        answer = merged.sum / np.maximum(merged.count, 1)
    else:
        answer = {"count": merged.count, "sum": merged.sum, "rate": merged.sum, "min": merged.min, "max": merged.max,
                  "last": merged.last_value}[aggregation]
    found = {(int(b), int(g)): value for b, g, value in zip(bucket, group, answer.tolist())}
    seconds = _bucket_seconds(starts, time_range) if aggregation == "rate" else {}
    empty = 0 if aggregation in ZERO_WHEN_EMPTY else None
    series = []
    for g in ordered:
        values = []
        for index, start in enumerate(starts, 1):
            value = found.get((index, g), empty)
            if aggregation == "rate" and (index, g) in found:
                value = value / seconds[start] if seconds[start] > 0 else 0.0
            values.append(json_number(value))
        text = groups[g] if len(groups) else "[]"
        series.append({"group": dict(zip(group_by, json.loads(text))), "buckets": labels, "values": values})
    return series


def _bucket_seconds(starts: list[datetime], time_range: TimeRange) -> dict[datetime, float]:
    """Seconds of each bucket inside the range (a DST day has 23 or 25 hours)."""
    ends = [*(_instant(s, time_range) for s in starts[1:]), time_range.end]
    return {start: (min(end, time_range.end) - max(_instant(start, time_range), time_range.start)).total_seconds()
            for start, end in zip(starts, ends)}

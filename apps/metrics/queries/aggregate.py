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
import psycopg
from django.conf import settings
from django.db import connection

from apps.core.buckets import bucket_bounds, bucket_starts, timestamps_array
from apps.core.exceptions import ValidationFailed
from apps.core.numbers import json_number
from apps.core.timeranges import TimeRange
from apps.metrics.models import Metric
from apps.metrics.queries import rollup
from apps.metrics.sketch import GAMMA

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
    allowed = set(metric.dimensions)
    for field, names in (("group_by", group_by), ("dimensions", list(filters))):
        unknown = sorted(set(names) - allowed)
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


STATE_SELECT = ("k1, k2, count, sum, min, max, last_ts, last_id, last_value, array_send(pos_keys), "
                "array_send(pos_counts), array_send(neg_keys), array_send(neg_counts), zeros")
_INT4 = np.dtype([("length", ">i4"), ("value", ">i4")])
_INT8 = np.dtype([("length", ">i4"), ("value", ">i8")])


def _array(data: bytes, dtype: np.dtype) -> np.ndarray:
    """An int4[]/int8[] from PostgreSQL's binary array format (array_send): a 12-byte header for an
    empty array, 20 bytes for one dimension, then (length, value) per element."""
    if len(data) <= 12:
        return np.empty(0, dtype=np.int64)
    return np.frombuffer(data, dtype=dtype, offset=20)["value"].astype(np.int64)


class _State:
    __slots__ = ("count", "sum", "min", "max", "last", "positive", "negative", "zeros")

    def __init__(self, row: tuple) -> None:
        _, _, self.count, self.sum, self.min, self.max, last_ts, last_id, last_value, pk, pc, nk, nc, self.zeros = row
        self.last = (last_ts, last_id, last_value)
        self.positive = [(_array(pk, _INT4), _array(pc, _INT8))] if len(pk) > 12 else []
        self.negative = [(_array(nk, _INT4), _array(nc, _INT8))] if len(nk) > 12 else []

    def merge(self, other: _State) -> None:
        self.count += other.count
        self.sum += other.sum
        self.min, self.max = min(self.min, other.min), max(self.max, other.max)
        self.last = max(self.last, other.last, key=lambda last: (last[0], last[1]))
        self.positive += other.positive
        self.negative += other.negative
        self.zeros += other.zeros

    def value(self, aggregation: str) -> float | int | None:
        if aggregation in ("count", "sum", "rate"):
            return self.count if aggregation == "count" else self.sum
        if aggregation == "avg":
            return self.sum / self.count
        return {"min": self.min, "max": self.max, "last": self.last[2]}[aggregation]


# Sketch entries sort by value: negatives by decreasing key, then zeros, then positives by key.
_NEGATIVE, _ZERO = -(10**6), -(5 * 10**5)


def _quantiles(states: list[_State], q: float) -> np.ndarray:
    """The q-quantile of each state's sketch (linear interpolation between the representatives of
    the order statistics around rank q * (n - 1), as apps.metrics.sketch.Sketch.quantile), for all
    states at once: one sort of every sketch entry by (state, value), one cumulative sum."""
    columns: dict[int, tuple[list, list, list]] = {1: ([], [], []), -1: ([], [], [])}
    for index, state in enumerate(states):
        for sign, pieces in ((1, state.positive), (-1, state.negative)):
            keys_list, counts_list, owners = columns[sign]
            for keys, counts in pieces:
                if len(keys):
                    keys_list.append(keys), counts_list.append(counts), owners.append((index, len(keys)))
    zero_ids = np.array([i for i, state in enumerate(states) if state.zeros], dtype=np.int64)
    zero_counts = np.array([state.zeros for state in states if state.zeros], dtype=np.int64)
    keys_parts, counts_parts, ids_parts, sign_parts = [zero_ids * 0], [zero_counts], [zero_ids], \
        [np.zeros(len(zero_ids), dtype=np.int8)]
    for sign, (keys_list, counts_list, owners) in columns.items():
        if keys_list:
            keys_parts.append(np.concatenate(keys_list)), counts_parts.append(np.concatenate(counts_list))
            ids_parts.append(np.repeat([o[0] for o in owners], [o[1] for o in owners]))
            sign_parts.append(np.full(len(keys_parts[-1]), sign, dtype=np.int8))
    keys, counts = np.concatenate(keys_parts), np.concatenate(counts_parts)
    ids, sign = np.concatenate(ids_parts), np.concatenate(sign_parts)
    codes = np.where(sign > 0, keys, np.where(sign < 0, _NEGATIVE - keys, _ZERO))
    # One int64 per entry ordering by (state, value); rollups store their keys sorted, so for one
    # row per bucket the entries usually arrive in order and need no sort.
    sizes = np.bincount(ids, weights=counts, minlength=len(states)).astype(np.int64)
    combined = (ids << 24) + (codes + (1 << 23))
    if len(combined) > 1 and not np.all(combined[1:] >= combined[:-1]):
        order = np.argsort(combined, kind="stable")
        counts, keys, sign = counts[order], keys[order], sign[order]
    ends = np.cumsum(counts)

    def value_at(index: np.ndarray) -> np.ndarray:  # the bucket representatives, only where read
        return sign[index] * (2 * GAMMA ** keys[index].astype(float) / (GAMMA + 1))

    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    position = q * (sizes - 1)
    low, high = np.floor(position).astype(np.int64), np.ceil(position).astype(np.int64)
    at_low = value_at(np.searchsorted(ends, offsets + low, side="right"))
    at_high = value_at(np.searchsorted(ends, offsets + high, side="right"))
    return at_low + (at_high - at_low) * (position - low)


def _fetch(sql: str, params: dict[str, Any]) -> list[tuple]:
    connection.ensure_connection()
    connection.cursor().close()  # django-tenants sets the tenant's search_path on the connection
    # Binary results: the sketches' arrays arrive as bytes numpy reads in place.
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(f"SELECT {STATE_SELECT} FROM ({sql}) states", params, binary=True)
        return cursor.fetchall()


def _from_rollups(*, metric: Metric, aggregation: str, group_by: list[str], where: list[str],
                  where_params: list[Any], limit: int, time_range: TimeRange, starts: list[datetime],
                  labels: list[str], bounds: list[datetime], granularity: str) -> list[dict[str, Any]]:
    step = rollup.STEPS[granularity]
    low = _floor(time_range.start, granularity)
    low = low if low >= time_range.start else low + step
    high = _floor(time_range.end, granularity)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT DISTINCT date_bin(%s::interval, minute, {rollup.ORIGIN}) FROM metric_dirty "
                       "WHERE metric_id = %s AND minute >= %s AND minute < %s",
                       [f"1 {granularity}", metric.id, low, high])
        stale = sorted(row[0] for row in cursor.fetchall())
    # Read raw: the partial buckets at both ends and the rollup buckets not rolled up yet.
    pieces = [(time_range.start, min(low, time_range.end)), (max(high, time_range.start), time_range.end)]
    pieces = [(lo, hi) for lo, hi in pieces if lo < hi] + [(bucket, bucket + step) for bucket in stale]
    named = {f"w{i}": value for i, value in enumerate(where_params)}
    filters = "".join(f" AND {clause % tuple(f'%({name})s' for name in list(named)[2 * i:2 * i + 2])}"
                      for i, clause in enumerate(where))
    group_names = {f"g{i}": name for i, name in enumerate(group_by)}
    group_sql = "jsonb_build_array(" + ", ".join(f"dimensions -> %({name})s" for name in group_names) + ")::text"
    params: dict[str, Any] = {"metric": metric.id, "bounds": timestamps_array(bounds), "ln_gamma": rollup.LN_GAMMA,
                              **named,
                              **group_names, "lows": [p[0] for p in pieces], "highs": [p[1] for p in pieces],
                              "granularity": granularity, "low": low, "high": high, "stale": stale, "all": rollup.ALL}
    raw = rollup.states_sql(
        source="raw",
        from_sql=f"""
            FROM unnest(%(lows)s::timestamptz[], %(highs)s::timestamptz[]) AS p(lo, hi)
            JOIN metric_values v ON v.metric_id = %(metric)s AND v."timestamp" >= p.lo AND v."timestamp" < p.hi
            WHERE true {filters}""",
        key_sql=f'width_bucket(v."timestamp", %(bounds)s::timestamptz[]) AS k1, {group_sql} AS k2, 0 AS k3',
    )
    # A literal, so the planner can use the partial index of the ALL rows.
    dimensions = f"dimensions = '{rollup.ALL}'::jsonb" if not group_by and not where else \
        f"dimensions <> '{rollup.ALL}'::jsonb"
    rolled = f"""
        SELECT width_bucket(bucket, %(bounds)s::timestamptz[]) AS k1, {group_sql} AS k2, count, sum, min, max,
               last_ts, last_id, last_value, pos_keys, pos_counts, neg_keys, neg_counts, zeros
        FROM metric_rollups
        WHERE metric_id = %(metric)s AND granularity = %(granularity)s AND bucket >= %(low)s AND bucket < %(high)s
          AND bucket <> ALL(%(stale)s::timestamptz[]) AND {dimensions} {filters}
    """
    states: dict[tuple[int, str], _State] = {}
    for row in [*(_fetch(raw, params) if pieces else []), *_fetch(rolled, params)]:
        state = _State(row)
        key = (row[0], row[1])
        if key in states:
            states[key].merge(state)
        else:
            states[key] = state
    counts: dict[str, int] = {}
    for (_, grp), state in states.items():
        counts[grp] = counts.get(grp, 0) + state.count
    ordered = sorted(counts, key=lambda g: (-counts[g], g.encode()))[:limit] if group_by else ["[]"]
    seconds = _bucket_seconds(starts, time_range) if aggregation == "rate" else {}
    empty = 0 if aggregation in ZERO_WHEN_EMPTY else None
    if aggregation.startswith("p") and states:
        keys = list(states)
        percentiles = dict(zip(keys, _quantiles([states[key] for key in keys], int(aggregation[1:]) / 100)))
    series = []
    for grp in ordered:
        values = []
        for index, start in enumerate(starts, 1):
            state = states.get((index, grp))
            if state is None:
                value = empty
            elif aggregation.startswith("p"):
                value = float(percentiles[(index, grp)])
            else:
                value = state.value(aggregation)
            if aggregation == "rate" and state is not None:
                value = value / seconds[start] if seconds[start] > 0 else 0.0
            values.append(json_number(value))
        series.append({"group": dict(zip(group_by, json.loads(grp))), "buckets": labels, "values": values})
    return series


def _bucket_seconds(starts: list[datetime], time_range: TimeRange) -> dict[datetime, float]:
    """Seconds of each bucket inside the range (a DST day has 23 or 25 hours)."""
    ends = [*(_instant(s, time_range) for s in starts[1:]), time_range.end]
    return {start: (min(end, time_range.end) - max(_instant(start, time_range), time_range.start)).total_seconds()
            for start, end in zip(starts, ends)}

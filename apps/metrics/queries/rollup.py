"""Rollups of metric values per UTC minute, hour and day (DESIGN §6), and the merge they share
with aggregations that read them.

Semantics, in order:
1. A "state" summarises values: count, sum, min, max, the last value (latest timestamp, ties: the
   last stored) and a sketch (apps/metrics/sketch.py). States merge exactly, sketches by key.
2. Every write of values records the (metric, UTC minute) pairs it touched in `metric_dirty`.
3. `roll` (beat, per tenant; a run finding another one going for the schema skips, so runs never
   overlap and never queue up behind each other) takes the
   dirty rows it can see, recomputes the minute rollups over spans of those minutes from the raw
   values, then the hours holding them from the minutes, then the days from the hours, and deletes
   the dirty rows it took, all in one transaction. A value committed after the roll-up read the
   queue left its own dirty row, so the next run takes it. Each rollup is recomputed from its source, never incremented, so
   running twice, or after late values, gives the same rows as one run over all values.
4. Each hour and day has one row per set of dimensions and one row over all values (dimensions =
   ALL, the JSON string "*"; values' dimensions are always objects). Minutes have the ALL row only:
   per dimension set a minute rarely holds more than one value, so such rows would be as many as
   the values; minute questions by dimension read raw values (their ranges are short).
   Order: minutes (ALL) and hours (per dimension set) from raw values, hours (ALL) from minutes,
   days from hours.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from apps.metrics.sketch import KEY_SQL, LN_GAMMA

ALL = '"*"'
ORIGIN = "TIMESTAMPTZ '2000-01-03 00:00:00+00'"  # a Monday at midnight UTC
STEPS = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}
STATE_COLUMNS = ("count", "sum", "min", "max", "last_ts", "last_id", "last_value", "pos_keys", "pos_counts",
                 "neg_keys", "neg_counts", "zeros")
# Clusters of dirty minutes further apart than this are read as separate time spans.
SPAN_GAP = timedelta(hours=1)


def states_sql(*, source: str, from_sql: str, key_sql: str) -> str:
    """SQL returning one state per (k1, k2, k3) from `from_sql`, a FROM/WHERE clause over either raw
    values (`source="raw"`, alias v: value, "timestamp", id) or rollup rows (`source="rollup"`,
    alias v: the state columns). `key_sql` selects k1, k2, k3 from v.

    One grouping pass, no joins between aggregates. Raw values group straight into states (each
    value one sketch key with count 1). Rollup rows are listed with their states and, apart, their
    sketch keys summed per key; the outer level folds those into one state per (k1, k2, k3)."""
    # "last" without sorting: the largest [epoch microseconds, id, value] array is the latest row.
    last = "max(ARRAY[(extract(epoch FROM {ts}) * 1000000)::float8, {id}::float8, {value}])"
    fold = """
        SELECT k1, k2, k3, count::bigint AS count, sum, min, max,
               TIMESTAMPTZ 'epoch' + (last[1])::bigint * interval '1 microsecond' AS last_ts,
               (last[2])::bigint AS last_id, last[3] AS last_value,
               pos_keys, pos_counts, neg_keys, neg_counts, zeros
        FROM ({grouped}) folded
    """
    if source == "raw":
        # Raw values are summed up directly: each value is one key with count 1 (keys may repeat
        # within a row; every reader adds counts per key, and merges make them distinct).
        return fold.format(grouped=f"""
            SELECT k1, k2, k3, count(*) AS count, sum(value) AS sum, min(value) AS min, max(value) AS max,
                   {last.format(ts="ts", id="id", value="value")} AS last,
                   coalesce(array_agg(k ORDER BY k) FILTER (WHERE s > 0), '{{}}') AS pos_keys,
                   coalesce(array_agg(1::bigint) FILTER (WHERE s > 0), '{{}}') AS pos_counts,
                   coalesce(array_agg(k ORDER BY k) FILTER (WHERE s < 0), '{{}}') AS neg_keys,
                   coalesce(array_agg(1::bigint) FILTER (WHERE s < 0), '{{}}') AS neg_counts,
                   count(*) FILTER (WHERE s = 0) AS zeros
            FROM (
                SELECT {key_sql}, v.value, v."timestamp" AS ts, v.id, sign(v.value)::int AS s,
                       CASE WHEN v.value <> 0 THEN {KEY_SQL.format(value="v.value")} END AS k
                {from_sql}
            ) keyed
            GROUP BY k1, k2, k3""")
    inner = f"""
        WITH src AS MATERIALIZED (SELECT {key_sql}, v.* {from_sql})
        SELECT k1, k2, k3, NULL::int AS s, NULL::int AS k, NULL::bigint AS n_key, count, sum, min, max,
               ARRAY[(extract(epoch FROM last_ts) * 1000000)::float8, last_id::float8, last_value] AS last, zeros
        FROM src
        UNION ALL
        SELECT k1, k2, k3, 1, u.k, sum(u.n)::bigint, NULL, NULL, NULL, NULL, NULL, NULL
        FROM src, unnest(pos_keys, pos_counts) AS u(k, n) GROUP BY k1, k2, k3, u.k
        UNION ALL
        SELECT k1, k2, k3, -1, u.k, sum(u.n)::bigint, NULL, NULL, NULL, NULL, NULL, NULL
        FROM src, unnest(neg_keys, neg_counts) AS u(k, n) GROUP BY k1, k2, k3, u.k"""
    # Merged sketches have distinct keys, stored sorted (readers of one row per bucket then skip a
    # sort); each pair of arrays is aggregated in the same order, so keys and counts stay aligned.
    return fold.format(grouped=f"""
        SELECT k1, k2, k3, sum(count) AS count, sum(sum) AS sum, min(min) AS min, max(max) AS max, max(last) AS last,
               coalesce(array_agg(k ORDER BY k) FILTER (WHERE s > 0), '{{}}') AS pos_keys,
               coalesce(array_agg(n_key ORDER BY k) FILTER (WHERE s > 0), '{{}}') AS pos_counts,
               coalesce(array_agg(k ORDER BY k) FILTER (WHERE s < 0), '{{}}') AS neg_keys,
               coalesce(array_agg(n_key ORDER BY k) FILTER (WHERE s < 0), '{{}}') AS neg_counts,
               coalesce(sum(zeros), 0)::bigint AS zeros
        FROM ({inner}) parts
        GROUP BY k1, k2, k3""")


def _spans(buckets: set[tuple[int, datetime]], width: timedelta) -> tuple[list[int], list[datetime], list[datetime]]:
    """Per metric, the dirty buckets grouped into [low, high) spans of nearby buckets (gaps up to
    SPAN_GAP are spanned too: recomputing a clean bucket rewrites the same row)."""
    by_metric: dict[int, list[datetime]] = defaultdict(list)
    for metric_id, bucket in buckets:
        by_metric[metric_id].append(bucket)
    metric_ids, lows, highs = [], [], []
    for metric_id, starts in sorted(by_metric.items()):
        starts.sort()
        low = previous = starts[0]
        for start in starts[1:]:
            if start - previous > SPAN_GAP:
                metric_ids.append(metric_id), lows.append(low), highs.append(previous + width)
                low = start
            previous = start
        metric_ids.append(metric_id), lows.append(low), highs.append(previous + width)
    return metric_ids, lows, highs


_SCOPES = {"all": "= %(all)s::jsonb", "dims": "<> %(all)s::jsonb", "both": "IS NOT NULL"}


def _recompute(cursor: Any, granularity: str, buckets: set[tuple[int, datetime]], source: str, scope: str) -> None:
    """Replace the `granularity` rollups of `scope` (the ALL rows, the dimension-set rows, or both)
    over the spans of the dirty (metric, bucket) pairs by states recomputed from `source`: raw values,
    or the next finer rollups of the same scope."""
    if not buckets:
        return
    metric_ids, lows, highs = _spans(buckets, STEPS[granularity])
    spans_sql = "unnest(%(metric_ids)s::bigint[], %(lows)s::timestamptz[], %(highs)s::timestamptz[]) AS s(m, lo, hi)"
    params = {"metric_ids": metric_ids, "lows": lows, "highs": highs, "interval": f"1 {granularity}",
              "ln_gamma": LN_GAMMA, "all": ALL, "finer": source, "granularity": granularity}
    cursor.execute(
        f"DELETE FROM metric_rollups r USING {spans_sql} "
        "WHERE r.metric_id = s.m AND r.granularity = %(granularity)s AND r.bucket >= s.lo AND r.bucket < s.hi "
        f"AND r.dimensions {_SCOPES[scope]}",
        params,
    )
    if source == "raw":
        dimensions = {"all": "%(all)s::jsonb", "dims": "v0.dimensions"}[scope]
        # Per span, an index range scan (OFFSET 0 keeps the planner from turning the spans into a
        # hash join over a scan of every value, its choice on its guess of ten spans).
        from_sql = f"""
            FROM {spans_sql}
            CROSS JOIN LATERAL (
                SELECT v0.metric_id, v0."timestamp", v0.id, v0.value, {dimensions} AS dimensions
                FROM metric_values v0 WHERE v0.metric_id = s.m AND v0."timestamp" >= s.lo AND v0."timestamp" < s.hi
                OFFSET 0
            ) AS v
        """
        time_column = 'v."timestamp"'
    else:
        from_sql = f"""
            FROM {spans_sql}
            CROSS JOIN LATERAL (
                SELECT * FROM metric_rollups r0
                WHERE r0.metric_id = s.m AND r0.granularity = %(finer)s AND r0.bucket >= s.lo AND r0.bucket < s.hi
                  AND r0.dimensions {_SCOPES[scope]}
                OFFSET 0
            ) AS v
        """
        time_column = "v.bucket"
    key_sql = f"v.metric_id AS k1, date_bin(%(interval)s::interval, {time_column}, {ORIGIN}) AS k2, v.dimensions AS k3"
    sql = states_sql(source="raw" if source == "raw" else "rollup", from_sql=from_sql, key_sql=key_sql)
    cursor.execute(f"INSERT INTO metric_rollups (metric_id, bucket, dimensions, {', '.join(STATE_COLUMNS)}, "
                   f"granularity) SELECT *, %(granularity)s FROM ({sql}) states", params)


def roll() -> dict[str, int]:
    """Steps 3-4 in the current tenant schema. Returns how many minutes, hours and days it rolled
    (and `skipped` when another run held the schema)."""
    with transaction.atomic(), connection.cursor() as cursor:
        # A run already going takes everything queued before it; this one leaves the rest to the next.
        cursor.execute("SELECT pg_try_advisory_xact_lock(hashtext(current_schema() || ':metric_rollups'))")
        if not cursor.fetchone()[0]:
            return {"minutes": 0, "hours": 0, "days": 0, "skipped": 1}
        # Hashing, not sorting, groups keyed by JSON dimensions.
        cursor.execute("SELECT set_config('work_mem', %s, true)", [f"{settings.QUERY_WORK_MEM_MB * 2}MB"])
        cursor.execute("DELETE FROM metric_dirty RETURNING metric_id, minute")
        minutes = {(metric_id, minute) for metric_id, minute in cursor.fetchall()}
        _recompute(cursor, "minute", minutes, "raw", "all")
        hours = {(m, _floor(b, "hour")) for m, b in minutes}
        _recompute(cursor, "hour", hours, "raw", "dims")
        _recompute(cursor, "hour", hours, "minute", "all")
        days = {(m, _floor(b, "day")) for m, b in hours}
        _recompute(cursor, "day", days, "hour", "both")
    return {"minutes": len(minutes), "hours": len(hours), "days": len(days)}


def _floor(moment: datetime, granularity: str) -> datetime:
    moment = moment.astimezone(timezone.utc)
    if granularity == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)

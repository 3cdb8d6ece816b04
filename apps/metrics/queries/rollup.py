"""Rollups of metric values per UTC minute, hour and day (DESIGN §6).

Semantics, in order:
1. A "state" summarises values (apps/metrics/states.py); states merge exactly, sketches by code.
2. Every value belongs to a series: its metric and its set of dimensions (`metric_series`, the
   series id being a 64-bit hash of the dimensions, apps/metrics/ingestion.series_of). Every write
   of values records the (metric, UTC minute) pairs it touched in `metric_dirty`.
3. Each hour and day has one row per series and one row over all values (series = ALL = 0).
   Minutes have the ALL row only: per series a minute rarely holds more than one value, so such
   rows would be as many as the values; minute questions by dimension read raw values (their
   ranges are short).
4. `roll` (beat, per tenant; a run finding another one going for the schema skips, so runs never
   overlap and never queue up behind each other) takes the dirty rows it can see. For every
   (metric, UTC day) holding a dirty minute it reads the raw values of the dirty hours once and
   recomputes, in numpy: the minutes and the hours (per series and ALL) of those hours, and the
   day (per series and ALL) from its hours (those just computed and the stored ones of its clean
   hours). It replaces the old rows of those buckets by the new ones (binary COPY). Each rollup
   is recomputed from its source, never incremented, so running twice, or after late values,
   gives the same rows as one run over all values.
5. The (metric, day) units are cut into chunks of at most CHUNK_MINUTES dirty minutes, each
   rolled in one transaction; METRIC_ROLLUP_WORKERS chunks go at once, each worker on its own
   connection. The dirty rows are deleted in the run's own transaction, committed after every
   chunk: a run that fails leaves them queued, and the next run recomputes those buckets.
   Called inside a transaction (whose writes other connections cannot see), `roll` works on the
   caller's connection, one chunk after another.
"""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import psycopg
from django.conf import settings
from django.db import connection, transaction
from django_tenants.utils import schema_context

from apps.metrics import sketch
from apps.metrics.states import States, moment

ALL = 0
# The stored granularity: minutes per bucket.
MINUTE, HOUR, DAY = 1, 60, 1440
GRANULARITY = {"minute": MINUTE, "hour": HOUR, "day": DAY}
US = {MINUTE: 60_000_000, HOUR: 3_600_000_000, DAY: 86_400_000_000}
STEPS = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}
ORIGIN = "TIMESTAMPTZ '2000-01-03 00:00:00+00'"  # a Monday at midnight UTC
CHUNK_ROWS = 20_000
SPAN_HOURS = 6  # raw values are read in spans of at most this many dirty hours
COLUMNS = "metric_id, granularity, bucket, series, count, sum, min, max, last_ts, last_id, last_value, sketch"
# The fixed-width part of a rollup row in PostgreSQL's binary COPY format: the field count, then
# each field's length and value, ending with the sketch's length (its bytes follow).
_ROW = np.dtype([("fields", ">i2"),
                 ("l_metric", ">i4"), ("metric", ">i8"), ("l_granularity", ">i4"), ("granularity", ">i2"),
                 ("l_bucket", ">i4"), ("bucket", ">i8"), ("l_series", ">i4"), ("series", ">i8"),
                 ("l_count", ">i4"), ("count", ">i8"), ("l_sum", ">i4"), ("sum", ">f8"),
                 ("l_min", ">i4"), ("min", ">f8"), ("l_max", ">i4"), ("max", ">f8"),
                 ("l_last_ts", ">i4"), ("last_ts", ">i8"), ("l_last_id", ">i4"), ("last_id", ">i8"),
                 ("l_last_value", ">i4"), ("last_value", ">f8"), ("l_sketch", ">i4")])
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
_COPY_TRAILER = b"\xff\xff"
_ARRAY_INT8 = np.dtype([("length", ">i4"), ("value", ">i8")])
_ARRAY_FLOAT8 = np.dtype([("length", ">i4"), ("value", ">f8")])


def roll() -> dict[str, int]:
    """Steps 3-5 in the current tenant schema. Returns how many minutes, hours and days it rolled
    (and `skipped` when another run held the schema)."""
    inline = connection.in_atomic_block or settings.METRIC_ROLLUP_WORKERS <= 1
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(hashtext(current_schema() || ':metric_rollups'))")
        if not cursor.fetchone()[0]:
            return {"minutes": 0, "hours": 0, "days": 0, "skipped": 1}
        # The dirty hours, with how many distinct minutes and queue rows each holds.
        cursor.execute(f"""
            WITH taken AS (DELETE FROM metric_dirty RETURNING metric_id, minute)
            SELECT metric_id, {micros_sql("date_trunc('hour', minute)")}, count(DISTINCT minute), count(*)
            FROM taken GROUP BY 1, 2 ORDER BY 1, 2""")
        hours = cursor.fetchall()
        chunks, split = _chunks(hours)
        if inline or len(chunks) == 1:
            for chunk in chunks:
                _roll_chunk(cursor, chunk)
        else:
            schema = connection.schema_name
            with ThreadPoolExecutor(settings.METRIC_ROLLUP_WORKERS) as pool:
                for _ in pool.map(lambda chunk: _roll_chunk_apart(schema, chunk), chunks):
                    pass
        if split:  # their hours are all stored now (committed, if by workers)
            _roll_days(cursor, [(metric_id, day, []) for metric_id, day in split])
    days = {(metric_id, hour - hour % US[DAY]) for metric_id, hour, _, _ in hours}
    return {"minutes": sum(row[2] for row in hours), "hours": len(hours), "days": len(days)}


Piece = tuple[int, int, list[int], bool]  # metric, day, dirty hours, whether they are all of the day's


def _chunks(hours: list[tuple[int, int, int, int]]) -> tuple[list[list[Piece]], list[tuple[int, int]]]:
    """The dirty (metric, day) units cut into chunks of at most CHUNK_ROWS queue rows (each row
    stands for one write's values in one minute, so they bound the values a chunk reads). A unit
    heavier than that is split into runs of hours; its day is then rolled from its stored hours
    after every chunk (the second list)."""
    units: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
    for metric_id, hour, _, rows in hours:
        units[(metric_id, hour - hour % US[DAY])].append((hour, rows))
    chunks: list[list[Piece]] = [[]]
    split = []
    size = 0
    for (metric_id, day), unit in sorted(units.items()):
        weight = sum(rows for _, rows in unit)
        if weight <= CHUNK_ROWS:
            if size + weight > CHUNK_ROWS:
                chunks.append([])
                size = 0
            chunks[-1].append((metric_id, day, [hour for hour, _ in unit], True))
            size += weight
            continue
        split.append((metric_id, day))
        run, run_size = [], 0
        for hour, rows in unit:
            if run and run_size + rows > CHUNK_ROWS:
                chunks.append([(metric_id, day, run, False)])
                run, run_size = [], 0
            run.append(hour)
            run_size += rows
        chunks.append([(metric_id, day, run, False)])
    return [chunk for chunk in chunks if chunk], split


def _roll_chunk_apart(schema: str, chunk: list[Piece]) -> None:
    try:
        with schema_context(schema), transaction.atomic(), connection.cursor() as cursor:
            _roll_chunk(cursor, chunk)
    finally:
        connection.close()


def binary_cursor(cursor: Any) -> psycopg.Cursor:
    """A cursor with binary results on the Django cursor's connection (same transaction and schema)."""
    return psycopg.Cursor(cursor.cursor.connection)


def _spans(chunk: list[Piece]) -> list[tuple[int, int, int]]:
    """(metric, low, high) in microseconds: runs of consecutive dirty hours, at most SPAN_HOURS long."""
    spans = []
    for metric_id, _, hours, _ in chunk:
        low = previous = hours[0]
        for hour in hours[1:]:
            if hour != previous + US[HOUR] or hour - low >= SPAN_HOURS * US[HOUR]:
                spans.append((metric_id, low, previous + US[HOUR]))
                low = hour
            previous = hour
        spans.append((metric_id, low, previous + US[HOUR]))
    return spans


def raw_values(cursor: Any, spans: list[tuple[int, datetime, datetime]], series: list[int] | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Metric ids, timestamps (microseconds), ids, values and series of the values in the
    (metric, low, high) spans, optionally of the given series only; arrays aggregated in the
    database and read in its binary format, so no Python object is made per value."""
    if not spans:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, empty, np.empty(0, dtype=np.float64), empty
    only = "AND v0.series = ANY(%(series)s::int8[])" if series is not None else ""
    with binary_cursor(cursor) as binary:
        binary.execute(f"""
            SELECT s.m, array_send(array_agg(v."timestamp")), array_send(array_agg(v.id)),
                   array_send(array_agg(v.value)), array_send(array_agg(v.series))
            FROM unnest(%(metrics)s::int8[], %(lows)s::timestamptz[], %(highs)s::timestamptz[]) AS s(m, lo, hi)
            CROSS JOIN LATERAL (
                SELECT v0."timestamp", v0.id, v0.value, v0.series FROM metric_values v0
                WHERE v0.metric_id = s.m AND v0."timestamp" >= s.lo AND v0."timestamp" < s.hi {only}
                OFFSET 0
            ) AS v
            GROUP BY s.m, s.lo""",
            {"metrics": [s[0] for s in spans], "lows": [s[1] for s in spans], "highs": [s[2] for s in spans],
             "series": series})
        rows = binary.fetchall()
    if not rows:
        return raw_values(cursor, [])

    def column(index: int, dtype: np.dtype) -> np.ndarray:
        return np.concatenate([np.frombuffer(row[index], dtype=dtype, offset=20)["value"] for row in rows])

    ts = column(1, _ARRAY_INT8)
    metrics = np.repeat(np.array([row[0] for row in rows], dtype=np.int64),
                        [(len(row[1]) - 20) // _ARRAY_INT8.itemsize for row in rows])
    return (metrics, ts, column(2, _ARRAY_INT8), column(3, _ARRAY_FLOAT8).astype(np.float64),
            column(4, _ARRAY_INT8))


def key_of(*columns: np.ndarray) -> np.ndarray:
    """One non-negative int64 per row, equal where all `columns` are equal, below 2^43."""
    key = np.zeros(len(columns[0]), dtype=np.int64)
    span = 1
    for column in columns:
        codes, uniques = pd.factorize(column)
        if span * len(uniques) >= 1 << 43:
            key, distinct = pd.factorize(key)
            span = len(distinct)
        key = key * len(uniques) + codes
        span *= len(uniques)
    return key


def _roll_chunk(cursor: Any, chunk: list[Piece]) -> None:
    spans = _spans(chunk)
    as_moment = [(m, moment(lo), moment(hi)) for m, lo, hi in spans]
    metrics, ts, ids, values, series = raw_values(cursor, as_moment)
    raw = States.of_values(ts, ids, values)
    levels = []  # (granularity, metric, bucket, series, states)

    minute = ts - ts % US[MINUTE]
    first, minutes = raw.fold(key_of(metrics, minute))
    levels.append((MINUTE, metrics[first], minute[first], np.full(len(first), ALL, dtype=np.int64), minutes))
    hour = ts - ts % US[HOUR]
    first, hours_by_series = raw.fold(key_of(metrics, series, hour))
    hour_levels = {"series": (metrics[first], hour[first], series[first], hours_by_series)}
    minute_metric, minute_bucket = levels[0][1], levels[0][2]
    minute_hour = minute_bucket - minute_bucket % US[HOUR]
    first, hours_all = minutes.fold(key_of(minute_metric, minute_hour))
    hour_levels["all"] = (minute_metric[first], minute_hour[first], np.full(len(first), ALL, dtype=np.int64),
                          hours_all)
    for metric_column, bucket, series_column, states in hour_levels.values():
        levels.append((HOUR, metric_column, bucket, series_column, states))

    _replace(cursor, [(m, MINUTE, lo, hi) for m, lo, hi in as_moment] + [(m, HOUR, lo, hi) for m, lo, hi in as_moment],
             levels)
    whole = [(m, day, hours) for m, day, hours, complete in chunk if complete]
    _roll_days(cursor, whole, hour_levels=list(hour_levels.values()))


def _roll_days(cursor: Any, units: list[tuple[int, int, list[int]]],
               hour_levels: list[tuple[np.ndarray, np.ndarray, np.ndarray, States]] = ()) -> None:
    """The (metric, day) units' day rollups from their hours: `hour_levels`, just computed for the
    units' dirty hours, and the stored rows of their other hours."""
    if not units:
        return
    parts = [*hour_levels, _stored_hours(cursor, [(m, day, hours) for m, day, hours in units if len(hours) < 24])]
    day_metric, day_hour, day_series = (np.concatenate([part[i] for part in parts]) for i in range(3))
    day = day_hour - day_hour % US[DAY]
    first, days = States.concat([part[3] for part in parts]).fold(key_of(day_metric, day_series, day))
    _replace(cursor, [(m, DAY, moment(day_start), moment(day_start + US[DAY])) for m, day_start, _ in units],
             [(DAY, day_metric[first], day[first], day_series[first], days)])


def _replace(cursor: Any, deleted: list[tuple[int, int, datetime, datetime]], levels: list[tuple]) -> None:
    """Delete the rollups of the (metric, granularity, low, high) spans and write the rows of
    `levels`, (granularity, metric, bucket, series, states) each."""
    # The old rows by their addresses, found per span by an index range scan (OFFSET 0 keeps the
    # planner from joining the spans with a scan of the whole table, its choice on its guess of
    # ten spans).
    cursor.execute(
        "DELETE FROM metric_rollups WHERE ctid = ANY(ARRAY("
        "SELECT r.ctid FROM unnest(%s::int8[], %s::int2[], %s::timestamptz[], %s::timestamptz[]) AS s(m, g, lo, hi) "
        "CROSS JOIN LATERAL (SELECT ctid FROM metric_rollups r0 WHERE r0.metric_id = s.m AND r0.granularity = s.g "
        "AND r0.bucket >= s.lo AND r0.bucket < s.hi OFFSET 0) AS r))",
        [[d[0] for d in deleted], [d[1] for d in deleted], [d[2] for d in deleted], [d[3] for d in deleted]])
    data = b"".join(_copy_rows(*level) for level in levels if len(level[4]))
    if data:
        with cursor.cursor.copy(f"COPY metric_rollups ({COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(_COPY_HEADER + data + _COPY_TRAILER)


def _stored_hours(cursor: Any, units: list[tuple[int, int, list[int]]]
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, States]:
    """The stored hour rows (per series and ALL) of the units' clean hours."""
    rows = []
    if units:
        with binary_cursor(cursor) as binary:
            binary.execute(
                f"""SELECT r.metric_id, {micros_sql('r.bucket')}, r.series, r.count, r.sum, r.min, r.max,
                           {micros_sql('r.last_ts')}, r.last_id, r.last_value, r.sketch
                    FROM unnest(%s::int8[], %s::timestamptz[]) AS u(m, day)
                    CROSS JOIN LATERAL (
                        SELECT * FROM metric_rollups r0 WHERE r0.metric_id = u.m AND r0.granularity = {HOUR}
                          AND r0.bucket >= u.day AND r0.bucket < u.day + interval '1 day' OFFSET 0) AS r""",
                [[u[0] for u in units], [moment(u[1]) for u in units]])
            dirty = {(m, hour) for m, _, hours in units for hour in hours}
            rows = [row for row in binary.fetchall() if (row[0], row[1]) not in dirty]
    column = [np.array([row[i] for row in rows], dtype=np.int64) for i in range(3)]
    return column[0], column[1], column[2], States.from_rows([row[3:] for row in rows])


def micros_sql(expression: str) -> str:
    """A timestamptz as int8 microseconds since 2000-01-01 UTC, in SQL."""
    return f"((extract(epoch FROM {expression}) * 1000000)::int8 - 946684800000000)"


def _copy_rows(granularity: int, metric: np.ndarray, bucket: np.ndarray, series: np.ndarray, states: States) -> bytes:
    """The rows in PostgreSQL's binary COPY format, built with array operations: the fixed-width
    part of each row and its sketch pairs are scattered into one buffer of 4-byte words."""
    n = len(states)
    head = np.zeros(n, dtype=_ROW)
    head["fields"] = 12
    for name in _ROW.names[1:]:
        if name.startswith("l_") and name != "l_sketch":
            head[name] = _ROW.fields[name[2:]][0].itemsize
    head["metric"], head["granularity"], head["bucket"], head["series"] = metric, granularity, bucket, series
    for name in ("count", "sum", "min", "max", "last_ts", "last_id", "last_value"):
        head[name] = getattr(states, name)
    entries = states.sketch_sizes()
    head["l_sketch"] = entries * sketch.PAIR.itemsize
    pairs = np.empty(len(states.code), dtype=sketch.PAIR)
    pairs["code"], pairs["count"] = states.code, states.weight
    head_words, pair_words = head.view(np.uint32), pairs.view(np.uint32)
    width = _ROW.itemsize // 4
    row_words = width + 3 * entries
    row_start = np.cumsum(row_words) - row_words
    out = np.empty(int(row_words.sum()), dtype=np.uint32)
    out[np.arange(n * width) + np.repeat(row_start - np.arange(n) * width, width)] = head_words
    pair_start = 3 * (np.cumsum(entries) - entries)
    out[np.arange(len(pair_words)) + np.repeat(row_start + width - pair_start, 3 * entries)] = pair_words
    return out.tobytes()

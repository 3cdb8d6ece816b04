"""Rollups: exact states and 1%-accurate sketches per minute, hour and day; idempotent, concurrent
and late-value-safe roll-ups."""

from __future__ import annotations

import json
import math
import random
import threading
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from django.db import connection
from django_tenants.utils import schema_context

from apps.metrics import services, sketch
from apps.metrics.queries import rollup
from apps.tenancy.services import tenant_create

START = datetime(2026, 10, 20, tzinfo=timezone.utc)


def record(count: int, seed: int, start: datetime = START, hours: float = 60) -> None:
    rng = random.Random(seed)
    items = []
    for _ in range(count):
        at = start + timedelta(seconds=rng.uniform(0, hours * 3600))
        if rng.random() < 0.1:
            at = at.replace(second=0, microsecond=0)  # ties for `last`
        items.append({"metric": "latency", "value": round(rng.lognormvariate(3, 1.2), 3), "timestamp": at.isoformat(),
                      "dimensions": {"region": rng.choice(["eu", "us"])} if rng.random() < 0.8 else {}})
    for first in range(0, len(items), 1000):
        assert services.metric_values_record_batch(data={"values": items[first:first + 1000]})["rejected"] == []


def rollup_rows() -> list[tuple]:
    """(granularity, bucket, dimensions as JSON text or "*" for ALL, count, sum, min, max, last_ts,
    last_id, last_value, sketch bytes)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT CASE r.granularity WHEN 1 THEN 'minute' WHEN 60 THEN 'hour' ELSE 'day' END, r.bucket, "
                       "CASE WHEN r.series = 0 THEN '*' ELSE s.dimensions::text END, r.count, r.sum, r.min, r.max, "
                       "r.last_ts, r.last_id, r.last_value, r.sketch FROM metric_rollups r "
                       "LEFT JOIN metric_series s ON s.metric_id = r.metric_id AND s.series = r.series "
                       "ORDER BY r.granularity, r.bucket, r.series")
        return [(*row[:-1], bytes(row[-1])) for row in cursor.fetchall()]


def pairs(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    entries = np.frombuffer(data, dtype=sketch.PAIR)
    return entries["code"].astype(np.int32), entries["count"].astype(np.int64)


def raw_values() -> pd.DataFrame:
    with connection.cursor() as cursor:
        cursor.execute('SELECT id, "timestamp", value, dimensions::text FROM metric_values')
        frame = pd.DataFrame(cursor.fetchall(), columns=["id", "timestamp", "value", "dimensions"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    return frame


def same_rows(a: list[tuple], b: list[tuple]) -> bool:
    """Equal, except sums to rounding (floating-point addition order is not fixed)."""
    return len(a) == len(b) and all(
        x[:4] == y[:4] and math.isclose(x[4], y[4], rel_tol=1e-12) and x[5:] == y[5:] for x, y in zip(a, b))


def check_against_raw(rows: list[tuple]) -> None:
    """Every hour and day row, and 300 minute rows, against the raw values."""
    frame = raw_values()
    width = {"minute": "min", "hour": "h", "day": "D"}
    cells = {granularity: {bucket: cell for bucket, cell in frame.groupby(frame["timestamp"].dt.floor(w))}
             for granularity, w in width.items()}
    minutes = [row for row in rows if row[0] == "minute"]
    sample = random.Random(0).sample(minutes, min(300, len(minutes)))
    checked = 0
    for granularity, bucket, dimensions, count, total, low, high, last_ts, last_id, last_value, sketch_bytes in \
            [row for row in rows if row[0] != "minute"] + sample:
        cell = cells[granularity][pd.Timestamp(bucket)]
        if dimensions != "*":
            cell = cell[cell["dimensions"].map(json.loads) == json.loads(dimensions)]
        assert count == len(cell) and math.isclose(total, cell["value"].sum(), rel_tol=1e-9)
        assert (low, high) == (cell["value"].min(), cell["value"].max())
        last = cell.sort_values(["timestamp", "id"]).iloc[-1]
        assert (last_id, last_value, last_ts) == (last["id"], last["value"], last["timestamp"])
        codes, weights = pairs(sketch_bytes)
        assert weights.sum() == count and np.all(np.diff(codes) > 0)  # sorted, one entry per code
        for q in (0.5, 0.9, 0.95, 0.99):
            exact = cell["value"].quantile(q)
            estimate = sketch.quantiles(np.zeros(len(codes), dtype=np.int64), codes, weights, 1, q)[0]
            assert abs(estimate - exact) <= 0.01 * abs(exact), (granularity, bucket, q)
        checked += 1
    assert {row[0] for row in rows} == {"minute", "hour", "day"} and checked > 100
    assert all(row[2] == "*" for row in rows if row[0] == "minute")  # minutes: the ALL rows only


@pytest.fixture
def latency(acme):  # noqa: ANN001, ANN201
    with schema_context(acme.tenant.schema_name):
        services.metric_create(name="latency", metric_type="histogram", dimensions=["region"])
    return acme.tenant


def test_rollups_hold_exact_states_and_accurate_sketches(latency):
    with schema_context(latency.schema_name):
        record(3000, seed=1)
        assert rollup.roll()["minutes"] > 1000
        check_against_raw(rollup_rows())


def test_rolling_twice_changes_nothing_and_late_values_re_roll_their_buckets(latency):
    with schema_context(latency.schema_name):
        record(2000, seed=2)
        rollup.roll()
        first = rollup_rows()
        assert rollup.roll() == {"minutes": 0, "hours": 0, "days": 0}
        assert same_rows(rollup_rows(), first)
        record(300, seed=3, start=START + timedelta(hours=5), hours=2)  # late values in rolled buckets
        rollup.roll()
        rows = rollup_rows()
        assert not same_rows(rows, first)
        check_against_raw(rows)
        with connection.cursor() as cursor:  # the same as rolling everything from scratch
            cursor.execute("DELETE FROM metric_rollups")
            cursor.execute("INSERT INTO metric_dirty (metric_id, minute) SELECT DISTINCT metric_id, "
                           f"date_bin('1 minute', \"timestamp\", {rollup.ORIGIN}) FROM metric_values")
        rollup.roll()
        assert same_rows(rollup_rows(), rows)


@pytest.mark.django_db(transaction=True)
def test_concurrent_roll_ups_leave_one_correct_set_of_rows(monkeypatch):
    # Small chunks, so each run also rolls chunks on its worker connections at once.
    monkeypatch.setattr(rollup, "CHUNK_ROWS", 300)
    tenant = tenant_create(slug="rollup-race").tenant
    with schema_context(tenant.schema_name):
        services.metric_create(name="latency", metric_type="histogram", dimensions=["region"])
        record(2000, seed=4)
    errors = []

    def run() -> None:
        try:
            with schema_context(tenant.schema_name):
                rollup.roll()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(3)]  # those finding a run going skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    with schema_context(tenant.schema_name):
        rows = rollup_rows()
        check_against_raw(rows)
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM metric_dirty")
            assert cursor.fetchone()[0] == 0


def test_metric_days_heavier_than_a_chunk_are_split_and_give_the_same_rows(latency, monkeypatch):
    with schema_context(latency.schema_name):
        record(3000, seed=5, hours=30)
        rollup.roll()
        whole = rollup_rows()
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM metric_rollups")
            cursor.execute("INSERT INTO metric_dirty (metric_id, minute) SELECT metric_id, "
                           f"date_bin('1 minute', \"timestamp\", {rollup.ORIGIN}) FROM metric_values")
        # Every unit is heavier than a chunk: its hours go in several chunks, its day after them.
        monkeypatch.setattr(rollup, "CHUNK_ROWS", 40)
        chunks, split = rollup._chunks(rollup_dirty_hours())
        assert len(split) == 2 and len(chunks) > 10
        rollup.roll()
        assert same_rows(rollup_rows(), whole)
        check_against_raw(whole)


def rollup_dirty_hours() -> list[tuple]:
    hour = rollup.micros_sql("date_trunc('hour', minute)")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT metric_id, {hour}, "
                       "count(DISTINCT minute), count(*) FROM metric_dirty GROUP BY 1, 2 ORDER BY 1, 2")
        return cursor.fetchall()

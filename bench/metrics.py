"""Metrics: ingest rate against raw COPY, roll-up throughput, and a 90-day hourly p95 from rollups
against the same from raw values.

    .venv/bin/python bench/metrics.py [--values 10000000] [--runs 5]

1. Recreates its own database (`<name>_bench_metrics` on the `make run` / DATABASE_URL server) with
   one tenant and 10 histogram metrics with 3 dimensions (region: 4 values, host: 5, status: 3).
2. Records `--values` values through the write path (`metric_values_record_batch`: decoding and
   validation, binary COPY of the values and an INSERT of the minutes they touch, per 1,000
   values), in time order over 90 days, as live senders would. Baseline in the same run: binary
   COPY of the same rows, already typed, into the same table, 1,000 per transaction, timing only
   the COPY (then deleted again).
3. Rolls everything up (`rollup.roll`, as the beat task does): values per second.
4. Asks for one metric's hourly p95 over the 90 days: from rollups (the engine's choice for a range
   this long) and from raw values (rollups disabled), each `--runs` times; prints the medians and
   the largest relative difference between the two answers.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import django_on  # noqa: E402

METRICS = [f"service{n}.latency" for n in range(10)]
REGIONS = ["eu-west", "us-east", "us-west", "ap-south"]
HOSTS = [f"host-{n:02d}" for n in range(5)]
STATUSES = ["ok", "error", "timeout"]
START = datetime(2026, 8, 1, tzinfo=timezone.utc)
DAYS = 90
BATCH = 1000


def batches(total: int, seed: int):  # noqa: ANN201
    """Batches of value dicts in time order (each batch a few minutes of traffic)."""
    rng = random.Random(seed)
    step = DAYS * 86400 / total
    for first in range(0, total, BATCH):
        items = []
        for n in range(first, min(first + BATCH, total)):
            at = START + timedelta(seconds=n * step)
            items.append({"metric": METRICS[n % 10], "value": round(rng.lognormvariate(3, 0.5), 3),
                          "timestamp": at.isoformat(),
                          "dimensions": {"region": rng.choice(REGIONS), "host": rng.choice(HOSTS),
                                         "status": STATUSES[0 if rng.random() < 0.9 else rng.choice((1, 2))]}})
        yield items


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--values", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    django_on("bench_metrics")
    import msgspec
    from django.conf import settings
    from django.db import connection
    from django_tenants.utils import schema_context
    from psycopg.types.json import set_json_dumps

    from apps.insights.engine import query_run
    from apps.metrics import services
    from apps.metrics.ingestion import series_of
    from apps.metrics.queries import rollup
    from apps.tenancy.services import tenant_create

    tenant = tenant_create(slug="bench-metrics", monthly_event_quota=10**9).tenant
    with schema_context(tenant.schema_name):
        services.VALUES.ensure(now=datetime.now(timezone.utc), ahead=1, since=START)
        for name in METRICS:
            services.metric_create(name=name, metric_type="histogram", unit="ms",
                                   dimensions=["region", "host", "status"])
        ids = dict(services.Metric.objects.values_list("name", "id"))

        # Baseline: binary COPY of the same rows, already as typed tuples (no validation), 1,000 per
        # transaction; deleted again afterwards.
        copied, seconds = 0, 0.0
        with connection.cursor() as cursor:
            raw = cursor.cursor
            set_json_dumps(bytes, context=raw)
            for items in batches(args.values, seed=1):
                now = datetime.now(timezone.utc)
                rows = []
                for item in items:
                    dimensions = msgspec.json.encode(item["dimensions"], order="sorted")
                    rows.append((ids[item["metric"]], datetime.fromisoformat(item["timestamp"]), item["value"],
                                 dimensions, series_of(dimensions), now))
                started = time.perf_counter()
                with raw.copy('COPY metric_values (metric_id, "timestamp", value, dimensions, series, received_at) '
                              "FROM STDIN (FORMAT BINARY)") as copy:
                    copy.set_types(["int8", "timestamptz", "float8", "jsonb", "int8", "timestamptz"])
                    for row in rows:
                        copy.write_row(row)
                seconds += time.perf_counter() - started
                copied += len(items)
        copy_rate = copied / seconds
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE metric_values")
        print(f"raw COPY baseline: {copy_rate:,.0f} values/s ({copied:,} values)", flush=True)

        written, started = 0, time.perf_counter()
        for items in batches(args.values, seed=1):
            answer = services.metric_values_record_batch(data={"values": items})
            written += answer["accepted"]
        ingest_seconds = time.perf_counter() - started
        print(f"write path (decode, validate, COPY values, queue dirty minutes; 1,000 per batch): "
              f"{written / ingest_seconds:,.0f} values/s = {written / ingest_seconds / copy_rate:.0%} of raw COPY",
              flush=True)

        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE metric_values")
            cursor.execute("SELECT count(*) FROM metric_dirty")
            dirty = cursor.fetchone()[0]
        started = time.perf_counter()
        done = rollup.roll()
        roll_seconds = time.perf_counter() - started
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE metric_rollups")
            cursor.execute("SELECT granularity, count(*) FROM metric_rollups GROUP BY 1 ORDER BY 1")
            sizes = dict(cursor.fetchall())
        print(f"roll-up of {written:,} values ({dirty:,} dirty-minute rows; {done['minutes']:,} minutes, "
              f"{done['hours']:,} hours, {done['days']:,} days): {roll_seconds:.1f} s = "
              f"{written / roll_seconds:,.0f} values/s; rows: {sizes}", flush=True)

        spec = {"kind": "metric", "metric": METRICS[0], "aggregation": "p95", "granularity": "hour",
                "timezone": "UTC", "date_from": START.date().isoformat(),
                "date_to": (START + timedelta(days=DAYS)).date().isoformat(), "refresh": True}

        def timed(runs: int) -> tuple[float, dict]:
            samples, answer = [], None
            for _ in range(runs):
                started = time.perf_counter()
                answer = query_run(data=spec, tenant=tenant)
                samples.append(time.perf_counter() - started)
            return statistics.median(samples), answer

        rolled_time, rolled = timed(args.runs)
        settings.METRIC_ROLLUP_AFTER_HOURS = 10**6
        raw_time, exact = timed(args.runs)
        assert rolled["from_rollups"] and not exact["from_rollups"]
        worst = max((abs(a - b) / abs(b) for a, b in zip(rolled["series"][0]["values"], exact["series"][0]["values"])
                     if a is not None and b is not None and b), default=math.nan)
        buckets = len(exact["series"][0]["values"])
        print(f"90-day hourly p95 of {METRICS[0]} ({buckets:,} buckets, {written // 10:,} values): "
              f"from rollups {rolled_time * 1000:.1f} ms, from raw values {raw_time * 1000:.1f} ms "
              f"(median of {args.runs}); largest relative difference {worst:.4%}")


if __name__ == "__main__":
    main()

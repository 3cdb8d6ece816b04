"""Segments: the refresh of a 3-rule behavioural segment over 10 million events and 200,000
persons, and what filtering a funnel by it costs.

    .venv/bin/python bench/segments.py [--events 10000000] [--persons 200000] [--runs 5] [--reuse]

1. Uses the dataset of bench/query.py, in the same database (`<name>_bench_query`): `--reuse`
   keeps a database an earlier run of either benchmark loaded with the same sizes.
2. Creates a segment "engaged, no purchase": viewed a product at least 3 times, added to cart at
   least once, and did not check out, each in the last 30 days (now = the end of the data).
3. Times the refresh (`segment_refresh`: evaluate, replace the members, record the size), median of
   `--runs`. Baseline in the same run: the same evaluation counted only (SELECT count(*) over the
   members query), so the difference is what materialising costs.
4. Times a 3-step funnel over the last 30 days without a segment filter, filtered by that segment,
   and filtered by a broad segment (persons who viewed a page in 90 days: most of them), which
   shows what the filter costs when it removes little (recomputed each time, medians of `--runs`).
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import bench_database_url, database_exists, django_on, timed_median_ms  # noqa: E402
from bench.query import dataset_tenant  # noqa: E402

NOW = datetime(2026, 10, 30, tzinfo=timezone.utc)
RULES = {"op": "and", "rules": [
    {"event": "Viewed Product", "operator": "gte", "value": 3, "within": "30d"},
    {"event": "Added to Cart", "operator": "gte", "value": 1, "within": "30d"},
    {"event": "Checked Out", "operator": "eq", "value": 0, "within": "30d"},
]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--persons", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--reuse", action="store_true", help="keep a database loaded by an earlier run")
    args = parser.parse_args()

    reuse = args.reuse and database_exists(bench_database_url("bench_query"))
    django_on("bench_query", recreate=not reuse, migrate=True)
    from django.conf import settings
    from django.db import connection, transaction
    from django_tenants.utils import schema_context

    from apps.insights.engine import query_run
    from apps.insights.queries.segment import members_sql
    from apps.segments import services
    from apps.segments.models import Segment

    tenant = dataset_tenant(args.events, args.persons)

    with schema_context(tenant.schema_name):
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM events")
            events = cursor.fetchone()[0]
            cursor.execute("SELECT count(*) FROM persons")
            persons = cursor.fetchone()[0]
        if (events, persons) != (args.events, args.persons):
            sys.exit(f"The database holds another load ({events:,} events); run without --reuse.")
        print(f"dataset: {events:,} events, {persons:,} persons", flush=True)
        Segment.objects.filter(name="engaged-no-purchase").delete()
        segment = services.segment_create(name="engaged-no-purchase", rules=RULES, refresh=False)

        sql, params = members_sql(segment.rules, NOW)

        def count_only() -> int:
            with transaction.atomic(), connection.cursor() as cursor:  # the refresh's memory setting
                cursor.execute("SELECT set_config('work_mem', %s, true)", [f"{settings.QUERY_WORK_MEM_MB}MB"])
                cursor.execute(f"SELECT count(*) FROM ({sql}) found", params)
                return cursor.fetchone()[0]

        baseline_ms, expected = timed_median_ms(count_only, args.runs)
        refresh_ms, size = timed_median_ms(lambda: services.segment_refresh(segment_id=segment.pk, now=NOW), args.runs)
        assert size == expected, (size, expected)
        print(f"refresh of a 3-rule behavioural segment ({size:,} members): {refresh_ms:,.0f} ms "
              f"(median of {args.runs}); baseline, the evaluation alone (count of the members query): "
              f"{baseline_ms:,.0f} ms", flush=True)

        # A broad segment too (most persons): what the filter itself costs when it removes little.
        Segment.objects.filter(name="active").delete()
        active = services.segment_create(name="active", rules={"op": "and", "rules": [
            {"event": "Viewed Page", "operator": "gte", "value": 1, "within": "90d"}]}, refresh=False)
        active_ms, active_size = timed_median_ms(lambda: services.segment_refresh(segment_id=active.pk, now=NOW), 1)
        print(f"refresh of a 1-rule segment of most persons ({active_size:,} members): {active_ms:,.0f} ms", flush=True)

        funnel = {"kind": "funnel", "steps": [{"event": "Viewed Product"}, {"event": "Added to Cart"},
                                              {"event": "Checked Out"}], "window": "14d",
                  "date_from": "2026-09-30", "date_to": "2026-10-30", "refresh": True}
        plain_ms, plain = timed_median_ms(lambda: query_run(data=funnel, tenant=tenant), args.runs)
        print(f"funnel, 3 steps, 30 days, no segment: {plain_ms:,.0f} ms ({plain['steps'][0]['count']:,} entered; "
              f"median of {args.runs})", flush=True)
        for name, members in (("engaged-no-purchase", size), ("active", active_size)):
            filtered_ms, filtered = timed_median_ms(
                lambda name=name: query_run(data={**funnel, "segment": name}, tenant=tenant), args.runs)
            assert filtered["steps"][0]["count"] <= members
            print(f"  filtered by {name} ({members:,} members): {filtered_ms:,.0f} ms "
                  f"({filtered['steps'][0]['count']:,} entered): {filtered_ms - plain_ms:+,.0f} ms", flush=True)


if __name__ == "__main__":
    main()

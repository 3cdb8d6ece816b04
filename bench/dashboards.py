"""Dashboards: cold and warm `GET /api/v1/dashboards/{id}/data` of a 10-widget dashboard over 10
million events.

    .venv/bin/python bench/dashboards.py [--events 10000000] [--persons 200000] [--runs 5] [--reuse]

1. Uses the dataset of bench/query.py, in the same database (`<name>_bench_query`): `--reuse`
   keeps a database an earlier run of bench/query.py or bench/segments.py loaded with the same sizes.
2. Creates a dashboard of 10 widgets over the last 30 days: numbers, lines, bars, a breakdown
   table, a unique-persons trend, a funnel and a retention grid.
3. Requests its data through the whole Django stack (routing by key, DRF, JSON), in process:
   - cold: the cache emptied before each request (the whole cache of the `make run` Redis
     database), so every widget is computed;
   - warm: every widget read from the Redis cache;
   medians of `--runs`. Baseline in the same run: the sum of the widgets' own query times when each
   is run alone through the engine (cold), which is what the cold request cannot beat without
   running widgets in parallel.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import bench_database_url, database_exists, django_on, timed_median_ms  # noqa: E402
from bench.query import dataset_tenant  # noqa: E402

RANGE = {"date_from": "2026-09-30", "date_to": "2026-10-30"}
WIDGETS = [
    ("views", "number", {"kind": "trends", "series": [{"event": "Viewed Page"}], "interval": "day"}),
    ("signups", "number", {"kind": "trends", "series": [{"event": "Signed Up"}], "interval": "day"}),
    ("daily-views", "line", {"kind": "trends", "series": [{"event": "Viewed Page"}, {"event": "Searched"}],
                             "interval": "day"}),
    ("daily-active", "line", {"kind": "trends", "series": [{"event": "Logged In", "math": "unique_persons"}],
                              "interval": "day"}),
    ("hourly-checkouts", "bar", {"kind": "trends", "series": [{"event": "Checked Out"}], "interval": "hour"}),
    ("weekly-carts", "bar", {"kind": "trends", "series": [{"event": "Added to Cart"}], "interval": "week"}),
    ("paths", "table", {"kind": "trends", "series": [{"event": "Viewed Product"}], "interval": "week",
                        "breakdown": {"property": "path", "limit": 10}}),
    ("browsers", "table", {"kind": "trends", "series": [{"event": "Opened App"}], "interval": "day",
                           "breakdown": {"property": "browser", "limit": 5}}),
    ("checkout", "funnel", {"kind": "funnel", "steps": [{"event": "Viewed Product"}, {"event": "Added to Cart"},
                                                        {"event": "Checked Out"}], "window": "7d"}),
    ("returning", "retention", {"kind": "retention", "start_event": "Signed Up", "return_event": "Logged In",
                                "period": "week", "periods": 4}),
]


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
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client
    from django_tenants.utils import schema_context

    from apps.dashboards import services
    from apps.dashboards.models import Dashboard
    from apps.insights.engine import query_run
    from apps.tenancy.services import api_key_create

    settings.ALLOWED_HOSTS = ["*"]
    tenant = dataset_tenant(args.events, args.persons)
    key = api_key_create(tenant=tenant, kind="secret", name="bench-dashboards").raw

    with schema_context(tenant.schema_name):
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM events")
            events = cursor.fetchone()[0]
        if events != args.events:
            sys.exit(f"The database holds another load ({events:,} events); run without --reuse.")
        Dashboard.objects.filter(name="bench").delete()
        dashboard = services.dashboard_create(name="bench", display_name="Bench")
        for name, widget_type, spec in WIDGETS:
            services.widget_create(dashboard=dashboard, tenant=tenant, name=name, widget_type=widget_type,
                                   query_config={**spec, **RANGE})
        alone = []
        for name, _, spec in WIDGETS:
            started = time.perf_counter()
            query_run(data={**spec, **RANGE, "refresh": True}, tenant=tenant)
            alone.append((name, (time.perf_counter() - started) * 1000))
    connection.set_schema_to_public()
    print(f"dataset: {events:,} events; 10 widgets over 30 days", flush=True)
    print("each widget alone (cold): " + ", ".join(f"{name} {ms:,.0f} ms" for name, ms in alone))
    print(f"baseline, the sum of the widgets alone: {sum(ms for _, ms in alone):,.0f} ms", flush=True)

    client = Client()
    path = f"/api/v1/dashboards/{dashboard.pk}/data"

    def request() -> dict:
        response = client.get(path, HTTP_AUTHORIZATION=f"Bearer {key}")
        assert response.status_code == 200, response.content[:300]
        body = response.json()
        failed = [w["name"] for w in body["widgets"] if "error" in w]
        assert not failed, failed
        return body

    cold_ms, cold = timed_median_ms(request, args.runs, before=cache.clear)
    assert not any(w["cached"] for w in cold["widgets"])
    request()
    warm_ms, warm = timed_median_ms(request, max(args.runs, 20))
    assert all(w["cached"] for w in warm["widgets"])
    print(f"GET data, cold (cache emptied): {cold_ms:,.0f} ms (median of {args.runs}); target under 3,000 ms")
    print(f"GET data, warm (all 10 from the cache): {warm_ms:,.1f} ms (median of {max(args.runs, 20)}); "
          "target under 50 ms")


if __name__ == "__main__":
    main()

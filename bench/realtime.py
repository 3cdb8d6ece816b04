"""Real time: what `GET /api/v1/realtime` costs for a small tenant and for one with a large event
history, and what keeping its counters costs ingestion.

    .venv/bin/python bench/realtime.py [--history 1000000] [--calls 500] [--batch 100] [--rounds 30]

1. Recreates its own database (`<name>_bench_realtime` on the `make run` / DATABASE_URL server),
   migrates it and creates two tenants: `small` (only the live traffic below) and `large`, into
   whose events table `--history` events over the last 7 days are copied (INSERT … SELECT from
   generate_series, 5,000 persons, 20 event names).
2. Both get the same live traffic through the real ingestion endpoint (POST /v1/batch, Django's
   full stack in this process, real PostgreSQL and Redis): 20 batches of `--batch` events over
   the current minute, so their counters hold the same figures.
3. Latency of GET /api/v1/realtime with the secret key, `--calls` calls per tenant after 20 warm-up
   calls, interleaved (small, large, small, ...): p50 / p95 / max, in this process (no HTTP socket).
4. Ingestion cost of the counters, in the same run: `--rounds` interleaved rounds of one
   `--batch`-event POST /v1/batch with the counters and one without (realtime_record replaced by a
   no-op); medians and the difference. Also realtime_record alone (the one pipelined round trip),
   median over the same batches.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import django_on  # noqa: E402


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def batch_body(size: int, run: str) -> bytes:
    import json

    return json.dumps({"batch": [
        {"type": "page" if n % 4 == 0 else "track", "userId": f"user-{n % 37}", "event": f"Event {n % 9}",
         "properties": {"path": f"/page/{n % 13}"}, "messageId": f"{run}-{n}"} for n in range(size)]}).encode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--history", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()

    django_on("bench_realtime")
    from django.db import connection
    from django.test import Client
    from django_tenants.utils import schema_context

    from apps.core.redis import get_redis
    from apps.events import realtime
    from apps.events.ingestion import Clock, parse_segment
    from apps.events.partitions import partitions_ensure
    from apps.tenancy.models import Tenant
    from apps.tenancy.services import tenant_create

    for key in get_redis().scan_iter("rt:t_bench_*"):
        get_redis().delete(key)
    small = tenant_create(slug="bench-small", name="Small")
    large = tenant_create(slug="bench-large", name="Large")
    Tenant.objects.filter(pk__in=[small.tenant.pk, large.tenant.pk]).update(monthly_event_quota=10**12)
    now = datetime.now(timezone.utc)

    started = time.perf_counter()
    with schema_context(large.tenant.schema_name), connection.cursor() as cursor:
        partitions_ensure(since=now - timedelta(days=8))
        cursor.execute("""
            INSERT INTO events ("timestamp", received_at, event_type, event, distinct_id, person_id, user_id,
                                anonymous_id, session_id, message_id, properties, context)
            SELECT ts, ts, 'track', 'Event ' || (n %% 20), 'hist-' || (n %% 5000), 1 + n %% 5000,
                   'hist-' || (n %% 5000), NULL, NULL, 'hist-' || n,
                   jsonb_build_object('path', '/p/' || (n %% 50)), '{}'::jsonb
            FROM (SELECT n, %s::timestamptz - (n %% 604800) * interval '1 second' AS ts
                  FROM generate_series(1, %s) n) s
        """, [now - timedelta(hours=1), args.history])
        cursor.execute("ANALYZE events")
        cursor.execute("SELECT count(*) FROM events")
        copied = cursor.fetchone()[0]
    print(f"history: {copied:,} events copied into {large.tenant.schema_name} in {time.perf_counter() - started:.1f} s")

    client = Client()
    ingest_headers = {
        handle.tenant.slug: {"HTTP_AUTHORIZATION": f"Bearer {handle.write_key.raw}", "HTTP_HOST": "localhost"}
        for handle in (small, large)}
    read_headers = {
        handle.tenant.slug: {"HTTP_AUTHORIZATION": f"Bearer {handle.secret_key.raw}", "HTTP_HOST": "localhost"}
        for handle in (small, large)}

    def post(slug: str, body: bytes) -> float:
        began = time.perf_counter()
        response = client.post("/v1/batch", body, content_type="application/json", **ingest_headers[slug])
        took = time.perf_counter() - began
        assert response.status_code == 200, response.content
        return took

    for n in range(20):
        for slug in ingest_headers:
            post(slug, batch_body(args.batch, f"live-{n}"))
    figures = {}
    for slug in read_headers:
        response = client.get("/api/v1/realtime", **read_headers[slug])
        assert response.status_code == 200, response.content
        figures[slug] = response.json()
    print("live traffic: " + ", ".join(f"{slug} {body['events']} events / {body['active_persons']['last_5_minutes']} "
                                       f"persons" for slug, body in figures.items()))

    # 3. endpoint latency, interleaved
    samples: dict[str, list[float]] = {slug: [] for slug in read_headers}
    for n in range(20 + args.calls):
        for slug in read_headers:
            began = time.perf_counter()
            response = client.get("/api/v1/realtime", **read_headers[slug])
            took = time.perf_counter() - began
            assert response.status_code == 200
            if n >= 20:
                samples[slug].append(took * 1000)
    print(f"\nGET /api/v1/realtime, {args.calls} calls per tenant (ms):")
    for slug, values in samples.items():
        history = copied if slug == "bench-large" else 0
        print(f"  {slug:12} history {history:>9,} events   p50 {pct(values, 50):6.2f}   p95 {pct(values, 95):6.2f}   "
              f"max {max(values):6.2f}")

    # 4. ingestion cost of the counters, interleaved rounds
    record = realtime.realtime_record
    with_counters, without = [], []
    for n in range(args.rounds):
        body_on, body_off = batch_body(args.batch, f"on-{n}"), batch_body(args.batch, f"off-{n}")
        realtime.realtime_record = record
        with_counters.append(post("bench-small", body_on) * 1000)
        realtime.realtime_record = lambda **kwargs: True
        without.append(post("bench-small", body_off) * 1000)
    realtime.realtime_record = record
    on, off = statistics.median(with_counters), statistics.median(without)
    print(f"\nPOST /v1/batch of {args.batch} events, {args.rounds} interleaved rounds (median ms):")
    print(f"  with counters {on:7.2f}   without {off:7.2f}   difference {on - off:+.2f} ms per batch "
          f"({(on - off) / off * 100:+.1f}%)")

    clock = Clock(received_at=now, sent_at=None, retention_days=3650)
    rows = [parse_segment({"type": "track", "userId": f"user-{n % 37}", "event": f"Event {n % 9}",
                           "messageId": str(uuid.uuid4())}, clock) for n in range(args.batch)]
    events = realtime.events_of_rows(rows)
    alone = []
    for _ in range(max(args.rounds, 50)):
        began = time.perf_counter()
        assert realtime.realtime_record(schema="t_bench_cost", events=events, received_at=datetime.now(timezone.utc))
        alone.append((time.perf_counter() - began) * 1000)
    print(f"  realtime_record alone (one pipeline, {args.batch} events): median {statistics.median(alone):.3f} ms, "
          f"p95 {pct(alone, 95):.3f} ms")
    for key in get_redis().scan_iter("rt:t_bench_*"):
        get_redis().delete(key)


if __name__ == "__main__":
    main()

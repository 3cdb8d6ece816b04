"""Event and property definitions: what counting them costs ingestion, and what folding the counts
into the tables costs the beat task.

    .venv/bin/python bench/definitions.py [--rounds 40] [--batch 100] [--keys 8]

1. Recreates its own database (`<name>_bench_definitions` on the `make run` / DATABASE_URL server),
   migrates it and creates one tenant.
2. Ingestion, in one run: interleaved rounds (with, without, with, ...) of one single-event
   POST /v1/track and one `--batch`-event POST /v1/batch through Django's full stack in this
   process (real PostgreSQL and Redis), each event carrying `--keys` properties of mixed types
   (9 event names, one an identify with 2 traits every 10th event). "Without" replaces
   apps.events.definitions.definitions_counts by a function counting nothing, so the real-time
   counters' pipeline still runs: the difference is the definitions alone. Medians and the difference.
   Also definitions_counts alone (the in-process aggregation of a batch) and the shared pipeline
   with and without the definitions staged.
3. Folding: N counts pending in Redis (from N events over 9 names and `--keys` keys, then over
   N distinct names and keys: the worst case, every field new), then definitions_flush timed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import django_on  # noqa: E402


def properties(n: int, keys: int) -> dict:
    kinds = [lambda: f"/page/{n % 13}", lambda: n % 100, lambda: n % 2 == 0, lambda: "2026-12-01T10:00:00Z",
             lambda: {"nested": n}, lambda: ["a", "b"], lambda: None, lambda: f"value {n % 7}"]
    return {f"prop_{k}": kinds[k % len(kinds)]() for k in range(keys)}


def message(n: int, run: str, keys: int) -> dict:
    if n % 10 == 9:
        return {"type": "identify", "userId": f"user-{n % 37}", "traits": {"plan": "pro", "seats": n % 5},
                "messageId": f"{run}-{n}"}
    return {"type": "track", "userId": f"user-{n % 37}", "event": f"Event {n % 9}",
            "properties": properties(n, keys), "messageId": f"{run}-{n}"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--keys", type=int, default=8)
    args = parser.parse_args()

    django_on("bench_definitions")
    from django.test import Client

    from apps.core.redis import get_redis
    from apps.events import definitions, realtime
    from apps.events.ingestion import Clock, parse_segment
    from apps.tenancy.models import Tenant
    from apps.tenancy.services import tenant_create

    for pattern in ("rt:t_bench_*", "defs:t_bench_*"):
        for key in get_redis().scan_iter(pattern):
            get_redis().delete(key)
    handle = tenant_create(slug="bench-defs", name="Definitions")
    Tenant.objects.filter(pk=handle.tenant.pk).update(monthly_event_quota=10**12)
    schema = handle.tenant.schema_name
    client = Client()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {handle.write_key.raw}", "HTTP_HOST": "localhost"}

    def post(path: str, body: dict) -> float:
        encoded = json.dumps(body).encode()
        began = time.perf_counter()
        response = client.post(path, encoded, content_type="application/json", **headers)
        took = time.perf_counter() - began
        assert response.status_code == 200, response.content
        return took * 1000

    counts = definitions.definitions_counts
    none = lambda **kwargs: {}  # noqa: E731
    for n in range(10):  # warm up: connections, prepared statements, partitions
        post("/v1/track", message(n % 9, f"warm-{n}", args.keys))
        post("/v1/batch", {"batch": [message(i, f"warmb-{n}", args.keys) for i in range(args.batch)]})
    figures: dict[str, list[float]] = {name: [] for name in ("single on", "single off", "batch on", "batch off")}
    for n in range(args.rounds):
        for state in ("on", "off"):
            definitions.definitions_counts = counts if state == "on" else none
            figures[f"single {state}"].append(post("/v1/track", message(n % 9, f"s-{state}-{n}", args.keys)))
            figures[f"batch {state}"].append(post("/v1/batch", {"batch": [
                message(i, f"b-{state}-{n}", args.keys) for i in range(args.batch)]}))
    definitions.definitions_counts = counts
    medians = {name: statistics.median(values) for name, values in figures.items()}
    print(f"ingestion, {args.rounds} interleaved rounds, {args.keys} properties an event (median ms):")
    for what, label in (("single", "POST /v1/track, 1 event"), ("batch", f"POST /v1/batch, {args.batch} events")):
        on, off = medians[f"{what} on"], medians[f"{what} off"]
        print(f"  {label:30} with definitions {on:7.2f}   without {off:7.2f}   difference {on - off:+.2f} ms "
              f"({(on - off) / off * 100:+.1f}%)")

    now = datetime.now(timezone.utc)
    clock = Clock(received_at=now, sent_at=None, retention_days=3650)
    rows = [parse_segment({**message(n, str(uuid.uuid4()), args.keys), "messageId": str(uuid.uuid4())}, clock)
            for n in range(args.batch)]
    aggregate, with_stage, without_stage = [], [], []
    events = realtime.events_of_rows(rows)
    for _ in range(max(args.rounds, 50)):
        began = time.perf_counter()
        pending = definitions.definitions_counts(rows=rows, received_at=now)
        aggregate.append((time.perf_counter() - began) * 1000)
        began = time.perf_counter()
        realtime.realtime_record(schema="t_bench_cost", events=events, received_at=now,
                                 also=lambda pipe: definitions.definitions_stage(pipe, schema="t_bench_cost",
                                                                                  pending=pending))
        with_stage.append((time.perf_counter() - began) * 1000)
        began = time.perf_counter()
        realtime.realtime_record(schema="t_bench_cost", events=events, received_at=now)
        without_stage.append((time.perf_counter() - began) * 1000)
    print(f"\n{args.batch} events in process (median ms): definitions_counts {statistics.median(aggregate):.3f} "
          f"({len(pending)} fields); the shared pipeline with them staged {statistics.median(with_stage):.3f}, "
          f"without {statistics.median(without_stage):.3f}")

    print("\nfold (definitions_flush) of pending counts:")
    for size, distinct in ((10_000, False), (100_000, False), (10_000, True)):
        for key in get_redis().scan_iter(f"defs:{schema}:*"):
            get_redis().delete(key)
        for start in range(0, size, 1000):
            if distinct:  # every event a new name with its own keys: every field new
                batch = [parse_segment({"type": "track", "userId": "u", "event": f"Name {start + i}",
                                        "properties": {f"key_{start + i}_{k}": k for k in range(args.keys)},
                                        "messageId": str(uuid.uuid4())}, clock) for i in range(1000)]
            else:
                batch = [parse_segment({**message(start + i, str(uuid.uuid4()), args.keys),
                                        "messageId": str(uuid.uuid4())}, clock) for i in range(1000)]
            pending = definitions.definitions_counts(rows=batch, received_at=now)
            pipe = get_redis().pipeline(transaction=True)
            definitions.definitions_stage(pipe, schema=schema, pending=pending)
            pipe.execute()
        fields = get_redis().hlen(f"defs:{schema}:n")
        began = time.perf_counter()
        counted = definitions.definitions_flush(schema_name=schema)
        took = (time.perf_counter() - began) * 1000
        assert counted == size, (counted, size)
        shape = "every name and key new" if distinct else f"9 names, {args.keys} keys"
        print(f"  {size:>7,} events ({shape}, {fields:,} fields pending): {took:8.1f} ms")
    for pattern in ("rt:t_bench_*", "defs:t_bench_*"):
        for key in get_redis().scan_iter(pattern):
            get_redis().delete(key)


if __name__ == "__main__":
    main()

"""Events per second one SDK client pushes through the real server, with default settings.

    .venv/bin/python bench/sdk.py [--events 50000] [--workers 3]

1. Starts gunicorn as in production over a fresh database with one tenant (bench/common.py).
2. One `AnalyticsClient` with its defaults (batches of 100, gzip, one request at a time) tracks
   `--events` events as fast as the caller can enqueue them, then closes (which flushes). Timed
   from the first `track` to the end of the close; the stored rows are counted afterwards. Then
   the same with batches of 1,000 (`flush_at=1000`).
3. Baseline in the same run, same server: the same events as pre-built /v1/batch bodies of 100,
   posted one at a time over one keep-alive connection by a minimal HTTP client (what the SDK
   does, minus the SDK), and as bodies of 1,000 over two connections (the server's batch path at
   its best, as in bench/ingest.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "sdk" / "python" / "src"))

from analytics_sdk import AnalyticsClient  # noqa: E402

from bench.common import production_server  # noqa: E402
from bench.ingest import MARK, load  # noqa: E402

NAMES = ["Viewed Page", "Clicked Button", "Added to Cart", "Checked Out", "Signed Up"]


async def sdk_run(url: str, key: str, count: int, **options: int) -> tuple[float, dict]:
    started = time.perf_counter()
    async with AnalyticsClient(api_key=key, host=url, **options) as client:
        for n in range(count):
            await client.events.track(NAMES[n % 5], distinct_id=f"user-{n % 5000}",
                                      properties={"n": n, "plan": "pro" if n % 3 else "free", "price": n % 97})
    elapsed = time.perf_counter() - started
    return elapsed, vars(client.stats)


def stored(database_url: str, schema: str) -> int:
    import psycopg

    with psycopg.connect(database_url) as conn:
        return conn.execute(f'SELECT count(*) FROM "{schema}".events').fetchone()[0]


def raw_bodies(size: int, batches: int) -> list[bytes]:
    now = datetime.now(timezone.utc).isoformat()
    return [json.dumps({"batch": [
        {"type": "track", "event": NAMES[i % 5], "userId": f"user-{i % 5000}", "timestamp": now,
         "messageId": f"{MARK}-{b}-{i}", "properties": {"n": i, "plan": "pro" if i % 3 else "free", "price": i % 97}}
        for i in range(size)], "sentAt": now}).encode() for b in range(batches)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10, help="length of each baseline run")
    args = parser.parse_args()

    with production_server("bench_sdk", workers=args.workers) as server:
        key, schema = server["tenant"]["write_key"], server["tenant"]["schema_name"]
        asyncio.run(sdk_run(server["url"], key, 500))  # warm-up: every worker loads its code
        before = stored(server["database_url"], schema)
        elapsed, stats = asyncio.run(sdk_run(server["url"], key, args.events))
        landed = stored(server["database_url"], schema) - before
        big_elapsed, _ = asyncio.run(sdk_run(server["url"], key, args.events, flush_at=1000))
        _, sent_100, errors_100 = asyncio.run(load(server["port"], key, "/v1/batch", raw_bodies(100, 50), True, 1,
                                                   args.seconds))
        _, sent_1000, errors_1000 = asyncio.run(load(server["port"], key, "/v1/batch", raw_bodies(1000, 20), True,
                                                     2, args.seconds))

    sdk_rate = args.events / elapsed
    raw_100 = sent_100 * 100 / args.seconds
    raw_1000 = sent_1000 * 1000 / args.seconds
    print(f"gunicorn: {args.workers} workers; SDK and load in one process; 2 cores shared with PostgreSQL")
    print(f"SDK, one AnalyticsClient with default settings: {args.events:,} events in {elapsed:.2f} s "
          f"= {sdk_rate:,.0f} events/s; stored {landed:,} (lost {args.events - landed}); stats {stats}")
    print(f"SDK with flush_at=1000 (batches of 1,000): {args.events / big_elapsed:,.0f} events/s")
    print(f"baseline, raw /v1/batch of 100 (gzip), 1 connection: {raw_100:,.0f} events/s ({errors_100} non-200)")
    print(f"baseline, raw /v1/batch of 1,000 (gzip), 2 connections: {raw_1000:,.0f} events/s ({errors_1000} non-200)")
    print(f"SDK / raw batches of 100 = {sdk_rate / raw_100:.0%}; SDK / raw batches of 1,000 = {sdk_rate / raw_1000:.0%}")


if __name__ == "__main__":
    main()

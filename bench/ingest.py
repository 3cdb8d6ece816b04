"""Ingestion throughput and latency, over HTTP, against gunicorn as in production.

    .venv/bin/python bench/ingest.py [--seconds 20] [--workers 3] [--batch-concurrency 2] [--single-concurrency 8]

1. Recreates its own database (`<name>_bench_ingest` on the `make run` / DATABASE_URL server),
   migrates it and creates one tenant.
2. Starts gunicorn (deploy/gunicorn.conf.py, production settings) on a free port.
3. From this process (asyncio, keep-alive connections, a separate process from the server):
   a. 1,000-event batches to /v1/batch for a bounded time: events/s, p50/p95/p99 request latency,
      server CPU-seconds (gunicorn processes) per 1,000 events;
   b. single events to /v1/track: requests/s and p99.
4. Baseline in the same run: raw COPY of the same rows into the same table, one transaction per
   1,000 rows, with psycopg straight to PostgreSQL.
5. The tracking plan's cost, in the same run (`--plan-seconds`, 0 to skip): a plan of 20 events
   with 5 properties each (the batches' events conform to it) in mode `allow`, then `block`, then
   no plan again; the same 1,000-event batches and single events for each; server CPU per event.
6. The cost of the API key revocation check on the hot path (docs/governance.md): in this process,
   against the same PostgreSQL and Redis, the cached key resolution every ingestion request makes,
   timed with the check (one Redis GET of the revocation epoch) and without it, interleaved rounds.
Prints the figures and the ratio of batch ingestion to raw COPY.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import production_server  # noqa: E402

MARK = "RUN#####"  # replaced per request by a counter, so every request carries new message ids
EVENT_NAMES = ["Viewed Page", "Clicked Button", "Added to Cart", "Checked Out", "Signed Up"]


def make_event(i: int, now: datetime) -> dict:
    user = random.randrange(5000)
    return {
        "type": "track",
        "event": EVENT_NAMES[i % len(EVENT_NAMES)],
        "userId": f"user-{user}" if user % 3 else None,
        "anonymousId": f"anon-{user}",
        "messageId": f"{MARK}-{i}",
        "timestamp": (now - timedelta(seconds=random.randrange(86400))).isoformat(),
        "properties": {"path": f"/p/{i % 50}", "price": round(random.random() * 100, 2), "plan": "pro"},
        "context": {"library": {"name": "bench", "version": "1"}, "ip": "127.0.0.1",
                    "userAgent": "Mozilla/5.0 (bench)"},
    }


def plan_events() -> list[dict]:
    """20 planned events of 5 properties each; the benchmark's own 5 events are among them, with
    the properties they send, so batches conform (the check runs in full, nothing is refused)."""
    own = [{"name": "path", "type": "string", "required": True},
           {"name": "price", "type": "number", "required": True},
           {"name": "plan", "type": "string", "required": True, "allowed_values": ["free", "pro", "team"]},
           {"name": "coupon", "type": "string"}, {"name": "quantity", "type": "integer"}]
    others = [{"name": f"p{n}", "type": kind} for n, kind in enumerate(["string", "number", "boolean", "datetime",
                                                                        "array"])]
    return ([{"name": name, "properties": own} for name in EVENT_NAMES]
            + [{"name": f"Planned Event {n}", "properties": others} for n in range(15)])


def api_call(port: int, key: str, method: str, path: str, body: dict) -> dict:
    import urllib.request

    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(), method=method,
                                     headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json",
                                              "Host": "localhost"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def cpu_seconds(pids: list[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
        except FileNotFoundError:
            pass
    return total


def process_tree(root: int) -> list[int]:
    children = subprocess.run(["ps", "-o", "pid=", "--ppid", str(root)], capture_output=True, text=True).stdout.split()
    return [root, *(int(pid) for pid in children)]


class Http:
    """A minimal keep-alive HTTP/1.1 client: low overhead, so the server is what gets measured."""

    def __init__(self, port: int, key: str) -> None:
        self.port = port
        self.auth = f"Bearer {key}"

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    async def post(self, path: str, body: bytes, gzipped: bool) -> int:
        head = (f"POST {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: {self.auth}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                + ("Content-Encoding: gzip\r\n" if gzipped else "") + "\r\n").encode()
        self.writer.write(head + body)
        await self.writer.drain()
        status_line = await self.reader.readline()
        length, close = 0, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
            elif name.lower() == "connection" and value.strip().lower() == "close":
                close = True
        await self.reader.readexactly(length)
        if close:  # gunicorn's sync workers close after each response: reconnect (counted in latency)
            self.writer.close()
            await self.open()
        return int(status_line.split()[1])


async def load(port: int, key: str, path: str, bodies: list[bytes], gzipped: bool, concurrency: int,
               seconds: float) -> tuple[list[float], int, int]:
    latencies: list[float] = []
    errors = 0
    sent = 0
    counter = 0
    deadline = time.perf_counter() + seconds

    async def worker(n: int) -> None:
        nonlocal errors, sent, counter
        client = Http(port, key)
        await client.open()
        i = n
        while time.perf_counter() < deadline:
            counter += 1
            body = bodies[i % len(bodies)].replace(MARK.encode(), f"{counter:08d}".encode())
            if gzipped:
                body = gzip.compress(body, 1)
            started = time.perf_counter()
            status = await client.post(path, body, gzipped)
            latencies.append(time.perf_counter() - started)
            if status != 200:
                errors += 1
            sent += 1
            i += concurrency
        client.writer.close()

    await asyncio.gather(*(worker(n) for n in range(concurrency)))
    return latencies, sent, errors


def pct(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=1000, method="inclusive")[int(p * 10) - 1] * 1000 if len(values) > 1 else 0


def raw_copy_rate(url: str, schema: str, batches: list[list[dict]], seconds: float) -> float:
    """Events/s of psycopg COPY of the same rows into the same table, one transaction per batch.
    The rows are rendered once beforehand: this measures PostgreSQL, not the client."""
    import psycopg

    columns = ('"timestamp", received_at, event_type, event, distinct_id, person_id, user_id, anonymous_id, '
               "session_id, message_id, properties, context")
    received = datetime.now(timezone.utc)
    rendered = []
    with psycopg.connect(url) as conn:
        for batch in batches:
            rows = []
            for n, event in enumerate(batch):
                values = [event["timestamp"], received.isoformat(), "track", event["event"],
                          event["userId"] or event["anonymousId"], str(n + 1), event["userId"],
                          event["anonymousId"], None,
                          f"copy-{n}-{uuid.uuid4()}", json.dumps(event["properties"]), json.dumps(event["context"])]
                rows.append("\t".join("\\N" if v is None else _copy_text(v) for v in values))
            rendered.append(("\n".join(rows) + "\n").encode())
        conn.execute(f'SET search_path = "{schema}"')
        conn.commit()
        written = 0
        i = 0
        started = time.perf_counter()
        deadline = started + seconds
        while time.perf_counter() < deadline:
            with conn.cursor() as cursor, cursor.copy(f"COPY events ({columns}) FROM STDIN") as copy:
                copy.write(rendered[i % len(rendered)])
            conn.commit()
            written += len(batches[i % len(batches)])
            i += 1
        return written / (time.perf_counter() - started)


def _copy_text(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def key_resolution_cost(server_env: dict[str, str], raw_key: str, runs: int = 5000, rounds: int = 5
                        ) -> dict[bool, tuple[float, float]]:
    """{check_revocations: (median wall µs, median CPU µs) per resolution} of the cached key
    resolution (apps.tenancy.selectors.api_key_resolve_cached), as a server process makes it, with
    and without the revocation epoch check. Rounds alternate so drift on a shared machine hits both."""
    for name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "PLATFORM_API_TOKEN", "ALLOWED_HOSTS", "ENVIRONMENT",
                 "DJANGO_SETTINGS_MODULE", "LOG_LEVEL"):
        os.environ[name] = server_env[name]
    import django

    django.setup()
    from apps.tenancy.selectors import api_key_resolve_cached

    samples: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    for _ in range(rounds):
        for check in (False, True):
            assert api_key_resolve_cached(raw_key=raw_key, check_revocations=check) is not None  # cached
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(runs):
                api_key_resolve_cached(raw_key=raw_key, check_revocations=check)
            samples[check].append(((time.perf_counter() - wall) / runs * 1e6, (time.process_time() - cpu) / runs * 1e6))
    return {check: (statistics.median(w for w, _ in values), statistics.median(c for _, c in values))
            for check, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--batch-concurrency", type=int, default=2)
    parser.add_argument("--single-concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--gzip", action="store_true", help="gzip the batch bodies (compressed per request)")
    parser.add_argument("--plan-seconds", type=float, default=None,
                        help="seconds per tracking-plan phase (default: half of --seconds; 0 skips them)")
    args = parser.parse_args()

    with production_server("bench_ingest", workers=args.workers) as server:
        url, created, port = server["database_url"], server["tenant"], server["port"]
        now = datetime.now(timezone.utc)
        batches = [[make_event(b * 1000 + i, now) for i in range(1000)] for b in range(20)]
        batch_bodies = [json.dumps({"batch": b, "sentAt": now.isoformat()}).encode() for b in batches]
        singles = [json.dumps(make_event(i, now)).encode() for i in range(2000)]
        key = created["write_key"]

        # Warm-up: every worker connects and loads its code.
        asyncio.run(load(port, key, "/v1/track", singles, False, args.workers * 2, 2))

        pids = process_tree(server["pid"])
        cpu_before = cpu_seconds(pids)
        started = time.perf_counter()
        latencies, sent, errors = asyncio.run(
            load(port, key, "/v1/batch", batch_bodies, args.gzip, args.batch_concurrency, args.seconds))
        elapsed = time.perf_counter() - started
        cpu_used = cpu_seconds(pids) - cpu_before
        batch_rate = sent * 1000 / elapsed

        pg_pids = [int(p) for p in subprocess.run(["pgrep", "-x", "postgres"], capture_output=True,
                                                   text=True).stdout.split()]
        before = (cpu_seconds(pids), cpu_seconds(pg_pids), time.process_time())
        single_started = time.perf_counter()
        single_latencies, single_sent, single_errors = asyncio.run(
            load(port, key, "/v1/track", singles, False, args.single_concurrency, args.seconds / 2))
        single_rate = single_sent / (time.perf_counter() - single_started)
        single_cpu = [(after - b) / max(single_sent, 1) * 1000 for after, b in
                      zip((cpu_seconds(pids), cpu_seconds(pg_pids), time.process_time()), before)]

        copy_rate = raw_copy_rate(url, created["schema_name"], batches, args.seconds / 2)
        key_cost = key_resolution_cost(server["env"], key)

        # The tracking plan: the same load with a plan in `allow`, then `block`, then without one.
        plan_seconds = args.seconds / 2 if args.plan_seconds is None else args.plan_seconds
        plan_phases: list[tuple[str, float, float, float, int]] = []
        if plan_seconds > 0:
            secret = created["secret_key"]

            def phase(label: str) -> None:
                before = cpu_seconds(pids)
                _, sent_batches, errors_batches = asyncio.run(
                    load(port, key, "/v1/batch", batch_bodies, args.gzip, args.batch_concurrency, plan_seconds))
                batch_cpu = (cpu_seconds(pids) - before) / max(sent_batches * 1000, 1)
                before = cpu_seconds(pids)
                _, sent_singles, errors_singles = asyncio.run(
                    load(port, key, "/v1/track", singles, False, args.single_concurrency, plan_seconds / 2))
                single_cpu_ms = (cpu_seconds(pids) - before) / max(sent_singles, 1) * 1000
                plan_phases.append((label, batch_cpu * 1e6, single_cpu_ms, sent_batches * 1000 / plan_seconds,
                                    errors_batches + errors_singles))

            for definition in plan_events():
                api_call(port, secret, "POST", "/api/v1/tracking-plan/events", definition)
            api_call(port, secret, "PUT", "/api/v1/tracking-plan", {"mode": "allow"})
            phase("plan on, allow (20 events x 5 properties)")
            api_call(port, secret, "PUT", "/api/v1/tracking-plan", {"mode": "block"})
            phase("plan on, block (20 events x 5 properties)")
            api_call(port, secret, "PUT", "/api/v1/tracking-plan", {"enabled": False})
            phase("no plan (same run, after)")

    print(f"gunicorn: {args.workers} {os.environ.get('GUNICORN_WORKER_CLASS', 'gthread')} workers x "
          f"{os.environ.get('GUNICORN_THREADS', '2')} thread(s); load from one asyncio process; "
          f"{os.cpu_count()} cores shared by server, PostgreSQL and load")
    print(f"batch ingestion (/v1/batch, 1,000 events{', gzip' if args.gzip else ''}, {args.batch_concurrency} "
          f"connections, {args.seconds:.0f} s):")
    print(f"  {batch_rate:,.0f} events/s over {sent} requests ({errors} non-200)")
    print(f"  latency p50 {pct(latencies, 50):.1f} ms, p95 {pct(latencies, 95):.1f} ms, p99 {pct(latencies, 99):.1f} ms")
    print(f"  server CPU: {cpu_used / (sent * 1000) * 1000:.3f} CPU-seconds per 1,000 events (gunicorn processes)")
    print(f"raw COPY baseline (psycopg, same rows, same table, 1,000 rows per transaction): {copy_rate:,.0f} events/s")
    print(f"  batch ingestion / raw COPY = {batch_rate / copy_rate:.0%}")
    print(f"single events (/v1/track, {args.single_concurrency} connections, {args.seconds / 2:.0f} s):")
    print(f"  {single_rate:,.0f} requests/s ({single_errors} non-200), p50 {pct(single_latencies, 50):.1f} ms, "
          f"p99 {pct(single_latencies, 99):.1f} ms")
    print(f"  CPU per request: gunicorn {single_cpu[0]:.2f} ms, PostgreSQL {single_cpu[1]:.2f} ms, "
          f"load generator {single_cpu[2]:.2f} ms")
    (without_wall, without_cpu), (with_wall, with_cpu) = key_cost[False], key_cost[True]
    extra_wall, extra_cpu = with_wall - without_wall, with_cpu - without_cpu
    print("API key resolution per request (cached key; the revocation check is one Redis GET):")
    print(f"  without the revocation check: {without_wall:.1f} µs wall, {without_cpu:.1f} µs CPU")
    print(f"  with the revocation check:    {with_wall:.1f} µs wall, {with_cpu:.1f} µs CPU")
    print(f"  the check costs {extra_wall:.1f} µs wall ({extra_cpu:.1f} µs CPU) per request = "
          f"{extra_wall / 1000:.3f} µs per event in a 1,000-event batch; "
          f"{extra_cpu / (single_cpu[0] * 1000):.1%} of a single event's gunicorn CPU above")


    if plan_phases:
        off = plan_phases[-1]
        print(f"tracking plan ({plan_seconds:.0f} s per phase; server CPU of gunicorn processes):")
        for label, batch_us, single_ms, rate, errors in plan_phases:
            extra = "" if label == off[0] else (f"; {batch_us - off[1]:+.1f} us per batched event, "
                                                f"{single_ms - off[2]:+.2f} ms per single event vs no plan")
            print(f"  {label}: {batch_us:.1f} us per batched event ({rate:,.0f} events/s), "
                  f"{single_ms:.2f} ms per single-event request ({errors} non-200){extra}")


if __name__ == "__main__":
    main()

"""A bounded mixed load on the whole stack, for a set time: ingestion, queries and dashboard data at
once, through gunicorn as in production, with a Celery worker and beat running beside it.

    .venv/bin/python bench/soak.py [--seconds 120] [--workers 3]

Prints per kind of request: count, rate, latency p50/p95/p99 and errors; then the resident memory
(RSS) of every process at the start and at the end of the load, and whether each stayed within the
bound: at most +25% and +40 MB over its size after warm-up. PostgreSQL's figure is the sum of its
processes (shared buffers are counted once per process that touched them, so it overstates).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import production_server  # noqa: E402

BOUND_RATIO, BOUND_MB = 1.25, 40
EVENTS = ["Viewed Page", "Signed Up", "Added to Cart", "Checked Out"]


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return 0.0


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out]


def processes(server_pid: int, worker_pid: int, beat_pid: int) -> dict[str, list[int]]:
    """Name -> pids: gunicorn's master and each worker, Celery's worker (and its pool), beat,
    PostgreSQL, Redis."""
    named = {"gunicorn master": [server_pid]}
    for n, pid in enumerate(sorted(children(server_pid)), 1):
        named[f"gunicorn worker {n}"] = [pid]
    named["celery worker"] = [worker_pid, *children(worker_pid)]
    named["celery beat"] = [beat_pid]
    for name, pattern in (("postgresql", "postgres"), ("redis", "redis-server")):
        named[name] = [int(p) for p in subprocess.run(["pgrep", "-x", pattern], capture_output=True,
                                                      text=True).stdout.split()]
    return named


def memory(named: dict[str, list[int]]) -> dict[str, float]:
    return {name: sum(rss_mb(pid) for pid in pids) for name, pids in named.items()}


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] * 1000 if ordered else 0.0


async def load(url: str, write: str, secret: str, dashboard_id: int, seconds: float) -> dict[str, dict]:
    results: dict[str, dict] = {kind: {"latencies": [], "errors": 0, "statuses": {}}
                                for kind in ("ingest", "query", "dashboard")}
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=16, max_keepalive_connections=16)

    async def loop(kind: str, make_request) -> None:  # noqa: ANN001
        async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
            while time.perf_counter() < deadline:
                method, path, key, body = make_request()
                started = time.perf_counter()
                try:
                    response = await client.request(method, path, json=body, headers={"Authorization": f"Bearer {key}"})
                    status = response.status_code
                except httpx.HTTPError:
                    status = 0
                results[kind]["latencies"].append(time.perf_counter() - started)
                results[kind]["statuses"][status] = results[kind]["statuses"].get(status, 0) + 1
                if not 200 <= status < 300:
                    results[kind]["errors"] += 1

    def ingest() -> tuple:
        now = datetime.now(timezone.utc)
        batch = [{"type": "track", "event": random.choice(EVENTS), "userId": f"user-{random.randrange(5000)}",
                  "messageId": str(uuid.uuid4()), "timestamp": (now - timedelta(seconds=random.randrange(86400))).isoformat(),
                  "properties": {"plan": random.choice(["free", "pro"]), "price": random.randrange(100)}}
                 for _ in range(100)]
        return "POST", "/v1/batch", write, {"batch": batch}

    def query() -> tuple:
        days = random.randrange(1, 15)
        spec = random.choice([
            {"kind": "trends", "series": [{"event": random.choice(EVENTS)}], "interval": "day"},
            {"kind": "trends", "series": [{"event": "Viewed Page", "math": "unique_persons"}], "interval": "hour"},
            {"kind": "funnel", "steps": [{"event": "Viewed Page"}, {"event": "Added to Cart"}, {"event": "Checked Out"}]},
        ])
        return "POST", "/api/v1/query", secret, {**spec, "date_from": f"-{days}d"}

    def dashboard() -> tuple:
        refresh = "?refresh=true" if random.random() < 0.1 else ""
        return "GET", f"/api/v1/dashboards/{dashboard_id}/data{refresh}", secret, None

    await asyncio.gather(loop("ingest", ingest), loop("ingest", ingest), loop("query", query),
                         loop("query", query), loop("dashboard", dashboard))
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--warmup", type=float, default=15)
    parser.add_argument("--workers", type=int, default=3)
    args = parser.parse_args()

    with production_server("bench_soak", workers=args.workers) as server:
        url, env = server["url"], server["env"]
        write, secret = server["tenant"]["write_key"], server["tenant"]["secret_key"]
        celery = [sys.executable, "-m", "celery", "-A", "analytics_project"]
        worker = subprocess.Popen([*celery, "worker", "--loglevel", "WARNING", "--concurrency", "1"], cwd=ROOT,
                                  env=env, start_new_session=True)
        beat = subprocess.Popen([*celery, "beat", "--loglevel", "WARNING", "--schedule",
                                 f"/tmp/soak-beat-{os.getpid()}"], cwd=ROOT, env=env, start_new_session=True)
        try:
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {secret}"}, timeout=60) as client:
                dashboard = client.post("/api/v1/dashboards", json={"name": "soak"}).json()
                for n, spec in enumerate([
                    {"kind": "trends", "series": [{"event": "Viewed Page"}], "date_from": "-7d"},
                    {"kind": "trends", "series": [{"event": "Signed Up"}], "interval": "hour", "date_from": "-2d"},
                    {"kind": "funnel", "steps": [{"event": "Viewed Page"}, {"event": "Checked Out"}], "date_from": "-7d"},
                ]):
                    client.post(f"/api/v1/dashboards/{dashboard['id']}/widgets",
                                json={"name": f"w{n}", "widget_type": "table", "query_config": spec})
            asyncio.run(load(url, write, secret, dashboard["id"], args.warmup))  # warm-up: code loaded, caches made
            named = processes(server["pid"], worker.pid, beat.pid)
            before = memory(named)
            started = time.perf_counter()
            results = asyncio.run(load(url, write, secret, dashboard["id"], args.seconds))
            elapsed = time.perf_counter() - started
            after = memory(named)
        finally:
            for process in (worker, beat):
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=30)

    print(f"soak: {args.seconds:.0f} s of mixed load after {args.warmup:.0f} s of warm-up; gunicorn {args.workers} "
          f"workers, a Celery worker and beat; load from one asyncio process; {os.cpu_count()} cores shared by all")
    print(f"{'kind':10} {'requests':>9} {'per s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7}  statuses")
    for kind, result in results.items():
        latencies = result["latencies"]
        print(f"{kind:10} {len(latencies):9,} {len(latencies) / elapsed:8.1f} {pct(latencies, 50):8.1f} "
              f"{pct(latencies, 95):8.1f} {pct(latencies, 99):8.1f} {result['errors']:7}  {result['statuses']}")
    print(f"events ingested: {len(results['ingest']['latencies']) * 100:,} "
          f"({len(results['ingest']['latencies']) * 100 / elapsed:,.0f}/s)")
    print(f"memory (RSS, MB), bound: at most x{BOUND_RATIO} and +{BOUND_MB} MB over the start")
    within = True
    for name in named:
        start, end = before[name], after[name]
        ok = end <= max(start * BOUND_RATIO, start + BOUND_MB)
        within &= ok
        print(f"  {name:20} {start:8.1f} -> {end:8.1f}  ({end - start:+.1f})  {'ok' if ok else 'OVER THE BOUND'}")
    print("all processes within the bound" if within else "SOME PROCESS GREW BEYOND THE BOUND")


if __name__ == "__main__":
    main()

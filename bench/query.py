"""Query engine speed over 10 million events, against DuckDB answering the same questions.

    .venv/bin/python bench/query.py [--events 10000000] [--persons 200000] [--runs 3] [--reuse]

1. Loads a tenant of its own database (`<name>_bench_query` on the `make run` / DATABASE_URL
   server): `--persons` persons with traits, each with a user id and 30% also with an anonymous id
   used before they were identified (merged into the same person), and `--events` events of 20
   types (skewed: the commonest is about 14%), spread over 90 days (2026-08-01 to 2026-10-30, across
   the autumn DST change of the tenant's Europe/Berlin), with a `path` property (50 values) and a
   `browser`. `--reuse` keeps a database loaded by an earlier run with the same sizes.
2. Copies the same rows into an in-process DuckDB (events with the properties as typed columns,
   person_distinct_ids) and asks it the same questions, with the same semantics, in SQL.
3. For each question prints the engine's time through `query_run` (first run, then the median of
   `--runs` recomputations with `refresh`, then an answer from the Redis cache), DuckDB's median
   of `--runs`, the ratio, and whether both answers are the same (any difference fails the run).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import bench_database_url, database_exists, django_on  # noqa: E402

SLUG = "bench-query"
ZONE = "Europe/Berlin"
FIRST_DAY, DAYS = "2026-08-01", 90
EVENT_NAMES = [
    "Viewed Page", "Clicked Button", "Searched", "Viewed Product", "Added to Cart", "Started Checkout",
    "Checked Out", "Signed Up", "Logged In", "Logged Out", "Opened App", "Shared", "Commented", "Liked",
    "Invited User", "Upgraded Plan", "Downgraded Plan", "Exported Report", "Viewed Dashboard", "Contacted Support",
]
BROWSERS = ["Chrome", "Safari", "Firefox", "Edge", "Opera"]
PLANS = ["free", "pro", "team", "enterprise"]


# --- loading ------------------------------------------------------------------------------------------


def load(events: int, persons: int) -> None:
    """Persons, their distinct ids and the events, generated in the database (INSERT ... SELECT)."""
    from django.db import connection, transaction

    with connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute(
            """
            INSERT INTO persons (id, traits, created_at, updated_at)
            SELECT n, jsonb_build_object('plan', (%s::text[])[1 + n %% 4], 'seats', 1 + n %% 50),
                   %s::timestamptz, %s::timestamptz
            FROM generate_series(1, %s) n
            """,
            [PLANS, FIRST_DAY, FIRST_DAY, persons],
        )
        cursor.execute("SELECT setval(pg_get_serial_sequence('persons', 'id'), %s)", [persons])
        cursor.execute(
            """
            INSERT INTO person_distinct_ids (distinct_id, person_id, created_at)
            SELECT 'user-' || n, n, %s::timestamptz FROM generate_series(1, %s) n
            UNION ALL
            SELECT 'anon-' || n, n, %s::timestamptz FROM generate_series(1, %s) n WHERE n %% 10 < 3
            """,
            [FIRST_DAY, persons, FIRST_DAY, persons],
        )
        chunk = 1_000_000
        for first in range(1, events + 1, chunk):
            last = min(first + chunk - 1, events)
            with transaction.atomic():
                # Person activity is skewed (power 1.5), event names too; a person with an anonymous
                # id (n % 10 < 3) uses it before their own identify instant.
                cursor.execute(
                    """
                    INSERT INTO events (id, "timestamp", received_at, event_type, event, distinct_id, person_id,
                                        user_id, message_id, properties)
                    SELECT i, ts, ts, 'track', (%s::text[])[1 + floor(20 * power(random(), 1.5))::int],
                           CASE WHEN anonymous THEN 'anon-' || n ELSE 'user-' || n END, n,
                           CASE WHEN anonymous THEN NULL ELSE 'user-' || n END, 'bench-' || i,
                           jsonb_build_object('path', '/p/' || (i %% 50), 'browser',
                                              (%s::text[])[1 + floor(random() * 5)::int])
                    FROM (
                        SELECT i, n, ts, n %% 10 < 3 AND ts < %s::timestamptz + ((n * 7919) %% (%s * 86400)) * interval '1 second'
                                         AS anonymous
                        FROM (
                            SELECT i, 1 + floor(%s * power(random(), 1.5))::int AS n,
                                   %s::timestamptz + random() * (%s * interval '1 day') AS ts
                            FROM generate_series(%s, %s) i
                        ) drawn
                    ) g
                    """,
                    [EVENT_NAMES, BROWSERS, FIRST_DAY, DAYS, persons, FIRST_DAY, DAYS, first, last],
                )
            print(f"  events: {last:,} loaded ({time.perf_counter() - started:.0f} s)", flush=True)
        cursor.execute("SELECT setval('events_id_seq', %s)", [events])
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) events")
        cursor.execute("VACUUM (ANALYZE) persons")
        cursor.execute("VACUUM (ANALYZE) person_distinct_ids")
    print(f"  loaded and vacuumed in {time.perf_counter() - started:.0f} s", flush=True)


def dataset_tenant(events: int, persons: int) -> Any:
    """The dataset's tenant, loaded first if the database has none (Django already set up)."""
    from django_tenants.utils import schema_context

    from apps.events.partitions import partitions_ensure
    from apps.tenancy.models import Tenant
    from apps.tenancy.services import tenant_create

    tenant = Tenant.objects.filter(slug=SLUG).first()
    if tenant is None:
        tenant = tenant_create(slug=SLUG, timezone=ZONE, monthly_event_quota=10**9).tenant
        print(f"loading {events:,} events of {persons:,} persons over {DAYS} days ...", flush=True)
        with schema_context(tenant.schema_name):
            partitions_ensure(since=datetime.fromisoformat(FIRST_DAY).replace(tzinfo=ZoneInfo("UTC")))
            load(events, persons)
    return tenant


def to_duckdb(directory: Path) -> Any:
    """The same rows in DuckDB, through CSV files written with COPY."""
    import duckdb
    from django.db import connection

    started = time.perf_counter()
    exports = {
        "events": ('SELECT id, "timestamp", event, distinct_id, properties ->> \'path\', '
                   "properties ->> 'browser', COALESCE(session_id, properties ->> '$session_id') FROM events",
                   "id BIGINT, ts TIMESTAMPTZ, event VARCHAR, distinct_id VARCHAR, path VARCHAR, browser VARCHAR, "
                   "client VARCHAR"),
        "person_distinct_ids": ("SELECT distinct_id, person_id FROM person_distinct_ids",
                                "distinct_id VARCHAR, person_id BIGINT"),
    }
    db = duckdb.connect()
    db.execute("SET TimeZone = 'UTC'")
    with connection.cursor() as cursor:
        for table, (select, columns) in exports.items():
            path = directory / f"{table}.csv"
            with path.open("wb") as out, cursor.copy(f"COPY ({select}) TO STDOUT WITH (FORMAT csv)") as copy:
                for data in copy:
                    out.write(data)
            names = ", ".join(f"'{c.split()[0]}': '{c.split()[1]}'" for c in columns.split(", "))
            db.execute(f"CREATE TABLE {table} AS SELECT * FROM read_csv('{path}', header = false, columns = {{{names}}})")
            path.unlink()
    print(f"  copied into DuckDB in {time.perf_counter() - started:.0f} s", flush=True)
    return db


# --- the questions, in DuckDB -------------------------------------------------------------------------

PERSON = "COALESCE(pdi.person_id::VARCHAR, 'd:' || e.distinct_id)"


def duck_trends(db: Any, spec: dict) -> dict[tuple[str | None, datetime], int]:
    """{(breakdown value, local bucket start): value} for one series."""
    series = spec["series"][0]
    math = {"total": "count(*)", "unique_persons": f"count(DISTINCT {PERSON})"}[series.get("math", "total")]
    scoped = """
        FROM events e LEFT JOIN person_distinct_ids pdi ON pdi.distinct_id = e.distinct_id
        WHERE e.event = $event AND e.ts >= $start AND e.ts < $end"""
    params = {"event": series["event"], "start": spec["_start"], "end": spec["_end"], "zone": ZONE,
              "interval": spec["interval"]}
    group = "NULL::VARCHAR"
    if "breakdown" in spec:
        prop, limit = spec["breakdown"]["property"], spec["breakdown"]["limit"]
        top = db.execute(f"SELECT {prop}, count(*) n {scoped} GROUP BY 1 ORDER BY n DESC, {prop} LIMIT {limit}",
                         {k: params[k] for k in ("event", "start", "end")}).fetchall()
        values = [row[0] for row in top]
        group = f"CASE WHEN {prop} IN ({', '.join(repr(v) for v in values)}) THEN {prop} ELSE '$other' END"
    rows = db.execute(f"SELECT {group}, date_trunc($interval, timezone($zone, e.ts)), {math} {scoped} GROUP BY 1, 2",
                      params).fetchall()
    return {(g, bucket): n for g, bucket, n in rows}


def duck_funnel(db: Any, spec: dict) -> list[tuple[int, float | None]]:
    """Per step: (count, median seconds from the previous step), by the same one-sort method."""
    steps = [s["event"] for s in spec["steps"]]
    n = len(steps)
    flags = ", ".join(f"(e.event = $e{k}{' AND e.ts < $end' if k == 1 else ''}) AS s{k}" for k in range(1, n + 1))
    nexts = ", ".join(
        f"CASE WHEN max(g) FILTER (WHERE s{k}) OVER peers > g THEN max(g) FILTER (WHERE s{k}) OVER peers "
        f"ELSE max(g) FILTER (WHERE s{k}) OVER later END AS next{k}" for k in range(2, n + 1))
    joins = " ".join(f"LEFT JOIN positioned m{k} ON m{k}.g = {'r' if k == 2 else f'm{k - 1}'}.next{k} "
                     f"AND m{k}.ts <= r.ts + $window::INTERVAL" for k in range(2, n + 1))
    reached = " + ".join(["1", *(f"(m{k}.ts IS NOT NULL)::INT" for k in range(2, n + 1))])
    per_step = ", ".join(
        f"count(*) FILTER (WHERE reached >= {k}), "
        f"quantile_cont(epoch_us(t{k}) - epoch_us(t{k - 1}), 0.5) FILTER (WHERE reached >= {k}) / 1e6" if k > 1 else
        "count(*), NULL" for k in range(1, n + 1))
    sql = f"""
        WITH rows AS (
            SELECT {PERSON} AS person, e.ts, e.id, {flags}
            FROM events e LEFT JOIN person_distinct_ids pdi ON pdi.distinct_id = e.distinct_id
            WHERE e.event IN ({", ".join(f"$e{k}" for k in range(1, n + 1))})
              AND e.ts >= $start AND e.ts < $end + $window::INTERVAL
        ), numbered AS (
            SELECT *, row_number() OVER (ORDER BY person, ts DESC, id DESC) AS g FROM rows
        ), positioned AS (
            SELECT person, ts, g, s1, {nexts} FROM numbered
            WINDOW later AS (PARTITION BY person ORDER BY ts DESC, id DESC
                             ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
                   peers AS (PARTITION BY person ORDER BY ts DESC RANGE BETWEEN CURRENT ROW AND CURRENT ROW)
        ), attempts AS (
            SELECT r.person, r.g AS g1, r.ts AS t1, {", ".join(f"m{k}.ts AS t{k}" for k in range(2, n + 1))},
                   {reached} AS reached
            FROM positioned r {joins} WHERE r.s1
        ), best AS (
            SELECT * FROM attempts QUALIFY row_number() OVER (PARTITION BY person ORDER BY reached DESC, g1 DESC) = 1
        )
        SELECT {per_step} FROM best
    """
    params = {f"e{k}": event for k, event in enumerate(steps, 1)}
    params.update(start=spec["_start"], end=spec["_end"], window=f"{spec['window'][:-1]} days")
    row = db.execute(sql, params).fetchone()
    return [(row[2 * k], None if row[2 * k + 1] is None else float(row[2 * k + 1])) for k in range(n)]


def duck_retention(db: Any, spec: dict) -> dict[datetime, list[int]]:
    """{cohort local start: [size, retained k=1..N]}."""
    periods = spec["periods"]
    sql = f"""
        WITH ev AS (
            SELECT {PERSON} AS person, e.ts, e.event
            FROM events e LEFT JOIN person_distinct_ids pdi ON pdi.distinct_id = e.distinct_id
            WHERE e.event IN ($start_event, $return_event) AND e.ts >= $start
        ), cohorts AS (
            SELECT person, date_trunc('week', timezone($zone, min(ts))) AS cohort
            FROM ev WHERE event = $start_event AND ts < $end GROUP BY person
        ), returns AS (
            SELECT DISTINCT person, date_trunc('week', timezone($zone, ts)) AS period FROM ev
            WHERE event = $return_event
        )
        SELECT c.cohort, date_diff('day', c.cohort, r.period) // 7 AS k, count(*)
        FROM cohorts c JOIN returns r ON r.person = c.person
        WHERE r.period > c.cohort AND date_diff('day', c.cohort, r.period) // 7 <= {periods}
        GROUP BY 1, 2
        UNION ALL SELECT cohort, 0, count(*) FROM cohorts GROUP BY 1
    """
    rows = db.execute(sql, {"start_event": spec["start_event"], "return_event": spec["return_event"],
                            "start": spec["_start"], "end": spec["_end"], "zone": ZONE}).fetchall()
    cohorts: dict[datetime, list[int]] = {}
    for cohort, k, count in rows:
        cohorts.setdefault(cohort, [0] * (periods + 1))[k] = count
    return cohorts


def duck_sessions(db: Any, spec: dict) -> dict[datetime, tuple[int, float]]:
    """{local day: (sessions, median duration in seconds, rounded to 1 ms)}: the client's session id,
    else the person's events split where they are more than 30 minutes apart (docs/sessions.md)."""
    sql = f"""
        WITH ev AS (
            SELECT e.id, e.ts, {PERSON} AS person, e.client
            FROM events e LEFT JOIN person_distinct_ids pdi ON pdi.distinct_id = e.distinct_id
            WHERE e.ts >= $start AND e.ts < $end
        ), marked AS (
            SELECT *, CASE WHEN client IS NULL AND ts - lag(ts) OVER (PARTITION BY person, client IS NULL
                                                                     ORDER BY ts, id) <= INTERVAL 30 MINUTE
                           THEN 0 ELSE 1 END AS starts
            FROM ev
        ), keyed AS (
            SELECT *, CASE WHEN client IS NOT NULL THEN 'c' || client
                           ELSE 'p' || person || '-' || CAST(sum(starts) OVER (
                               PARTITION BY person, client IS NULL ORDER BY ts, id) AS VARCHAR) END AS skey
            FROM marked
        ), sessions AS (
            SELECT min(ts) AS started, epoch_us(max(ts)) - epoch_us(min(ts)) AS micros FROM keyed GROUP BY skey
        )
        SELECT date_trunc('day', timezone($zone, started)), count(*), quantile_cont(micros, 0.5) / 1e6
        FROM sessions GROUP BY 1
    """
    rows = db.execute(sql, {"start": spec["_start"], "end": spec["_end"], "zone": ZONE}).fetchall()
    return {day: (n, round(median, 3)) for day, n, median in rows}


# --- the engine's answers in the same shapes ----------------------------------------------------------


def local(label: str) -> datetime:
    return datetime.fromisoformat(label).replace(tzinfo=None)


def engine_trends(answer: dict) -> dict[tuple[str | None, datetime], int]:
    return {(s["breakdown_value"], local(b)): v for s in answer["series"] for b, v in zip(s["buckets"], s["values"])
            if v}


def engine_funnel(answer: dict) -> list[tuple[int, float | None]]:
    return [(s["count"], s["median_seconds_from_previous"]) for s in answer["steps"]]


def engine_sessions(answer: dict) -> dict[datetime, tuple[int, float]]:
    series = {s["measure"]: s for s in answer["series"]}
    return {local(b): (n, round(m, 3)) for b, n, m in zip(series["sessions"]["buckets"], series["sessions"]["values"],
                                                         series["median_duration"]["values"]) if n}


def engine_retention(answer: dict) -> dict[datetime, list[int]]:
    return {local(c["start"]): c["retained"] for c in answer["cohorts"] if c["size"]}


# --- running ------------------------------------------------------------------------------------------


def timed(function: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--persons", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--reuse", action="store_true", help="keep a database loaded by an earlier run")
    args = parser.parse_args()

    reuse = args.reuse and database_exists(bench_database_url("bench_query"))
    django_on("bench_query", recreate=not reuse, migrate=not reuse)
    from django.db import connection
    from django_tenants.utils import schema_context

    from apps.events.partitions import partitions_ensure
    from apps.insights.engine import query_run
    from apps.tenancy.models import Tenant
    from apps.tenancy.services import tenant_create

    tenant = Tenant.objects.filter(slug=SLUG).first()
    loaded = False
    if tenant is not None:
        with schema_context(tenant.schema_name):
            loaded = _count(connection) == args.events
    if not loaded:
        if tenant is not None:
            sys.exit("The database holds another load; run without --reuse.")
        tenant = tenant_create(slug=SLUG, timezone=ZONE, monthly_event_quota=10**9).tenant
        print(f"loading {args.events:,} events of {args.persons:,} persons over {DAYS} days ...", flush=True)
        with schema_context(tenant.schema_name):
            partitions_ensure(since=datetime.fromisoformat(FIRST_DAY).replace(tzinfo=ZoneInfo("UTC")))
            load(args.events, args.persons)

    last_day = "2026-10-30"
    questions = [
        ("trends, daily, 90 days, total", "trends",
         {"kind": "trends", "series": [{"event": "Viewed Page"}], "interval": "day",
          "date_from": FIRST_DAY, "date_to": last_day}),
        ("trends, daily, 90 days, unique persons", "trends",
         {"kind": "trends", "series": [{"event": "Viewed Page", "math": "unique_persons"}], "interval": "day",
          "date_from": FIRST_DAY, "date_to": last_day}),
        ("trends, daily, 90 days, breakdown by path (top 10 + other)", "trends",
         {"kind": "trends", "series": [{"event": "Viewed Page"}], "interval": "day",
          "date_from": FIRST_DAY, "date_to": last_day, "breakdown": {"property": "path", "limit": 10}}),
        ("funnel, 3 steps, 14-day window, 30 days", "funnel",
         {"kind": "funnel", "steps": [{"event": "Viewed Product"}, {"event": "Added to Cart"},
                                      {"event": "Checked Out"}], "window": "14d",
          "date_from": "2026-09-01", "date_to": "2026-10-01"}),
        ("funnel, 3 steps, 14-day window, 90 days", "funnel",
         {"kind": "funnel", "steps": [{"event": "Viewed Product"}, {"event": "Added to Cart"},
                                      {"event": "Checked Out"}], "window": "14d",
          "date_from": FIRST_DAY, "date_to": last_day}),
        ("retention, 8 weeks, 30 days", "retention",
         {"kind": "retention", "start_event": "Signed Up", "return_event": "Logged In", "period": "week",
          "periods": 8, "date_from": "2026-09-01", "date_to": "2026-10-01"}),
        ("retention, 8 weeks, 90 days", "retention",
         {"kind": "retention", "start_event": "Signed Up", "return_event": "Logged In", "period": "week",
          "periods": 8, "date_from": FIRST_DAY, "date_to": last_day}),
        ("sessions, daily, 30 days, count and median duration", "sessions",
         {"kind": "sessions", "interval": "day", "measures": ["sessions", "median_duration"],
          "date_from": "2026-09-01", "date_to": "2026-10-01"}),
    ]
    duck_of = {"trends": duck_trends, "funnel": duck_funnel, "retention": duck_retention, "sessions": duck_sessions}
    engine_of = {"trends": engine_trends, "funnel": engine_funnel, "retention": engine_retention,
                 "sessions": engine_sessions}

    with schema_context(tenant.schema_name), tempfile.TemporaryDirectory() as scratch:
        db = to_duckdb(Path(scratch))
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*), count(DISTINCT distinct_id) FROM events")
            total, ids = cursor.fetchone()
        print(f"\n{total:,} events, {ids:,} distinct ids; {args.runs} runs each; times in ms\n")
        print(f"{'question':58} {'first':>7} {'median':>7} {'cached':>7} {'duckdb':>7} {'ratio':>6}  same")
        failures = 0
        for title, kind, spec in questions:
            zone = ZoneInfo(ZONE)
            spec = {**spec, "timezone": ZONE}
            bounds = {"_start": datetime.fromisoformat(spec["date_from"]).replace(tzinfo=zone),
                      "_end": datetime.fromisoformat(spec["date_to"]).replace(tzinfo=zone)}
            first, answer = timed(lambda spec=spec: query_run(data={**spec, "refresh": True}, tenant=tenant))
            again = [timed(lambda spec=spec: query_run(data={**spec, "refresh": True}, tenant=tenant))[0]
                     for _ in range(args.runs)]
            cached = [timed(lambda spec=spec: query_run(data=spec, tenant=tenant)) for _ in range(args.runs)]
            assert all(hit["cached"] for _, hit in cached)
            duck_first, duck_answer = timed(lambda spec=spec: duck_of[kind](db, {**spec, **bounds}))
            duck = [duck_first] + [timed(lambda spec=spec: duck_of[kind](db, {**spec, **bounds}))[0]
                                   for _ in range(args.runs - 1)]
            same = _same(engine_of[kind](answer), duck_answer)
            failures += not same
            median, duck_median = statistics.median(again), statistics.median(duck)
            print(f"{title:58} {first * 1000:7.1f} {median * 1000:7.1f} "
                  f"{statistics.median(t for t, _ in cached) * 1000:7.1f} {duck_median * 1000:7.1f} "
                  f"{median / duck_median:5.1f}x  {'yes' if same else 'NO'}", flush=True)
        print("\nfirst: the first computation after loading; median: recomputations (refresh=true);\n"
              "cached: answers from the Redis query cache; ratio: median / DuckDB's median.")
    if failures:
        sys.exit(f"{failures} answers differ from DuckDB's")


def _count(connection: Any) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM events")
        return cursor.fetchone()[0]


def _same(mine: Any, theirs: Any) -> bool:
    if isinstance(mine, list):
        return len(mine) == len(theirs) and all(
            a[0] == b[0] and (a[1] is None and b[1] is None or a[1] is not None and b[1] is not None
                              and abs(a[1] - b[1]) < 1e-6) for a, b in zip(mine, theirs))
    return mine == theirs


if __name__ == "__main__":
    main()

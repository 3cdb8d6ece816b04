"""Tenant provisioning speed: median time of `tenant_create` with 1 and with 200 tenants present.

    .venv/bin/python bench/tenant_create.py [--samples 10] [--fill 200]

Runs against its own database (`<name>_bench_tenants` on the DATABASE_URL server, or the
`make run` stack's server), dropped and recreated each run. Baseline, measured in the same run:
creating the same schema by replaying every tenant migration (what a schema-per-tenant setup
does without a template).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import django_on, median_ms  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--fill", type=int, default=200)
    args = parser.parse_args()

    django_on("bench_tenants")
    from django.core.management import call_command
    from django.db import connection

    from apps.tenancy.models import Tenant
    from apps.tenancy.services import tenant_create

    seq = iter(range(10**6))

    def timed_create() -> float:
        started = time.perf_counter()
        tenant_create(slug=f"bench-{next(seq)}")
        return time.perf_counter() - started

    def timed_replay() -> float:
        schema = f"replay_{next(seq)}"
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE SCHEMA "{schema}"')
        call_command("migrate_schemas", tenant=True, schema_name=schema, interactive=False, verbosity=0)
        elapsed = time.perf_counter() - started
        connection.set_schema_to_public()
        with connection.cursor() as cursor:
            cursor.execute(f'DROP SCHEMA "{schema}" CASCADE')
        return elapsed

    tenant_create(slug="bench-first")
    replay = [timed_replay() for _ in range(max(3, args.samples // 2))]
    with_one = [timed_create() for _ in range(args.samples)]
    fill_started = time.perf_counter()
    while Tenant.objects.count() < args.fill:
        tenant_create(slug=f"bench-{next(seq)}")
    fill_seconds = time.perf_counter() - fill_started
    with_many = [timed_create() for _ in range(args.samples)]
    existing = Tenant.objects.count()

    print(f"tenant_create (copy of the template schema), {args.samples} samples each")
    print(f"  with 1 tenant present:        median {median_ms(with_one)}")
    print(f"  with {args.fill} tenants present:    median {median_ms(with_many)}")
    print(f"  filling up to {args.fill} tenants took {fill_seconds:.1f} s")
    print(f"baseline: replaying the tenant migrations into a new schema, {len(replay)} samples")
    print(f"  median {median_ms(replay)}")
    print(f"speed-up of copying over replaying: {statistics.median(replay) / statistics.median(with_one):.1f}x")
    print(f"(tenants at the end: {existing})")


if __name__ == "__main__":
    main()

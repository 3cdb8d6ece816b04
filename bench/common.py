"""What every benchmark needs: the server of the local stack (or DATABASE_URL), a database of its
own on it, and figures printed the same way."""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent


def devstack_value(name: str) -> str:
    """`name` from the environment, else from var/devstack.env written by `make run` / `make up`."""
    value = os.environ.get(name)
    env_file = ROOT / "var" / "devstack.env"
    if not value and env_file.exists():
        value = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line).get(name)
    if not value:
        sys.exit(f"Set {name} or start the stack with `make up` first.")
    return value


def bench_database_url(suffix: str) -> str:
    """The database `<name>_<suffix>` on the same server as DATABASE_URL."""
    parts = urlsplit(devstack_value("DATABASE_URL"))
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + f"_{suffix}"))


def recreate_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def database_exists(url: str) -> bool:
    import psycopg

    parts = urlsplit(url)
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [parts.path.lstrip("/")]).fetchone() is not None


def median_ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:7.1f} ms (min {min(samples) * 1000:.1f}, max {max(samples) * 1000:.1f})"


def timed_median_ms(function: Callable[[], Any], runs: int, before: Callable[[], Any] | None = None
                    ) -> tuple[float, Any]:
    """The median of `runs` timings of `function` in ms (`before` runs untimed before each), and its
    last result."""
    samples, result = [], None
    for _ in range(runs):
        if before is not None:
            before()
        started = time.perf_counter()
        result = function()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000, result


def django_on(suffix: str, *, recreate: bool = True, migrate: bool = True) -> str:
    """Point Django at the benchmark's own database `<name>_<suffix>` (recreated unless told not
    to), set it up, and migrate it. Returns the database URL."""
    url = bench_database_url(suffix)
    if recreate:
        recreate_database(url)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "analytics_project.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
    return url

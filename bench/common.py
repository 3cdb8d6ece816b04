"""What every benchmark needs: the server of the local stack (or DATABASE_URL), a database of its
own on it, and figures printed the same way."""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator
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


@contextmanager
def production_server(suffix: str, *, workers: int, env: dict[str, str] | None = None) -> Iterator[dict[str, Any]]:
    """gunicorn as in production (deploy/gunicorn.conf.py, production settings) on a free loopback
    port, over a fresh database `<name>_<suffix>` holding one tenant `bench` with a quota far above
    any run. Yields {port, url, database_url, env, pid, tenant (create_tenant's JSON)}; stops it after."""
    url = bench_database_url(suffix)
    recreate_database(url)
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": devstack_value("REDIS_URL"),
           "ENVIRONMENT": "production", "SECRET_KEY": "b" * 50, "PLATFORM_API_TOKEN": "p" * 32,
           "ALLOWED_HOSTS": "localhost,127.0.0.1", "LOG_LEVEL": "WARNING", "GUNICORN_ACCESS_LOG": "",
           "WEB_CONCURRENCY": str(workers), "INGEST_RATE_LIMIT_PER_SECOND": "1000000",
           "DJANGO_SETTINGS_MODULE": "analytics_project.settings", **(env or {})}
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    tenant = json.loads(subprocess.run(
        [sys.executable, "manage.py", "create_tenant", "bench", "--json"], cwd=ROOT, env=env, check=True,
        capture_output=True, text=True).stdout)
    subprocess.run([sys.executable, "manage.py", "shell", "-c",
                    "from apps.tenancy.models import Tenant; Tenant.objects.filter(slug='bench')"
                    ".update(monthly_event_quota=10**12)"], cwd=ROOT, env=env, check=True)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "--bind", f"127.0.0.1:{port}",
         "analytics_project.wsgi:application"], cwd=ROOT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        time.sleep(1.5)  # every worker up
        yield {"port": port, "url": f"http://127.0.0.1:{port}", "database_url": url, "env": env,
               "pid": server.pid, "tenant": tenant}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

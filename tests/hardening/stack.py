"""A whole stack of real processes for the fault tests, apart from the test session's own servers
(which the tests do not touch): a PostgreSQL cluster and a Redis of its own, gunicorn, a Celery
worker and beat, as deployed (production settings), all on loopback. Each can be stopped, killed
and started again."""

from __future__ import annotations

import json
import os
import pwd
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

from analytics_project.devstack import _let_user_reach, _pg_bin, _redis_server, _server_user, free_port

ROOT = Path(__file__).resolve().parents[2]


def wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {port}") from None
            time.sleep(0.1)


class FaultStack:
    def __init__(self, root: Path, **settings: str) -> None:
        self.root = root
        self.pg_data, self.pg_port = root / "pg", free_port(0)
        self.redis_port = free_port(0)
        self.web_port = free_port(0)
        self.processes: dict[str, subprocess.Popen] = {}
        self.database_url = f"postgres://postgres@127.0.0.1:{self.pg_port}/faults"
        self.env = {**os.environ, "DJANGO_SETTINGS_MODULE": "analytics_project.settings", "ENVIRONMENT": "production",
                    "DATABASE_URL": self.database_url, "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
                    "SECRET_KEY": "f" * 50, "PLATFORM_API_TOKEN": "p" * 32, "ALLOWED_HOSTS": "localhost,127.0.0.1",
                    "LOG_LEVEL": "WARNING", "WEB_CONCURRENCY": "2", "GUNICORN_ACCESS_LOG": "",
                    "INGEST_RATE_LIMIT_PER_SECOND": "100000", "SECURE_COOKIES": "false", **settings}
        self.tenant: dict[str, Any] = {}

    # --- PostgreSQL -------------------------------------------------------------------------------

    def postgres_start(self) -> None:
        user = _server_user()
        if not (self.pg_data / "PG_VERSION").exists():
            self.pg_data.mkdir(parents=True)
            if user:
                entry = pwd.getpwnam(user)
                os.chown(self.pg_data, entry.pw_uid, entry.pw_gid)
                _let_user_reach(self.pg_data, user)
            done = subprocess.run([_pg_bin("initdb"), "-D", str(self.pg_data), "-U", "postgres", "--auth=trust",
                                   "--encoding=UTF8", "--locale=C", "--no-sync"], cwd=self.pg_data,
                                  capture_output=True, text=True, **self._as_server())
            if done.returncode:
                raise RuntimeError(f"initdb failed: {done.stderr[-2000:]}")
        options = f"-p {self.pg_port} -h 127.0.0.1 -k '' -c fsync=off -c max_connections=100"
        subprocess.run([_pg_bin("pg_ctl"), "-D", str(self.pg_data), "-l", str(self.pg_data / "server.log"), "-o",
                        options, "-w", "-t", "60", "start"], check=True, cwd=self.pg_data, stdout=subprocess.DEVNULL,
                       **self._as_server())

    def postgres_stop(self, mode: str = "fast") -> None:
        """`fast` ends every session (as a restart or a failover does); `immediate` is a crash."""
        subprocess.run([_pg_bin("pg_ctl"), "-D", str(self.pg_data), "-m", mode, "-w", "stop"], check=False,
                       cwd=self.pg_data, stdout=subprocess.DEVNULL, **self._as_server())

    @staticmethod
    def _as_server() -> dict[str, Any]:
        """As root, PostgreSQL runs as `nobody`, with nobody's group only (root's groups would make
        the owner-only temporary folders unreachable)."""
        user = _server_user()
        if user is None:
            return {}
        entry = pwd.getpwnam(user)
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    def sql(self, query: str, params: Any = None, *, database: str = "faults") -> list[tuple]:
        with psycopg.connect(self.database_url.rsplit("/", 1)[0] + f"/{database}", autocommit=True) as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    # --- Redis ------------------------------------------------------------------------------------

    def redis_start(self) -> None:
        (self.root / "redis").mkdir(exist_ok=True)
        self.processes["redis"] = subprocess.Popen(
            [_redis_server(), "--bind", "127.0.0.1", "--port", str(self.redis_port), "--dir", str(self.root / "redis"),
             "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL, start_new_session=True)
        wait_for_port(self.redis_port)

    # --- the project's processes ------------------------------------------------------------------

    def manage(self, *args: str) -> str:
        return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, check=True,
                              capture_output=True, text=True).stdout

    def setup(self) -> None:
        self.postgres_start()
        self.sql("CREATE DATABASE faults", database="postgres")
        self.redis_start()
        self.manage("migrate", "--noinput", "-v", "0")
        self.tenant = json.loads(self.manage("create_tenant", "faulty", "--json"))

    def start(self, name: str, *extra: str) -> subprocess.Popen:
        commands = {
            "web": [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "--bind",
                    f"127.0.0.1:{self.web_port}", "analytics_project.wsgi:application"],
            "worker": [sys.executable, "-m", "celery", "-A", "analytics_project", "worker", "--loglevel", "INFO",
                       "--concurrency", "1", "--without-heartbeat", "--without-gossip", "--without-mingle"],
            "beat": [sys.executable, "-m", "celery", "-A", "analytics_project", "beat", "--loglevel", "WARNING",
                     "--schedule", str(self.root / "celerybeat-schedule")],
        }
        log = (self.root / f"{name}.log").open("ab")
        process = subprocess.Popen([*commands[name], *extra], cwd=ROOT, env=self.env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        self.processes[name] = process
        if name == "web":
            wait_for_port(self.web_port)
        return process

    def stop(self, name: str, sig: int = signal.SIGTERM) -> None:
        process = self.processes.pop(name, None)
        if process is not None and process.poll() is None:
            os.killpg(process.pid, sig)
            process.wait(timeout=30)

    def log(self, name: str) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def close(self) -> None:
        for name in list(self.processes):
            self.stop(name, signal.SIGKILL if name != "web" else signal.SIGTERM)
        self.postgres_stop("immediate")

"""The local stack of a backend checkout, for `analytics init-db` / `init-tenant` run without a URL.

A checkout is a directory holding manage.py and analytics_project/devstack.py: the current directory
or one of its parents. Its database is the one `make run` uses: DATABASE_URL / REDIS_URL from the
environment when set, else from var/devstack.env, which `python -m analytics_project.devstack up`
writes after starting the embedded PostgreSQL and Redis (done here when they are not running).
Management commands run with the checkout's .venv Python, as `make run` does.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit


class CliError(Exception):
    """A failure the command-line tool reports as one line, with exit code 1. (Defined here, not in
    cli.py: run as `python -m analytics_sdk.cli`, that module is __main__ and a second import of it
    would define a second class.)"""


def fail(message: str) -> NoReturn:
    raise CliError(message)


@dataclass(frozen=True)
class Stack:
    database_url: str
    redis_url: str | None


def project_root(start: Path | None = None) -> Path | None:
    here = (start or Path.cwd()).resolve()
    for folder in [here, *here.parents]:
        if (folder / "manage.py").is_file() and (folder / "analytics_project" / "devstack.py").is_file():
            return folder
    return None


def python_for(root: Path) -> str:
    venv = root / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def read_env_file(root: Path) -> dict[str, str]:
    path = root / "var" / "devstack.env"
    if not path.exists():
        return {}
    pairs = (
        line.split("=", 1)
        for line in path.read_text().splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    )
    return {key.strip(): value.strip() for key, value in pairs}


def reachable(url: str | None) -> bool:
    if not url:
        return False
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), timeout=1):
            return True
    except OSError:
        return False


def redact(url: str) -> str:
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


def ensure_stack(root: Path, *, say: Callable[[str], None]) -> Stack:
    """The database (and Redis) the checkout's settings will use, started with devstack if it is
    local and not running. An explicit DATABASE_URL in the environment is used as it is."""
    if os.environ.get("DATABASE_URL"):
        return Stack(os.environ["DATABASE_URL"], os.environ.get("REDIS_URL"))
    values = read_env_file(root)
    if not (reachable(values.get("DATABASE_URL")) and reachable(values.get("REDIS_URL"))):
        say("Starting the local PostgreSQL and Redis (python -m analytics_project.devstack up)…")
        done = subprocess.run(
            [python_for(root), "-m", "analytics_project.devstack", "up"],
            cwd=root,
            check=False,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            fail("the local stack did not start: " + last_line(done.stderr or done.stdout))
        values = read_env_file(root)
        say("Started; `python -m analytics_project.devstack down` stops them.")
    if not values.get("DATABASE_URL"):
        fail(f"{root / 'var' / 'devstack.env'} names no DATABASE_URL")
    return Stack(values["DATABASE_URL"], values.get("REDIS_URL"))


def command(root: Path, *args: str) -> list[str]:
    return [python_for(root), str(root / "manage.py"), *args]


def environment(stack: Stack) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": stack.database_url}
    if stack.redis_url:
        env["REDIS_URL"] = stack.redis_url
    return env


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def manage(root: Path, stack: Stack, *args: str, capture: bool = False) -> str:
    """Runs `manage.py <args>` in the checkout; a failure is one line (the command's last)."""
    done = subprocess.run(
        command(root, *args),
        cwd=root,
        env=environment(stack),
        text=True,
        check=False,
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.PIPE,
    )
    if done.returncode != 0:
        fail(f"manage.py {args[0]} failed: {last_line(done.stderr)}")
    if not capture and done.stderr:
        sys.stderr.write(done.stderr)
    return done.stdout or ""

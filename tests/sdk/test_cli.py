"""The `analytics` command-line tool (sdk/python/src/analytics_sdk/cli.py), run as a real subprocess
against the live server: each command's effect is read back through the API or the database."""

from __future__ import annotations

import csv
import http.server
import io
import itertools
import json
import os
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from django.db import connection

from apps.tenancy.models import Tenant
from tests.sdk.conftest import stored_events

ROOT = Path(__file__).resolve().parents[2]
SDK_SRC = ROOT / "sdk" / "python" / "src"
_slugs = itertools.count()


def cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ANALYTICS_")}
    # Wide enough that Rich never folds a table cell or a message.
    clean.update({"PYTHONPATH": str(SDK_SRC), "COLUMNS": "250", "NO_COLOR": "1", **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "analytics_sdk.cli", *args],
        cwd=cwd,
        env=clean,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


def table_row(output: str, first: str) -> list[str]:
    """The cells of the Rich table row whose first cell is `first`."""
    for line in output.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃|]", line)[1:-1]]
        if cells and cells[0] == first:
            return cells
    raise AssertionError(f"no row {first!r} in:\n{output}")


def api(host: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=host, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def send(host: str, key: str, *events: dict) -> None:
    with api(host, key) as http:
        response = http.post("/api/v1/events/batch", json={"events": list(events)})
    assert response.status_code == 200 and response.json()["rejected"] == [], response.text


@pytest.fixture
def drop_schemas(transactional_db):  # noqa: ANN001, ANN201
    """Schemas of tenants a command made (committed by the server or a subprocess): dropped after."""
    made: list[str] = []
    yield made
    connection.set_schema_to_public()
    with connection.cursor() as cursor:
        for slug in made:
            cursor.execute(f'DROP SCHEMA IF EXISTS "{Tenant.schema_name_for(slug)}" CASCADE')


# --- the seed's commands, as written ---------------------------------------------------------------


def test_track_event_stores_the_event(sdk_tenant, host, tmp_path):
    result = cli(
        "track-event",
        "user_login",
        "--user-id",
        "user123",
        "--property",
        "plan=pro",
        "-p",
        "seats=3",
        "--url",
        host,
        "--api-key",
        sdk_tenant.write_key,
        cwd=tmp_path,
    )

    assert result.returncode == 0, result.stderr
    message_id = re.search(r"message id ([0-9a-f-]{36})", result.stdout).group(1)
    with api(host, sdk_tenant.secret_key) as http:
        events = http.get("/api/v1/events", params={"event": "user_login"}).json()["results"]
    assert [(e["distinct_id"], e["user_id"], e["message_id"], e["properties"]) for e in events] == [
        ("user123", "user123", message_id, {"plan": "pro", "seats": 3})
    ]
    assert stored_events(sdk_tenant.tenant) == [("user_login", message_id)]


def test_track_event_reads_the_host_and_key_from_the_environment(sdk_tenant, host, tmp_path):
    result = cli(
        "track-event",
        "user_login",
        "--anonymous-id",
        "anon-1",
        cwd=tmp_path,
        env={"ANALYTICS_HOST": host, "ANALYTICS_API_KEY": sdk_tenant.write_key},
    )

    assert result.returncode == 0, result.stderr
    assert [event for event, _ in stored_events(sdk_tenant.tenant)] == ["user_login"]


def test_create_metric_defines_the_metric(sdk_tenant, host, tmp_path):
    result = cli(
        "create-metric",
        "response_time",
        "Response Time",
        "--metric-type",
        "histogram",
        "--unit",
        "ms",
        "--url",
        host,
        "--api-key",
        sdk_tenant.secret_key,
        cwd=tmp_path,
    )

    assert result.returncode == 0, result.stderr
    with api(host, sdk_tenant.secret_key) as http:
        metric = http.get("/api/v1/metrics/response_time").json()
    assert (metric["name"], metric["display_name"], metric["metric_type"], metric["unit"]) == (
        "response_time",
        "Response Time",
        "histogram",
        "ms",
    )


def test_init_tenant_through_the_platform_api_prints_keys_that_work(
    drop_schemas, live_server, settings, tmp_path
):
    slug = f"cli-remote-{next(_slugs)}"
    drop_schemas.append(slug)

    result = cli(
        "init-tenant",
        "--tenant-id",
        slug,
        "--name",
        "CLI Co",
        "--url",
        live_server.url,
        "--platform-token",
        settings.PLATFORM_API_TOKEN,
        cwd=tmp_path,
    )

    assert result.returncode == 0, result.stderr
    assert Tenant.objects.filter(slug=slug, name="CLI Co").exists()
    write_key = re.search(r"\bwk_[A-Za-z0-9]{40}\b", result.stdout).group(0)
    secret_key = re.search(r"\bsk_[A-Za-z0-9]{40}\b", result.stdout).group(0)
    send(live_server.url, write_key, {"event_name": "first", "user_id": "u1"})
    with api(live_server.url, secret_key) as http:
        assert http.get("/api/v1/tenant").json()["slug"] == slug
        assert [e["event"] for e in http.get("/api/v1/events").json()["results"]] == ["first"]


def test_init_tenant_with_a_taken_slug_is_one_line_and_creates_nothing(sdk_tenant, host, settings, tmp_path):
    result = cli(
        "init-tenant",
        "--tenant-id",
        sdk_tenant.slug,
        "--url",
        host,
        "--platform-token",
        settings.PLATFORM_API_TOKEN,
        cwd=tmp_path,
    )

    assert "409" in one_line_error(result)
    assert Tenant.objects.filter(slug=sdk_tenant.slug).count() == 1


def test_init_db_against_a_server_checks_it_and_leaves_the_database_to_it(live_server, tmp_path):
    result = cli("init-db", "--url", live_server.url, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "managed by the server" in result.stdout
    assert table_row(result.stdout, "database")[1] == "ok"


def test_health_prints_each_dependency(live_server, tmp_path):
    result = cli("health", "--url", live_server.url, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert table_row(result.stdout, "database")[1] == "ok"
    assert table_row(result.stdout, "redis")[1] == "ok"


def test_health_of_an_unreachable_server_exits_1(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: refused

        result = cli("health", "--url", f"http://127.0.0.1:{port}", cwd=tmp_path)

    assert "cannot reach" in one_line_error(result)


@pytest.fixture
def health_stub():  # noqa: ANN201
    """A server answering GET <path> with the (status, body) set in `routes`; anything else is 404.
    /health/detailed is another branch's work, so its answer is stubbed as it is specified."""
    routes: dict[str, tuple[int, dict]] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            status, body = routes.get(
                self.path, (404, {"error": {"code": "not_found", "message": "Not found.", "details": None}})
            )
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", routes
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("status", "code", "exit_code"), [("ok", 200, 0), ("degraded", 200, 0), ("down", 503, 1)]
)
def test_health_shows_the_detailed_checks_and_exits_by_status(health_stub, tmp_path, status, code, exit_code):
    url, routes = health_stub
    routes["/health/detailed"] = (
        code,
        {
            "status": status,
            "checks": {
                "database": {"status": "ok" if status != "down" else "down", "latency_ms": 1.234},
                "redis": {"status": "ok" if status == "ok" else "down", "latency_ms": None},
                "celery": {"status": "ok", "latency_ms": 12, "workers": 2},
            },
        },
    )

    result = cli("health", "--url", url, cwd=tmp_path)

    assert result.returncode == exit_code, result.stderr
    assert f"Health: {status}" in result.stdout
    assert table_row(result.stdout, "database")[1:3] == ["ok" if status != "down" else "down", "1.2"]
    assert table_row(result.stdout, "redis")[1:3] == ["ok" if status == "ok" else "down", "-"]
    assert table_row(result.stdout, "celery")[1:4] == ["ok", "12.0", '{"workers":2}']


def test_health_falls_back_to_readiness_and_exits_1_when_unavailable(health_stub, tmp_path):
    url, routes = health_stub
    routes["/health/ready"] = (
        503,
        {"status": "unavailable", "checks": {"postgres": "unreachable", "redis": "ok"}},
    )

    result = cli("health", "--url", url, cwd=tmp_path)

    assert result.returncode == 1
    assert table_row(result.stdout, "database")[1] == "unreachable"


# --- what an operator needs next -------------------------------------------------------------------


def test_query_trends_prints_the_count(sdk_tenant, host, tmp_path):
    send(
        host,
        sdk_tenant.write_key,
        *[{"event_name": "user_login", "user_id": f"u{i % 2}"} for i in range(3)],
        {"event_name": "other", "user_id": "u1"},
    )

    table = cli(
        "query",
        "trends",
        "--event",
        "user_login",
        "--interval",
        "day",
        "--date-from",
        "-7d",
        "--refresh",
        "--url",
        host,
        "--api-key",
        sdk_tenant.secret_key,
        cwd=tmp_path,
    )
    raw = cli(
        "query",
        "trends",
        "-e",
        "user_login",
        "--math",
        "unique_persons",
        "--json",
        "--url",
        host,
        "--api-key",
        sdk_tenant.secret_key,
        cwd=tmp_path,
    )

    assert table.returncode == 0, table.stderr
    assert table_row(table.stdout, "total")[1:] == ["3"]
    assert len([line for line in table.stdout.splitlines() if re.match(r"^│ \d{4}-\d\d-\d\dT", line)]) == 8
    assert raw.returncode == 0, raw.stderr
    assert [(s["event"], s["math"], s["total"]) for s in json.loads(raw.stdout)["series"]] == [
        ("user_login", "unique_persons", 2)
    ]


def test_query_runs_any_spec_from_a_file_or_stdin(sdk_tenant, host, tmp_path):
    send(
        host,
        sdk_tenant.write_key,
        {"event_name": "Signed Up", "user_id": "a"},
        {"event_name": "Signed Up", "user_id": "b"},
        {"event_name": "Purchased", "user_id": "a"},
    )
    spec = {"kind": "funnel", "steps": [{"event": "Signed Up"}, {"event": "Purchased"}], "refresh": True}
    (tmp_path / "funnel.json").write_text(json.dumps(spec))

    from_file = cli(
        "query", "--spec", "funnel.json", "--url", host, "--api-key", sdk_tenant.secret_key, cwd=tmp_path
    )
    from_stdin = cli(
        "query",
        "--spec",
        "-",
        "--json",
        "--url",
        host,
        "--api-key",
        sdk_tenant.secret_key,
        cwd=tmp_path,
        stdin=json.dumps(spec),
    )

    assert from_file.returncode == 0, from_file.stderr
    assert table_row(from_file.stdout, "Signed Up")[1] == "2"
    assert table_row(from_file.stdout, "Purchased")[1] == "1"
    assert [s["count"] for s in json.loads(from_stdin.stdout)["steps"]] == [2, 1]


def test_query_with_an_invalid_spec_shows_the_servers_message(sdk_tenant, host, tmp_path):
    result = cli(
        "query",
        "trends",
        "--event",
        "x",
        "--interval",
        "fortnight",
        "--url",
        host,
        "--api-key",
        sdk_tenant.secret_key,
        cwd=tmp_path,
    )

    line = one_line_error(result)
    assert line.startswith("Error: 400 ") and "interval" in line


def _xml_value(element):  # noqa: ANN001, ANN202
    """A <property> element back to its JSON value (apps/events/export.py's layout)."""
    kind = element.get("type")
    if kind == "object":
        return {child.get("name"): _xml_value(child) for child in element}
    if kind == "array":
        return [_xml_value(child) for child in element]
    if kind == "number":
        return json.loads(element.text)
    if kind == "boolean":
        return element.text == "true"
    return None if kind == "null" else (element.text or "")


def _xml_rows(path):  # noqa: ANN001, ANN202
    from xml.etree import ElementTree

    rows = []
    for event in ElementTree.parse(path).getroot():
        row = {child.tag: child.text for child in event if child.tag != "properties"}
        row["properties"] = {p.get("name"): _xml_value(p) for p in event.find("properties")}
        rows.append(row)
    return rows


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json", "xml", "parquet"])
def test_export_writes_the_events(sdk_tenant, host, tmp_path, fmt):
    send(
        host,
        sdk_tenant.write_key,
        *[
            {
                "event_name": "page" if i % 3 else "buy",
                "user_id": f"u{i}",
                "message_id": f"m-{i:03}",
                "properties": {"n": i, "note": "two\nlines"},
            }
            for i in range(25)
        ],
    )
    output = tmp_path / f"out.{fmt}"

    result = cli(
        "export", "--output", str(output), "--url", host, "--api-key", sdk_tenant.secret_key, cwd=tmp_path
    )
    buys = cli(
        "export",
        "-o",
        "buys.jsonl",
        "--event",
        "buy",
        "--url",
        host,
        "--api-key",
        sdk_tenant.secret_key,
        cwd=tmp_path,
    )

    assert result.returncode == 0, result.stderr
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(output.read_text())))
    elif fmt == "jsonl":
        rows = [json.loads(line) for line in output.read_text().splitlines()]
    elif fmt == "json":
        rows = json.loads(output.read_text())
    elif fmt == "xml":
        rows = _xml_rows(output)
    else:
        import pyarrow.parquet as pq

        rows = pq.read_table(output).to_pylist()
    assert sorted(((r["event"], r["message_id"]) for r in rows), key=lambda pair: pair[1]) == stored_events(
        sdk_tenant.tenant
    )
    assert len(rows) == 25 and "Exported 25 rows" in result.stdout
    properties = {r["message_id"]: r["properties"] for r in rows}["m-004"]
    assert (json.loads(properties) if isinstance(properties, str) else properties) == {
        "n": 4,
        "note": "two\nlines",
    }
    assert buys.returncode == 0, buys.stderr
    assert sorted(
        json.loads(line)["message_id"] for line in (tmp_path / "buys.jsonl").read_text().splitlines()
    ) == [f"m-{i:03}" for i in range(0, 25, 3)]


def test_tenants_lists_the_tenants(sdk_tenant, host, settings, tmp_path):
    result = cli("tenants", "--url", host, "--platform-token", settings.PLATFORM_API_TOKEN, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    row = table_row(result.stdout, sdk_tenant.slug)
    assert row[1:4] == ["SDK Co", sdk_tenant.tenant.schema_name, "UTC"]


# --- refusals: one red line, exit code 1 -----------------------------------------------------------


def test_a_wrong_key_is_one_line_and_exit_1(sdk_tenant, host, tmp_path):
    wrong = sdk_tenant.write_key[:-1] + ("y" if sdk_tenant.write_key[-1] != "y" else "z")

    result = cli(
        "track-event", "user_login", "--user-id", "user123", "--url", host, "--api-key", wrong, cwd=tmp_path
    )

    assert "401 unauthenticated" in one_line_error(result)
    assert stored_events(sdk_tenant.tenant) == []


def test_a_write_key_cannot_create_a_metric(sdk_tenant, host, tmp_path):
    result = cli(
        "create-metric", "response_time", "--url", host, "--api-key", sdk_tenant.write_key, cwd=tmp_path
    )

    assert "403" in one_line_error(result)
    with api(host, sdk_tenant.secret_key) as http:
        assert http.get("/api/v1/metrics/response_time").status_code == 404


def test_export_with_a_write_key_is_one_line_and_writes_no_file(sdk_tenant, host, tmp_path):
    result = cli("export", "-o", "events.csv", "--url", host, "--api-key", sdk_tenant.write_key, cwd=tmp_path)

    assert "403" in one_line_error(result)
    assert not (tmp_path / "events.csv").exists()


@pytest.mark.parametrize("command", [["tenants"], ["init-tenant", "--tenant-id", "nope"]])
def test_a_wrong_platform_token_is_one_line(live_server, tmp_path, command):
    result = cli(*command, "--url", live_server.url, "--platform-token", "not-the-token", cwd=tmp_path)

    assert re.match(r"Error: 40[13] ", one_line_error(result))
    assert not Tenant.objects.filter(slug="nope").exists()


def test_a_missing_key_is_one_line(tmp_path):
    result = cli("query", "trends", "--event", "x", "--url", "http://127.0.0.1:9", cwd=tmp_path)

    assert "ANALYTICS_API_KEY" in one_line_error(result)


# --- the local stack: init-db and init-tenant inside the checkout, on the test database ------------


def local_database(settings) -> dict[str, str]:  # noqa: ANN001
    """The suite's own database and Redis, as the environment of a command run in the checkout."""
    db = connection.settings_dict
    credentials = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return {
        "DATABASE_URL": f"postgres://{credentials}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "DJANGO_SETTINGS_MODULE": "analytics_project.settings.test",
    }


def test_init_tenant_in_the_checkout_uses_the_management_command(drop_schemas, live_server, settings):
    slug = f"cli-local-{next(_slugs)}"
    drop_schemas.append(slug)

    result = cli("init-tenant", "--tenant-id", slug, cwd=ROOT / "apps", env=local_database(settings))

    assert result.returncode == 0, result.stderr
    assert Tenant.objects.filter(slug=slug).exists()
    secret_key = re.search(r"\bsk_[A-Za-z0-9]{40}\b", result.stdout).group(0)
    with api(live_server.url, secret_key) as http:
        assert http.get("/api/v1/tenant").json()["slug"] == slug


def test_init_tenant_in_the_checkout_reports_the_commands_error(sdk_tenant, settings):
    result = cli("init-tenant", "--tenant-id", sdk_tenant.slug, cwd=ROOT, env=local_database(settings))

    line = one_line_error(result)
    assert "create_tenant" in line and "exists" in line


def test_init_db_in_the_checkout_migrates_the_database(transactional_db, settings):
    result = cli("init-db", cwd=ROOT, env=local_database(settings), timeout=300)

    assert result.returncode == 0, result.stderr
    assert "The database is migrated." in result.stdout


def test_the_local_stack_is_started_when_its_database_does_not_answer(tmp_path, monkeypatch):
    from analytics_sdk import _cli_local as local

    # A checkout whose devstack only records that it was asked to start, and names its addresses.
    (tmp_path / "manage.py").write_text("")
    (tmp_path / "analytics_project").mkdir()
    (tmp_path / "analytics_project" / "__init__.py").write_text("")
    (tmp_path / "analytics_project" / "devstack.py").write_text(
        "import pathlib, sys\n"
        "assert sys.argv[1:] == ['up']\n"
        "pathlib.Path('var').mkdir(exist_ok=True)\n"
        "pathlib.Path('var/devstack.env').write_text('DATABASE_URL=postgres://postgres@127.0.0.1:9/analytics\\n"
        "REDIS_URL=redis://127.0.0.1:9/0\\n')\n"
    )
    (tmp_path / "deep" / "er").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "deep" / "er")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    said: list[str] = []

    root = local.project_root()
    stack = local.ensure_stack(root, say=said.append)

    assert root == tmp_path
    assert stack == local.Stack("postgres://postgres@127.0.0.1:9/analytics", "redis://127.0.0.1:9/0")
    assert "devstack up" in said[0]
    assert local.command(root, "migrate", "--noinput")[1:] == [
        str(tmp_path / "manage.py"),
        "migrate",
        "--noinput",
    ]
    assert local.environment(stack)["DATABASE_URL"] == stack.database_url


@pytest.mark.skipif(
    socket.socket().connect_ex(("127.0.0.1", 8000)) == 0, reason="a server answers on port 8000"
)
def test_outside_a_checkout_init_db_asks_the_default_server(tmp_path):
    result = cli("init-db", cwd=tmp_path, env={"DATABASE_URL": ""})

    assert "http://localhost:8000" in one_line_error(result)

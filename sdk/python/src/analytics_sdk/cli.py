"""`analytics`: the command-line tool of the analytics backend.

    analytics init-db                                   migrate the local stack (or check a server)
    analytics init-tenant --tenant-id acme              create a tenant, print its two keys once
    analytics track-event "user_login" --user-id u1     send one event (write key)
    analytics create-metric "response_time" "Response Time" --metric-type histogram   (secret key)
    analytics health                                    each dependency's state and latency
    analytics query trends --event user_login --interval day --date-from -7d          (secret key)
    analytics export --format csv --output events.csv   stream events to a file     (secret key)
    analytics tenants                                   list tenants (platform token)

Remote commands talk plain HTTP with httpx, not through the SDK's async client: the tool stays a
thin, synchronous view of the REST API. `--url` / ANALYTICS_HOST, `--api-key` / ANALYTICS_API_KEY
and `--platform-token` / ANALYTICS_PLATFORM_TOKEN say where and as whom. Without a URL, `init-db`
and `init-tenant` run against the local stack of the project checkout they are run in (see
`analytics_sdk._cli_local`). Every failure is one red line on stderr and exit code 1.
"""

from __future__ import annotations

import csv
import json
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from analytics_sdk import _cli_local as local
from analytics_sdk._cli_local import CliError, fail

DEFAULT_URL = "http://localhost:8000"
USER_AGENT = "analytics-cli/0.1.0"

out = Console()
err = Console(stderr=True)

app = typer.Typer(
    name="analytics",
    no_args_is_help=True,
    add_completion=False,
    # Locals would print keys and tokens into a terminal or a CI log.
    pretty_exceptions_show_locals=False,
    help="The analytics backend from the command line: set up, send, query, export, check health.",
)


# --- options shared by the commands ---------------------------------------------------------------

UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar="ANALYTICS_HOST",
        show_envvar=True,
        help=f"The server's base URL [default: {DEFAULT_URL}, what `make run` serves].",
    ),
]
ApiKeyOption = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar="ANALYTICS_API_KEY",
        show_envvar=True,
        help="A tenant key: wk_… (sending) or sk_… (everything).",
    ),
]
PlatformTokenOption = Annotated[
    str | None,
    typer.Option(
        "--platform-token",
        envvar="ANALYTICS_PLATFORM_TOKEN",
        show_envvar=True,
        help="The platform API token (PLATFORM_API_TOKEN on the server).",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the server's answer as JSON.")]
TimeoutOption = Annotated[float, typer.Option("--timeout", help="Seconds to wait for an answer.")]


# --- HTTP -----------------------------------------------------------------------------------------


def client(url: str | None, *, token: str | None = None, timeout: float = 30.0) -> httpx.Client:
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.Client(base_url=(url or DEFAULT_URL).rstrip("/"), headers=headers, timeout=timeout)


def need(value: str | None, what: str) -> str:
    if not value:
        fail(what)
    return value


def error_line(response: httpx.Response) -> str:
    """`401 unauthenticated: The API key is unknown or revoked.` from the server's error body."""
    try:
        body = response.json()
        error = body["error"]
        code, message, details = error.get("code", "error"), error.get("message", ""), error.get("details")
    except (ValueError, KeyError, TypeError, AttributeError):
        text = " ".join(response.text.split())[:200]
        return f"{response.status_code} {response.reason_phrase}" + (f": {text}" if text else "")
    line = f"{response.status_code} {code}: {message}"
    if details:
        line += " " + json.dumps(details, separators=(",", ":"), default=str)[:300]
    if response.status_code == 401:
        line += " (check --api-key / ANALYTICS_API_KEY or --platform-token)"
    return line


def request(http: httpx.Client, method: str, path: str, **kwargs: Any) -> httpx.Response:
    try:
        response = http.request(method, path, **kwargs)
    except httpx.TimeoutException:
        fail(f"{http.base_url} did not answer {method} {path} in time")
    except httpx.HTTPError as exc:
        fail(f"cannot reach {http.base_url}: {exc}")
    if response.status_code >= 400:
        fail(error_line(response))
    return response


def answer(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        fail(
            f"{response.request.method} {response.request.url.path} answered {response.status_code} but not JSON"
        )


def print_json(data: Any) -> None:
    out.print_json(json.dumps(data, default=str))


def cell(value: Any) -> str:
    """A value from the server as table text (escaped: an event called `[pro]` is not markup)."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e6 else f"{value:,.0f}"
    if isinstance(value, (dict, list)):
        return escape(json.dumps(value, separators=(",", ":")))
    return escape(str(value))


# --- init-db / init-tenant ------------------------------------------------------------------------


@app.command("init-db")
def init_db(url: UrlOption = None, timeout: TimeoutOption = 30.0) -> None:
    """Migrate the database: the local stack's (started if needed) or, with a URL, check a server's."""
    root = local.project_root() if url is None else None
    if root is not None:
        stack = local.ensure_stack(root, say=err.print)
        err.print(f"Migrating {local.redact(stack.database_url)} (public schema, tenants, template)…")
        local.manage(root, stack, "migrate", "--noinput")
        out.print("[green]The database is migrated.[/green]")
        return
    with client(url, timeout=timeout) as http:
        state = health_state(http)
    show_health(state)
    if state["status"] in ("down", "unavailable"):
        fail(f"{http.base_url}: the server's database is not ready")
    out.print(
        f"The database of {http.base_url} is managed by the server: its migrations run when it is "
        "deployed, so there is nothing to initialise from here."
    )


@app.command("init-tenant")
def init_tenant(
    tenant_id: Annotated[str, typer.Option("--tenant-id", help="The tenant's slug: a-z, 0-9 and -.")],
    name: Annotated[str, typer.Option(help="A display name.")] = "",
    timezone: Annotated[str, typer.Option(help="The tenant's IANA time zone.")] = "UTC",
    url: UrlOption = None,
    platform_token: PlatformTokenOption = None,
    as_json: JsonOption = False,
    timeout: TimeoutOption = 30.0,
) -> None:
    """Create a tenant and print its write and secret keys (shown once)."""
    root = local.project_root() if url is None else None
    if root is not None:
        stack = local.ensure_stack(root, say=err.print)
        created = json.loads(
            local.manage(
                root,
                stack,
                "create_tenant",
                tenant_id,
                "--name",
                name,
                "--timezone",
                timezone,
                "--json",
                capture=True,
            )
        )
    else:
        token = need(
            platform_token, "no platform token: pass --platform-token or set ANALYTICS_PLATFORM_TOKEN"
        )
        with client(url, token=token, timeout=timeout) as http:
            created = answer(
                request(
                    http,
                    "POST",
                    "/platform/v1/tenants",
                    json={"slug": tenant_id, "name": name, "timezone": timezone},
                )
            )
    if as_json:
        print_json(created)
        return
    table = Table(title=f"Tenant {created['slug']} created", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for label, key in [
        ("Schema", "schema_name"),
        ("Console", "domain"),
        ("Write key", "write_key"),
        ("Secret key", "secret_key"),
    ]:
        table.add_row(label, cell(created.get(key)))
    out.print(table)
    out.print("The keys are shown once; only their hashes are stored.")


# --- track-event / create-metric ------------------------------------------------------------------


def parse_properties(properties: str | None, pairs: list[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if properties:
        try:
            found = json.loads(properties)
        except ValueError as exc:
            fail(f"--properties is not JSON: {exc}")
        if not isinstance(found, dict):
            fail("--properties must be a JSON object")
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail(f"--property takes KEY=VALUE, not {pair!r}")
        try:
            # `plan=pro` is a string; `n=3`, `ok=true` and `x=null` keep their JSON types.
            found[key] = json.loads(value)
        except ValueError:
            found[key] = value
    return found


@app.command("track-event")
def track_event(
    event_name: Annotated[str, typer.Argument(help="The event's name, e.g. user_login.")],
    user_id: Annotated[str | None, typer.Option(help="The user's id.")] = None,
    anonymous_id: Annotated[str | None, typer.Option(help="An anonymous id (when no user id).")] = None,
    properties: Annotated[str | None, typer.Option(help="Properties as a JSON object.")] = None,
    prop: Annotated[list[str] | None, typer.Option("--property", "-p", help="KEY=VALUE, repeatable.")] = None,
    event_type: Annotated[
        str, typer.Option(help="track, page, screen, click, conversion or custom.")
    ] = "track",
    timestamp: Annotated[str | None, typer.Option(help="ISO 8601; default: now.")] = None,
    message_id: Annotated[str | None, typer.Option(help="De-duplication id; default: a new UUID.")] = None,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
    timeout: TimeoutOption = 30.0,
) -> None:
    """Send one event (a write key is enough)."""
    if not user_id and not anonymous_id:
        fail("an event needs --user-id or --anonymous-id")
    event: dict[str, Any] = {
        "event_type": event_type,
        "event_name": event_name,
        "message_id": message_id or str(uuid.uuid4()),
        "properties": parse_properties(properties, prop or []),
    }
    for field, value in [("user_id", user_id), ("anonymous_id", anonymous_id), ("timestamp", timestamp)]:
        if value:
            event[field] = value
    key = need(api_key, "no API key: pass --api-key or set ANALYTICS_API_KEY")
    with client(url, token=key, timeout=timeout) as http:
        result = answer(request(http, "POST", "/api/v1/events/track", json=event))
    if result.get("rejected"):
        fail(f"the event was refused: {result['rejected'][0].get('error')}")
    if as_json:
        print_json({**result, "message_id": event["message_id"]})
        return
    out.print(
        f"[green]Event[/green] {escape(event_name)} [green]accepted[/green] (message id {event['message_id']})"
    )


@app.command("create-metric")
def create_metric(
    name: Annotated[str, typer.Argument(help="The metric's name, e.g. response_time.")],
    display_name: Annotated[str, typer.Argument(help='A display name, e.g. "Response Time".')] = "",
    metric_type: Annotated[str, typer.Option(help="counter, gauge or histogram.")] = "counter",
    unit: Annotated[str, typer.Option(help="e.g. ms.")] = "",
    description: Annotated[str, typer.Option()] = "",
    dimension: Annotated[list[str] | None, typer.Option("--dimension", help="A dimension, repeatable.")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="A tag, repeatable.")] = None,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
    timeout: TimeoutOption = 30.0,
) -> None:
    """Define a metric (secret key)."""
    key = need(api_key, "no API key: pass --api-key or set ANALYTICS_API_KEY (a secret key, sk_…)")
    body = {
        "name": name,
        "metric_type": metric_type,
        "display_name": display_name,
        "unit": unit,
        "description": description,
        "dimensions": dimension or [],
        "tags": tag or [],
    }
    with client(url, token=key, timeout=timeout) as http:
        metric = answer(request(http, "POST", "/api/v1/metrics", json=body))
    if as_json:
        print_json(metric)
        return
    unit = f", {metric['unit']}" if metric.get("unit") else ""
    out.print(
        f"[green]Metric[/green] {escape(metric['name'] + ' (' + metric['metric_type'] + unit + ')')} "
        "[green]created[/green]"
    )


# --- health ---------------------------------------------------------------------------------------


def health_state(http: httpx.Client) -> dict[str, Any]:
    """{"status", "checks": {name: {"status", "latency_ms"}}, "source"} from /health/detailed, or from
    /health/ready on a server without it. Unreachable is a CliError; a 503 is a state, not an error."""
    for path in ("/health/detailed", "/health/ready"):
        started = time.perf_counter()
        try:
            response = http.get(path)
        except httpx.TimeoutException:
            fail(f"{http.base_url} did not answer GET {path} in time")
        except httpx.HTTPError as exc:
            fail(f"cannot reach {http.base_url}: {exc}")
        elapsed_ms = (time.perf_counter() - started) * 1000
        if response.status_code in (401, 403, 404, 405) and path == "/health/detailed":
            continue
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or "status" not in body:
            fail(f"GET {path}: {error_line(response)}")
        checks = {}
        for name, check in (body.get("checks") or {}).items():
            if not isinstance(check, dict):  # /health/ready: {"postgres": "ok", "redis": "unreachable"}
                check = {"status": check}
            # /health/ready calls the database `postgres`; /health/detailed calls it `database`.
            checks["database" if name == "postgres" else name] = check
        return {"status": body["status"], "checks": checks, "source": path, "elapsed_ms": elapsed_ms}
    raise AssertionError("unreachable")  # pragma: no cover - /health/ready always returns above


STATUS_STYLE = {"ok": "green", "degraded": "yellow"}


def show_health(state: dict[str, Any]) -> None:
    table = Table(title=f"Health: {state['status']}  ({state['source']}, {state['elapsed_ms']:.0f} ms)")
    table.add_column("Dependency")
    table.add_column("Status")
    table.add_column("Latency (ms)", justify="right")
    table.add_column("Detail")
    for name, check in state["checks"].items():
        status = str(check.get("status", "-"))
        latency = check.get("latency_ms")
        detail = {k: v for k, v in check.items() if k not in ("status", "latency_ms")}
        table.add_row(
            cell(name),
            f"[{STATUS_STYLE.get(status, 'red')}]{escape(status)}[/]",
            "-" if latency is None else f"{float(latency):.1f}",
            cell(detail) if detail else "",
        )
    out.print(table)


@app.command()
def health(url: UrlOption = None, as_json: JsonOption = False, timeout: TimeoutOption = 10.0) -> None:
    """Each dependency's state and latency; exit 0 when ok or degraded, 1 when down or unreachable."""
    with client(url, timeout=timeout) as http:
        state = health_state(http)
    if as_json:
        print_json(state)
    else:
        show_health(state)
    if state["status"] not in ("ok", "degraded"):
        raise typer.Exit(1)


# --- query ----------------------------------------------------------------------------------------


def read_spec(spec: str) -> dict[str, Any]:
    try:
        text = sys.stdin.read() if spec == "-" else Path(spec).read_text()
    except OSError as exc:
        fail(f"cannot read the spec: {exc}")
    try:
        data = json.loads(text)
    except ValueError as exc:
        fail(f"the spec is not JSON: {exc}")
    if not isinstance(data, dict):
        fail("the spec must be a JSON object")
    return data


def series_table(result: dict[str, Any]) -> Table:
    """trends and metric answers: one row per bucket, one column per series."""
    series = result.get("series") or []
    table = Table()
    table.add_column("bucket")
    for s in series:
        if result["kind"] == "trends":
            label = f"{s['event']} ({s['math']})"
            if s.get("breakdown_value") is not None:
                label += f" [{s['breakdown_value']}]"
        else:
            label = f"{result.get('metric')} ({result.get('aggregation')})"
            if s.get("group"):
                label += " " + ",".join(f"{k}={v}" for k, v in s["group"].items())
        table.add_column(cell(label), justify="right")
    buckets = series[0]["buckets"] if series else []
    for index, bucket in enumerate(buckets):
        table.add_row(bucket, *(cell(s["values"][index]) for s in series))
    if result["kind"] == "trends" and series:
        table.add_section()
        table.add_row("total", *(cell(s.get("total")) for s in series), style="bold")
    return table


def rows_table(rows: list[dict[str, Any]]) -> Table:
    table = Table()
    columns = list(dict.fromkeys(key for row in rows for key in row))
    for column in columns:
        table.add_column(cell(column))
    for row in rows:
        table.add_row(*(cell(row.get(column)) for column in columns))
    return table


def result_table(result: dict[str, Any]) -> Table | None:
    kind = result.get("kind")
    if kind in ("trends", "metric"):
        return series_table(result)
    if kind == "segment_size":
        table = Table()
        table.add_column("bucket")
        table.add_column("size", justify="right")
        for bucket, value in zip(result.get("buckets", []), result.get("values", [])):
            table.add_row(bucket, cell(value))
        return table
    for field in ("steps", "cohorts", "results"):
        if isinstance(result.get(field), list):
            return rows_table(result[field])
    return None


@app.command()
def query(
    kind: Annotated[
        str | None, typer.Argument(help="trends (built from the options); other kinds need --spec.")
    ] = None,
    event: Annotated[list[str] | None, typer.Option("--event", "-e", help="A series' event, repeatable.")] = None,
    math: Annotated[
        str, typer.Option(help="total, unique_persons, sum, avg, min, max, p50, p90, p95, p99.")
    ] = "total",
    math_property: Annotated[
        str | None, typer.Option("--property", help="The numeric property of sum/avg/…")
    ] = None,
    interval: Annotated[str, typer.Option(help="minute, hour, day, week or month.")] = "day",
    date_from: Annotated[
        str | None, typer.Option(help="ISO 8601 or relative (-7d, -24h); default -7d.")
    ] = None,
    date_to: Annotated[str | None, typer.Option(help="ISO 8601, relative or now; default now.")] = None,
    breakdown: Annotated[str | None, typer.Option(help="An event property to break down by.")] = None,
    timezone: Annotated[str | None, typer.Option(help="Default: the tenant's.")] = None,
    refresh: Annotated[bool, typer.Option(help="Bypass the server's cache.")] = False,
    spec: Annotated[str | None, typer.Option(help="A JSON query spec: a file, or - for stdin.")] = None,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
    timeout: TimeoutOption = 120.0,
) -> None:
    """Run a query (secret key): a trends question from options, or any spec with --spec."""
    if spec is not None:
        body = read_spec(spec)
        if kind is not None and body.get("kind") != kind:
            fail(f"the spec's kind is {body.get('kind')!r}, not {kind!r}")
    else:
        if kind not in (None, "trends"):
            fail(f"only trends is built from options; give a {kind} query as --spec FILE")
        if not event:
            fail("a trends query needs at least one --event (or give --spec FILE)")
        series: list[dict[str, Any]] = []
        for name in event or []:
            one: dict[str, Any] = {"event": name, "math": math}
            if math_property:
                one["property"] = math_property
            series.append(one)
        body = {"kind": "trends", "series": series, "interval": interval}
        if breakdown:
            body["breakdown"] = {"property": breakdown}
    for field, value in [("date_from", date_from), ("date_to", date_to), ("timezone", timezone)]:
        if value is not None:
            body[field] = value
    if refresh:
        body["refresh"] = True
    key = need(api_key, "no API key: pass --api-key or set ANALYTICS_API_KEY (a secret key, sk_…)")
    with client(url, token=key, timeout=timeout) as http:
        result = answer(request(http, "POST", "/api/v1/query", json=body))
    table = None if as_json else result_table(result)
    if table is None:
        print_json(result)
        return
    # The heading on its own line: as a table title it would wrap to the table's width.
    span = " → ".join(str(result.get(k, ""))[:16].replace("T", " ") for k in ("date_from", "date_to"))
    name = result.get("metric") or result.get("segment") or ""
    out.print(
        f"[bold]{cell(result.get('kind'))}[/bold] {cell(name)} {span} {cell(result.get('timezone', ''))}"
        f"{'  (cached)' if result.get('cached') else ''}",
        soft_wrap=True,
        highlight=False,
    )
    out.print(table)


# --- export ---------------------------------------------------------------------------------------

FORMATS = ("csv", "jsonl", "json", "xml", "parquet")


def count_rows(path: Path, fmt: str) -> int | None:
    """The exact number of exported rows (the progress bar counts lines, which a CSV field may span)."""
    if fmt == "jsonl":
        with path.open("rb") as handle:
            return sum(1 for line in handle if line.strip())
    if fmt == "json":  # one object a line: `[{...},` ... `{...}]`; "[]" when empty
        with path.open("rb") as handle:
            return sum(1 for line in handle if line.strip() not in (b"", b"[]"))
    if fmt == "xml":
        from xml.etree.ElementTree import iterparse

        rows = depth = 0
        for kind, element in iterparse(path, events=("start", "end")):
            depth += 1 if kind == "start" else -1
            if kind == "end" and depth == 1:  # <events><event>: an <event> inside one is its name
                rows += 1
                element.clear()
        return rows
    if fmt == "csv":
        with path.open(newline="", encoding="utf-8") as handle:
            return max(0, sum(1 for _ in csv.reader(handle)) - 1)
    try:
        import pyarrow.parquet as pq
    except ImportError:
        return None
    return pq.ParquetFile(path).metadata.num_rows


def stream_to(response: httpx.Response, path: Path, fmt: str) -> Iterator[tuple[int, int]]:
    """Writes the body to `path`; yields (bytes, lines so far) after each chunk."""
    written = lines = 0
    with path.open("wb") as handle:
        for chunk in response.iter_bytes():
            handle.write(chunk)
            written += len(chunk)
            if fmt == "xml":  # a row ends its line; a line feed inside a value may count one more
                lines += chunk.count(b"</event>\n")
            elif fmt != "parquet":
                lines += chunk.count(b"\n")
            yield written, lines - (1 if fmt == "csv" and lines else 0)


def written_any(progress: Progress) -> bool:
    """Whether the export began writing its file (a file that was there before is otherwise kept)."""
    return bool(progress.tasks)


@app.command()
def export(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="The file; default events.<format>.")
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format", "-f", help="csv, jsonl, json, xml or parquet; default from the output's extension, else jsonl."
        ),
    ] = None,
    event: Annotated[str | None, typer.Option(help="Only this event.")] = None,
    event_type: Annotated[str | None, typer.Option(help="Only this event type.")] = None,
    distinct_id: Annotated[str | None, typer.Option(help="Only this person (all their ids).")] = None,
    date_from: Annotated[str | None, typer.Option(help="ISO 8601, inclusive.")] = None,
    date_to: Annotated[str | None, typer.Option(help="ISO 8601, exclusive.")] = None,
    prop: Annotated[
        list[str] | None, typer.Option("--property", "-p", help="KEY=VALUE: property equals, repeatable.")
    ] = None,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    timeout: TimeoutOption = 60.0,
) -> None:
    """Export events to a file, streamed from GET /api/v1/events/export (secret key)."""
    if fmt is None:
        suffix = output.suffix.lstrip(".").lower() if output else ""
        fmt = suffix if suffix in FORMATS else "jsonl"
    if fmt not in FORMATS:
        fail(f"--format must be one of {', '.join(FORMATS)}")
    path = output or Path(f"events.{fmt}")
    params: dict[str, str] = {"format": fmt}
    for field, value in [
        ("event", event),
        ("event_type", event_type),
        ("distinct_id", distinct_id),
        ("date_from", date_from),
        ("date_to", date_to),
    ]:
        if value is not None:
            params[field] = value
    for pair in prop or []:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            fail(f"--property takes KEY=VALUE, not {pair!r}")
        params[f"properties.{name}"] = value
    key = need(api_key, "no API key: pass --api-key or set ANALYTICS_API_KEY (a secret key, sk_…)")
    progress = Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[rows]}"),
        TimeElapsedColumn(),
        console=err,
    )
    # The timeout bounds each wait (connect, first byte, next chunk), not the whole export.
    with client(url, token=key, timeout=timeout) as http:
        try:
            with http.stream("GET", "/api/v1/events/export", params=params) as response:
                if response.status_code >= 400:
                    response.read()
                    fail(error_line(response))
                with progress:
                    task = progress.add_task(path.name, total=None, rows="")
                    written = 0
                    try:
                        for written, lines in stream_to(response, path, fmt):
                            progress.update(
                                task, completed=written, rows="" if fmt == "parquet" else f"{lines:,} rows"
                            )
                    except OSError as exc:
                        fail(f"cannot write {path}: {exc}")
                    progress.update(task, total=written, completed=written)
        except httpx.HTTPError as exc:
            # A cut-off export is not left behind looking like a whole one.
            if written_any(progress):
                path.unlink(missing_ok=True)
            if isinstance(exc, httpx.TimeoutException):
                fail(f"{http.base_url} stopped answering during the export; nothing was kept")
            fail(f"cannot reach {http.base_url}: {exc}")
    rows = count_rows(path, fmt)
    size = path.stat().st_size
    out.print(
        f"[green]Exported[/green] {'' if rows is None else f'{rows:,} rows, '}{size:,} bytes to {escape(str(path))}"
    )


# --- tenants --------------------------------------------------------------------------------------


@app.command()
def tenants(
    url: UrlOption = None,
    platform_token: PlatformTokenOption = None,
    as_json: JsonOption = False,
    timeout: TimeoutOption = 30.0,
) -> None:
    """List the tenants (platform token)."""
    token = need(platform_token, "no platform token: pass --platform-token or set ANALYTICS_PLATFORM_TOKEN")
    found: list[dict[str, Any]] = []
    with client(url, token=token, timeout=timeout) as http:
        page: str | None = "/platform/v1/tenants?limit=200"
        while page:
            body = answer(request(http, "GET", page))
            found.extend(body.get("results", []))
            page = body.get("next")
    if as_json:
        print_json(found)
        return
    table = Table(title=f"{len(found)} tenants")
    for column in (
        "slug",
        "name",
        "schema",
        "timezone",
        "retention (days)",
        "monthly quota",
        "domain",
        "created",
    ):
        table.add_column(
            column, justify="right" if column in ("retention (days)", "monthly quota") else "left"
        )
    for t in found:
        table.add_row(
            *(cell(t.get(k)) for k in ("slug", "name", "schema_name", "timezone", "retention_days")),
            f"{t.get('monthly_event_quota') or 0:,}",
            cell(t.get("domain")),
            cell((t.get("created_at") or "")[:19]),
        )
    out.print(table)


def main() -> None:
    try:
        app(prog_name="analytics", standalone_mode=True)
    except CliError as exc:
        err.print(f"[red]Error: {escape(str(exc))}[/red]", soft_wrap=True, highlight=False, markup=True)
        sys.exit(1)


if __name__ == "__main__":
    main()

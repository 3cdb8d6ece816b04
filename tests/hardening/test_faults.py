"""Faults, with real processes on loopback (tests/hardening/stack.py): PostgreSQL restarted during
ingestion, Redis stopped, a Celery worker killed in the middle of a report run, beat restarted
across a report's scheduled time.

The stack runs with production settings; its data is read straight from its own database."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest
from aiosmtpd.controller import Controller
from analytics_sdk import AnalyticsClient

from analytics_project.devstack import free_port
from tests.hardening.stack import FaultStack


class Inbox:
    """The SMTP server the stack's worker sends to. `stall` names an address whose first message is
    held for a while, then refused (its sender is expected to be dead by then)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str]] = []  # (recipient, Message-ID)
        self.stall: str | None = None
        self.stalled = threading.Event()

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: ANN001, N802
        recipient = envelope.rcpt_tos[0]
        if recipient == self.stall and not self.stalled.is_set():
            self.stalled.set()
            await asyncio.sleep(8)
            return "451 4.3.0 Try again later"
        message_id = next((line.split(":", 1)[1].strip() for line in envelope.content.decode().splitlines()
                           if line.lower().startswith("message-id:")), "")
        self.received.append((recipient, message_id))
        return "250 OK"


@pytest.fixture(scope="module")
def inbox():  # noqa: ANN201
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(0))
    controller.start()
    yield handler, controller.port
    controller.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, inbox):  # noqa: ANN001, ANN201
    stack = FaultStack(tmp_path_factory.mktemp("faults"), EMAIL_URL=f"smtp://127.0.0.1:{inbox[1]}",
                       REPORT_RUN_LEASE_SECONDS="5", REPORT_RETRY_SECONDS="1", REPORTS_DISPATCH_EVERY_SECONDS="1")
    try:
        stack.setup()
        stack.start("web")
        yield stack
    finally:
        stack.close()


def http(stack: FaultStack, method: str, path: str, key: str, body: object = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://127.0.0.1:{stack.web_port}{path}", data=data, method=method,
                                     headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def wait_for(condition, timeout: float, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def events_stored(stack: FaultStack) -> list[str]:
    schema = stack.tenant["schema_name"]
    return [row[0] for row in stack.sql(f'SELECT message_id FROM "{schema}".events')]


def test_postgres_restarted_during_ingestion(stack):
    """PostgreSQL stops while plain requests and the SDK send; it comes back only once both have met
    it down (a refused request, an SDK retry), and the SDK keeps sending a while after."""
    write = stack.tenant["write_key"]
    statuses: list[int] = []
    accepted: list[str] = []
    stop = threading.Event()
    restarted = threading.Event()
    sdk_client: list[AnalyticsClient] = []

    def single_requests() -> None:
        """Plain requests, one event each, no retries: what each answer promised is checked."""
        n = 0
        while not stop.is_set():
            message_id = f"raw-{n}"
            try:
                status, _ = http(stack, "POST", "/v1/track", write,
                                 {"userId": "u", "event": "Raw", "messageId": message_id})
            except OSError:
                status = 0  # no answer at all: the client cannot know; it would retry
            statuses.append(status)
            if status == 200:
                accepted.append(message_id)
            n += 1
            time.sleep(0.01)

    def restart() -> None:
        wait_for(lambda: len(accepted) >= 20 and sdk_client, 60, "both senders to be under way")
        stack.postgres_stop("fast")
        wait_for(lambda: any(status != 200 for status in statuses) and sdk_client[0].stats.retries > 0, 60,
                 "a plain request refused and an SDK batch retried while PostgreSQL is down")
        stack.postgres_start()
        restarted.set()

    async def sdk() -> list[str]:
        async with AnalyticsClient(api_key=write, host=f"http://127.0.0.1:{stack.web_port}", flush_at=50,
                                   flush_interval=0.1, backoff_base=0.1, backoff_max=1.0, max_retries=60) as client:
            sdk_client.append(client)
            ids: list[str] = []
            after_restart = 0
            deadline = time.monotonic() + 120
            while after_restart < 300:
                assert time.monotonic() < deadline, "PostgreSQL was not restarted in time"
                ids.append(await client.events.track("Sdk", distinct_id=f"user-{len(ids) % 20}"))
                after_restart += restarted.is_set()
                await asyncio.sleep(0.002)
        assert client.stats.failed == 0 and client.stats.retries > 0
        return ids

    worker = threading.Thread(target=single_requests)
    worker.start()
    restarter = threading.Thread(target=restart)
    restarter.start()
    try:
        sent = asyncio.run(sdk())
        restarter.join()
        wait_for(lambda: statuses[-5:] == [200] * 5, 30, "plain requests to be answered 200 again")
    finally:
        restarter.join()
        stop.set()
        worker.join()

    stored = events_stored(stack)
    assert set(accepted) <= set(stored), "an event answered 200 was lost"
    assert sorted(m for m in stored if not m.startswith("raw-")) == sorted(sent)  # each SDK event once
    assert len(stored) == len(set(stored))
    refusals = {status for status in statuses if status != 200}
    assert refusals and refusals <= {503, 0}, (statuses, stack.log("web")[-3000:])  # retryable only: no 500, no 4xx
    assert statuses[-5:] == [200] * 5  # recovered, without restarting the web server


def test_redis_stopped(stack):
    write, secret = stack.tenant["write_key"], stack.tenant["secret_key"]
    before = len(events_stored(stack))
    stack.stop("redis", signal.SIGKILL)
    try:
        for n in range(20):
            status, body = http(stack, "POST", "/v1/track", write, {"userId": "r", "event": "NoRedis",
                                                                     "messageId": f"redis-down-{n}"})
            assert status == 200, body
        assert len(events_stored(stack)) == before + 20  # ingestion stores without its limits
        status, body = http(stack, "POST", "/api/v1/query", secret, {"kind": "trends", "series": [{"event": "NoRedis"}]})
        assert status == 200 and body["series"][0]["total"] == 20 and body["cached"] is False
        status, body = http(stack, "GET", "/health/ready", secret)
        assert (status, body) == (200, {"status": "degraded", "checks": {"postgres": "ok", "redis": "unreachable"}})
    finally:
        stack.redis_start()
    deadline = time.monotonic() + 10
    while http(stack, "GET", "/health/ready", secret)[1]["status"] != "ok":
        assert time.monotonic() < deadline, "health did not recover with Redis"
        time.sleep(0.2)


def make_report(stack: FaultStack, name: str, emails: list[str], **fields: object) -> dict:
    secret = stack.tenant["secret_key"]
    status, report = http(stack, "POST", "/api/v1/reports", secret, {
        "name": name, "report_type": "queries", "formats": ["csv"],
        "query_config": {"queries": [{"name": "raw", "query": {"kind": "trends", "series": [{"event": "Raw"}]}}]},
        **fields})
    assert status == 201, report
    for email in emails:
        assert http(stack, "POST", f"/api/v1/reports/{report['id']}/subscriptions", secret, {"email": email})[0] == 201
    return report


def test_a_worker_killed_mid_task_redoes_the_work_once(stack, inbox):
    handler, _ = inbox
    handler.stall = "bob@kill.example"
    report = make_report(stack, "killed", ["ann@kill.example", "bob@kill.example"])
    worker = stack.start("worker")
    try:
        status, run = http(stack, "POST", f"/api/v1/reports/{report['id']}/run", stack.tenant["secret_key"],
                           {"send": True})
        assert status == 202
        wait_for(handler.stalled.is_set, 30, "the second message to be under way")
        assert [r for r, _ in handler.received if r.endswith("@kill.example")] == ["ann@kill.example"]
        # The pool process running the task dies (the OOM killer, a segfault); the worker lives on.
        children = subprocess.run(["pgrep", "-P", str(worker.pid)], capture_output=True, text=True).stdout.split()
        pool = [int(pid) for pid in children if "celery" in open(f"/proc/{pid}/cmdline").read()]
        for pid in pool:
            subprocess.run(["kill", "-9", str(pid)], check=True)

        def succeeded() -> bool:
            return http(stack, "GET", f"/api/v1/reports/runs/{run['id']}", stack.tenant["secret_key"])[1][
                "status"] == "succeeded"

        wait_for(succeeded, 40, "the run to be taken over and finished")
    finally:
        stack.stop("worker")
    mine = [(r, m) for r, m in handler.received if r.endswith("@kill.example")]
    assert sorted(r for r, _ in mine) == ["ann@kill.example", "bob@kill.example"]  # once each
    status, done = http(stack, "GET", f"/api/v1/reports/runs/{run['id']}", stack.tenant["secret_key"])
    assert done["attempts"] == 2 and {d["status"] for d in done["recipients"]} == {"sent"}


def dispatches_done(stack: FaultStack) -> int:
    """How many per-tenant dispatch passes the worker has finished (its log, at INFO)."""
    return len(re.findall(r"Task apps\.reports\.tasks\.reports_dispatch\[[^\]]+\] succeeded", stack.log("worker")))


def test_beat_restarted_across_a_scheduled_time_neither_misses_nor_doubles(stack, inbox):
    handler, _ = inbox
    report = make_report(stack, "beat-restart", ["cid@beat.example", "dee@beat.example"],
                         frequency="daily", hour=9, minute=0, timezone="UTC")
    schema = stack.tenant["schema_name"]
    stack.start("worker")
    stack.start("beat")
    try:
        ticked = dispatches_done(stack)
        wait_for(lambda: dispatches_done(stack) > ticked, 60, "beat and the worker to dispatch")
        stack.stop("beat", signal.SIGKILL)  # down before the scheduled time, and still down at it
        due = datetime.now(timezone.utc) + timedelta(seconds=2)
        stack.sql(f'UPDATE "{schema}".reports SET next_run_at = %s WHERE id = %s', [due, report["id"]])
        wait_for(lambda: datetime.now(timezone.utc) > due + timedelta(seconds=3), 15, "the scheduled time to pass")
        assert stack.sql(f'SELECT count(*) FROM "{schema}".report_runs WHERE report_id = %s', [report["id"]]) == [(0,)]
        stack.start("beat")
        wait_for(lambda: len([r for r, _ in handler.received if r.endswith("@beat.example")]) >= 2, 60,
                 "the missed run to be delivered")
        # Several more dispatch passes, a second restart of beat, and more passes: nothing more.
        ticked = dispatches_done(stack)
        wait_for(lambda: dispatches_done(stack) >= ticked + 3, 60, "three more dispatch passes")
        stack.stop("beat")
        stack.start("beat")
        ticked = dispatches_done(stack)
        wait_for(lambda: dispatches_done(stack) >= ticked + 2, 60, "two dispatch passes after the second restart")
    finally:
        stack.stop("beat")
        stack.stop("worker")
    runs = stack.sql(f'SELECT scheduled_for, status FROM "{schema}".report_runs WHERE report_id = %s', [report["id"]])
    assert [(at.replace(microsecond=0), status) for at, status in runs] == [(due.replace(microsecond=0), "succeeded")]
    assert sorted(r for r, _ in handler.received if r.endswith("@beat.example")) == ["cid@beat.example",
                                                                                    "dee@beat.example"]
    next_run = stack.sql(f'SELECT next_run_at FROM "{schema}".reports WHERE id = %s', [report["id"]])[0][0]
    assert next_run > datetime.now(timezone.utc) and (next_run.hour, next_run.minute) == (9, 0)

"""Alerts' fixtures: events and metric values written through the real write paths at a frozen time,
a real HTTP receiver on loopback (http.server in a thread), beat's task run as beat runs it, and the
deliveries it queues run as a worker would, retries included."""

from __future__ import annotations

import itertools
import json
import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from celery.exceptions import Retry
from django.db import connection
from django_tenants.utils import schema_context

from apps.alerts import tasks
from apps.events.ingestion import Clock, parse_segment
from apps.events.storage import events_write
from apps.metrics import services as metric_services
from tests.reports.test_delivery import inbox  # noqa: F401 - the SMTP server fixture

_ids = itertools.count()


def ingest(tenant, messages: list[dict], *, at: datetime) -> None:  # noqa: ANN001
    """Events through the ingestion write path, received at `at`, each with its own message id."""
    with schema_context(tenant.schema_name):
        clock = Clock(received_at=at, sent_at=None, retention_days=3650)
        rows = [parse_segment({"messageId": f"alert-{next(_ids)}", **m}, clock) for m in messages]
        events_write(rows=rows, received_at=at)


def record_values(tenant, metric: str, points: list[tuple[datetime, float]]) -> None:  # noqa: ANN001
    with schema_context(tenant.schema_name):
        for start in range(0, len(points), 500):
            answer = metric_services.metric_values_record_batch(data={"values": [
                {"metric": metric, "value": value, "timestamp": at.isoformat()}
                for at, value in points[start:start + 500]]})
            assert answer["rejected"] == [], answer


class Receiver:
    """Keeps every request it receives; answers the statuses queued in `answers` (then 200)."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.answers: list[int] = []
        self.hold = threading.Event()  # set: answer at once; clear: hang until set (a slow receiver)
        self.hold.set()
        self.lock = threading.Lock()

    def handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.hold.wait(30)
                with receiver.lock:
                    receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                    status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(json.dumps({"status": status}).encode())

            def log_message(self, *args) -> None:  # noqa: ANN002
                pass

        return Handler


@pytest.fixture
def receiver(settings):  # noqa: ANN001, ANN201
    """A real HTTP server on 127.0.0.1, which the operator allows for webhooks in these tests."""
    handle = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handle.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    handle.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/analytics"
    handle.port = server.server_address[1]
    settings.ALERTS_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    yield handle
    handle.hold.set()
    server.shutdown()
    server.server_close()
    thread.join(5)


def beat(captured, tenant) -> list[int]:  # noqa: ANN001
    """One tick of beat's check task from the public schema; the deliveries it queues run on commit,
    and each retry a delivery asks for is run as the worker would after its countdown. Returns the
    countdowns of the retries."""
    countdowns = []
    pending = None
    connection.set_schema_to_public()
    try:
        with captured(execute=True):
            tasks.alerts_check_due_all()
    except Retry as exc:
        pending = exc
    while pending is not None:
        countdowns.append(pending.when)
        try:
            with schema_context(tenant.schema_name), captured(execute=True):
                tasks.alert_deliver.apply(args=pending.sig.args).get()
            pending = None
        except Retry as exc:
            pending = exc
    connection.set_schema_to_public()
    return countdowns

"""Scheduled reports delivered through a real SMTP server on loopback (aiosmtpd): what arrives
(recipients, subject, HTML, inline PNGs, CSV and XLSX matching the query engine), exactly once
(beat twice, a worker dying mid-run, two workers), retries with backoff, and DST-correct firing.

Beat's task runs as beat calls it; Celery is eager in tests, so the dispatcher's tasks run in the
same process once the dispatch transaction commits (`django_capture_on_commit_callbacks`)."""

from __future__ import annotations

import base64
import csv
import email
import html as html_lib
import io
import zlib
from datetime import datetime, timedelta, timezone
from email import policy
from zoneinfo import ZoneInfo

import openpyxl
import pytest
import time_machine
from aiosmtpd.controller import Controller
from celery.exceptions import Retry
from django.core import mail, signing
from django.db import connection
from django_tenants.utils import schema_context
from matplotlib import image

from analytics_project.devstack import free_port
from apps.insights.engine import query_run
from apps.reports import rendering, services, tasks
from apps.reports.models import Delivery, ReportRun, Subscription
from tests.segments.test_segments_api import ingest

BERLIN = ZoneInfo("Europe/Berlin")
# A past Friday, 09:00 in Berlin (08:00 UTC): the events below are before it.
FIRE = datetime(2026, 11, 20, 9, 0, tzinfo=BERLIN)
TRENDS = {"kind": "trends", "interval": "day", "series": [{"event": "View"}, {"event": "Buy"}]}
FUNNEL = {"kind": "funnel", "steps": [{"event": "View"}, {"event": "Buy"}], "window": "3d"}


class Inbox:
    """An SMTP server's handler: keeps each accepted envelope; refuses the next `refuse` messages."""

    def __init__(self) -> None:
        self.envelopes: list = []
        self.refuse = 0

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: ANN001, N802
        if self.refuse:
            self.refuse -= 1
            return "451 4.3.0 Try again later"
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def messages(self) -> list:
        return [email.message_from_bytes(e.content, policy=policy.default) for e in self.envelopes]

    def count_to(self, address: str) -> int:
        return sum(address in e.rcpt_tos for e in self.envelopes)


@pytest.fixture
def inbox(settings):  # noqa: ANN001, ANN201
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(0))
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 10
    yield handler
    controller.stop()


@pytest.fixture
def shop(acme):  # noqa: ANN001, ANN201
    """Views and buys over the three days before FIRE."""
    events = []
    for day in (1, 2, 3):
        at = (FIRE - timedelta(days=day, hours=2)).isoformat()
        events += [{"type": "track", "userId": f"u{n}", "event": "View", "timestamp": at} for n in range(2 + day)]
        events += [{"type": "track", "userId": f"u{n}", "event": "Buy", "timestamp": at} for n in range(day)]
    ingest(acme.tenant, events)
    return acme


def make_report(tenant, **fields):  # noqa: ANN001, ANN003, ANN201
    with schema_context(tenant.schema_name):
        report = services.report_create(tenant=tenant, **{
            "name": "daily-sales", "display_name": "Daily sales", "report_type": "queries",
            "query_config": {"queries": [{"name": "traffic", "title": "Views and buys", "query": TRENDS},
                                         {"name": "conversion", "query": FUNNEL}]},
            "time_range": "7d", "formats": ["html", "csv", "xlsx"], "frequency": "daily", "hour": 9, "minute": 0,
            "timezone": "Europe/Berlin", **fields})
        for address in ("ann@example.com", "bob@example.org"):
            services.subscribe(report=report, email=address)
    return report


def beat(captured) -> None:  # noqa: ANN001
    """One tick of beat's dispatch task, from the public schema; the tasks it queues run on commit."""
    connection.set_schema_to_public()
    with captured(execute=True):
        tasks.reports_dispatch_all()


def test_beat_delivers_a_scheduled_report_by_smtp(shop, inbox, django_capture_on_commit_callbacks):
    with time_machine.travel(FIRE - timedelta(days=1, minutes=5), tick=False):
        report = make_report(shop.tenant)
    assert report.next_run_at == FIRE - timedelta(days=1)
    with time_machine.travel(FIRE, tick=False):
        beat(django_capture_on_commit_callbacks)

    assert sorted(r for e in inbox.envelopes for r in e.rcpt_tos) == ["ann@example.com", "bob@example.org"]
    with schema_context(shop.tenant.schema_name):
        run = ReportRun.objects.get(report=report)
        # Only the latest due occurrence is delivered: the day before's was missed while nothing ran.
        assert (run.status, run.attempts, run.scheduled_for) == ("succeeded", 1, FIRE)
        assert (run.period_start, run.period_end) == (FIRE - timedelta(days=7), FIRE)
        report.refresh_from_db()
        assert report.next_run_at == FIRE + timedelta(days=1)
    message = inbox.messages()[0]
    assert message["Subject"] == run.subject and message["Subject"].startswith("Daily sales: ")
    assert message["List-Unsubscribe"].startswith("<http") and "/r/unsubscribe/" in message["List-Unsubscribe"]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    html = message.get_body(preferencelist=("html",)).get_content()
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "Views and buys" in html and "Views and buys" in text and "Unsubscribe" in text
    images = [part for part in message.walk() if part.get_content_type() == "image/png"]
    assert len(images) == 2  # the trends line and the funnel
    for part in images:
        assert f'src="cid:{part["Content-ID"].strip("<>")}"' in html
        png = part.get_content()
        assert png.startswith(b"\x89PNG") and image.imread(io.BytesIO(png), format="png").shape[1] >= 500

    attachments = {part.get_filename(): part.get_content() for part in message.iter_attachments()}
    csv_bytes = next(v for k, v in attachments.items() if k.endswith(".csv"))
    xlsx_bytes = next(v for k, v in attachments.items() if k.endswith(".xlsx"))
    span = {"date_from": run.period_start.isoformat(), "date_to": run.period_end.isoformat()}
    with schema_context(shop.tenant.schema_name):
        trends = query_run(data={**TRENDS, **span}, tenant=shop.tenant)
        funnel = query_run(data={**FUNNEL, **span}, tenant=shop.tenant)
    assert sum(trends["series"][0]["values"]) == 3 + 4 + 5 and funnel["steps"][1]["count"] > 0

    rows = list(csv.DictReader(io.StringIO(csv_bytes.decode() if isinstance(csv_bytes, bytes) else csv_bytes)))
    traffic = [r for r in rows if r["item"] == "traffic"]
    for index, bucket in enumerate(trends["series"][0]["buckets"]):
        cells = {r["column"]: r["value"] for r in traffic if r["row"] == str(index)}
        assert cells["bucket"] == bucket
        assert [int(cells[name]) for name in ("View", "Buy")] == [s["values"][index] for s in trends["series"]]
    counts = [int(r["value"]) for r in rows if r["item"] == "conversion" and r["column"] == "count"]
    assert counts == [step["count"] for step in funnel["steps"]]

    book = openpyxl.load_workbook(io.BytesIO(xlsx_bytes))
    assert book.sheetnames == ["traffic", "conversion"]
    sheet = [list(row) for row in book["traffic"].iter_rows(values_only=True)]
    assert sheet[0] == ["bucket", "View", "Buy"]
    assert [row[1:] for row in sheet[1:]] == [[s["values"][i] for s in trends["series"]]
                                             for i in range(len(trends["series"][0]["buckets"]))]


def test_the_unsubscribe_link_stops_delivery(shop, inbox, client, django_capture_on_commit_callbacks):
    with time_machine.travel(FIRE - timedelta(minutes=5), tick=False):
        report = make_report(shop.tenant)
    with time_machine.travel(FIRE, tick=False):
        beat(django_capture_on_commit_callbacks)
    message = next(m for m in inbox.messages() if m["To"] == "ann@example.com")
    path = message["List-Unsubscribe"].strip("<>").split("://", 1)[1].partition("/")[2]
    assert client.get(f"/{path}").status_code == 200  # a confirmation page: link scanners unsubscribe nobody
    with schema_context(shop.tenant.schema_name):
        assert Subscription.objects.get(email="ann@example.com").unsubscribed_at is None
    connection.set_schema_to_public()
    response = client.post(f"/{path}", {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200 and b"Unsubscribed" in response.content
    assert client.post(f"/{path[:-3]}xyz").status_code == 404  # a forged token

    inbox.envelopes.clear()
    with time_machine.travel(FIRE + timedelta(days=1), tick=False):
        beat(django_capture_on_commit_callbacks)
    assert [e.rcpt_tos for e in inbox.envelopes] == [["bob@example.org"]]
    with schema_context(shop.tenant.schema_name):
        assert report.runs.count() == 2


# Property values a public write key can send that matplotlib would read as math text.
MATH_LIKE = ["$\\foo$", "$x^$", "\\frac{", "_{", "$\\sqrt{$", "P" * 300]


def test_breakdown_values_that_look_like_math_are_drawn_literally_and_sent(acme, inbox,
                                                                         django_capture_on_commit_callbacks):
    at = (FIRE - timedelta(days=1)).isoformat()
    ingest(acme.tenant, [{"type": "track", "userId": f"u{i}", "event": "View", "properties": {"path": value},
                          "timestamp": at} for i, value in enumerate(MATH_LIKE)])
    by_path = {"kind": "trends", "interval": "day", "series": [{"event": "View"}], "breakdown": {"property": "path"}}
    with time_machine.travel(FIRE - timedelta(minutes=5), tick=False):
        report = make_report(acme.tenant, query_config={"queries": [
            {"name": "paths", "title": "Views by $\\path$", "chart": "bar", "query": by_path},
            {"name": "lines", "chart": "line", "query": by_path}]})
    with time_machine.travel(FIRE, tick=False), schema_context(acme.tenant.schema_name), \
            django_capture_on_commit_callbacks(execute=True):
        run = services.run_now(report=report, send=True)
    with schema_context(acme.tenant.schema_name):
        run.refresh_from_db()
    assert (run.status, run.attempts, run.error) == ("succeeded", 1, "")
    assert sorted(r for e in inbox.envelopes for r in e.rcpt_tos) == ["ann@example.com", "bob@example.org"]
    message = inbox.messages()[0]
    html = message.get_body(preferencelist=("html",)).get_content()
    text = message.get_body(preferencelist=("plain",)).get_content()
    for value in MATH_LIKE:
        assert f"View: {value}" in text and html_lib.escape(f"View: {value}") in html
    assert "Views by $\\path$" in text and "could not be drawn" not in html
    assert len([part for part in message.walk() if part.get_content_type() == "image/png"]) == 2


def test_an_item_that_cannot_be_drawn_is_noted_and_the_rest_is_sent(shop, inbox, monkeypatch, caplog,
                                                                    django_capture_on_commit_callbacks):
    report = make_report(shop.tenant)
    draw = rendering.chart_png

    def funnel_fails(view):  # noqa: ANN001, ANN202
        if view.get("type") == "funnel":
            raise RuntimeError("the funnel chart broke")
        return draw(view)

    monkeypatch.setattr(rendering, "chart_png", funnel_fails)
    with schema_context(shop.tenant.schema_name), django_capture_on_commit_callbacks(execute=True):
        run = services.run_now(report=report, send=True)
    with schema_context(shop.tenant.schema_name):
        run.refresh_from_db()
    assert (run.status, run.attempts) == ("succeeded", 1)
    assert inbox.count_to("ann@example.com") == 1 and inbox.count_to("bob@example.org") == 1
    message = inbox.messages()[0]
    html = message.get_body(preferencelist=("html",)).get_content()
    assert rendering.CHART_CANNOT_DRAW in html and "Views and buys" in html
    assert len([part for part in message.walk() if part.get_content_type() == "image/png"]) == 1  # the trends line
    assert any(r.exc_info and "the funnel chart broke" in str(r.exc_info[1]) for r in caplog.records)


def unsubscribe_path(message) -> str:  # noqa: ANN001
    return "/" + message["List-Unsubscribe"].strip("<>").split("://", 1)[1].partition("/")[2]


def test_the_unsubscribe_token_reveals_neither_schema_nor_report_nor_address(shop, inbox,
                                                                           django_capture_on_commit_callbacks):
    report = make_report(shop.tenant)
    with schema_context(shop.tenant.schema_name), django_capture_on_commit_callbacks(execute=True):
        services.run_now(report=report, send=True)
    links = {m["To"]: unsubscribe_path(m) for m in inbox.messages()}
    assert len(set(links.values())) == 2
    for address, path in links.items():
        token = path.rsplit("/", 1)[1]
        decoded = [token]
        for candidate in (token, token.removeprefix("un_"), *token.split(":"), *token.split(".")):
            for decode in (base64.urlsafe_b64decode, base64.b64decode):
                try:
                    raw = decode(candidate + "=" * (-len(candidate) % 4))
                except (ValueError, TypeError):
                    continue
                decoded.append(raw.decode("latin-1"))
                try:
                    decoded.append(zlib.decompress(raw).decode("latin-1"))
                except zlib.error:
                    pass
        for secret in (shop.tenant.schema_name, shop.tenant.slug, address, address.split("@")[0],
                       "example", f'"r":{report.pk}', f'"r": {report.pk}'):
            assert not any(secret.lower() in text.lower() for text in decoded), f"the token shows {secret!r}"
        with pytest.raises(signing.BadSignature):
            signing.loads(token, salt=services.UNSUBSCRIBE_SALT)
        assert len(token) <= 50


def test_a_token_of_a_deleted_subscription_dies_when_the_address_subscribes_again(
        shop, inbox, client, django_capture_on_commit_callbacks):
    report = make_report(shop.tenant)
    with schema_context(shop.tenant.schema_name), django_capture_on_commit_callbacks(execute=True):
        services.run_now(report=report, send=True)
    old = unsubscribe_path(next(m for m in inbox.messages() if m["To"] == "ann@example.com"))
    connection.set_schema_to_public()
    assert client.get(old).status_code == 200
    with schema_context(shop.tenant.schema_name):
        Subscription.objects.filter(email="ann@example.com").delete()
        services.subscribe(report=report, email="ann@example.com")
    connection.set_schema_to_public()
    for method in (client.get, client.post):
        response = method(old)
        assert response.status_code == 404 and b"not valid" in response.content
    with schema_context(shop.tenant.schema_name):
        assert Subscription.objects.get(email="ann@example.com").unsubscribed_at is None
        # Unsubscribing by the new link, then subscribing anew, kills that link too.
        new = services.unsubscribe_url(subscription=Subscription.objects.get(email="ann@example.com"))
    new = "/" + new.split("://", 1)[1].partition("/")[2]
    assert new != old
    connection.set_schema_to_public()
    assert client.post(new).status_code == 200
    with schema_context(shop.tenant.schema_name):
        assert Subscription.objects.get(email="ann@example.com").unsubscribed_at is not None
        services.subscribe(report=report, email="ann@example.com")
    connection.set_schema_to_public()
    assert client.post(new).status_code == 404
    with schema_context(shop.tenant.schema_name):
        assert Subscription.objects.get(email="ann@example.com").unsubscribed_at is None


def test_wrong_and_old_format_tokens_get_the_not_valid_page(shop, client):
    report = make_report(shop.tenant)
    with schema_context(shop.tenant.schema_name):
        subscription = Subscription.objects.get(email="ann@example.com")
        real = services.unsubscribe_token(subscription)
        services.unsubscribe_url(subscription=subscription)
    old_format = signing.dumps({"s": shop.tenant.schema_name, "r": report.pk, "e": "ann@example.com"},
                               salt="reports.unsubscribe", compress=True)
    connection.set_schema_to_public()
    assert client.get(f"/r/unsubscribe/{real}").status_code == 200
    for token in (old_format, real[:-3] + ("xyz" if not real.endswith("xyz") else "abc"), "un_", "x" * 200,
                  "un_" + "A" * 43, "%00"):
        for method in (client.get, client.post):
            response = method(f"/r/unsubscribe/{token}")
            assert response.status_code == 404, token
            assert b"This unsubscribe link is not valid" in response.content
    with schema_context(shop.tenant.schema_name):
        assert not Subscription.objects.filter(unsubscribed_at__isnull=False).exists()


def test_one_click_unsubscribe_post_as_mail_clients_send_it(shop, inbox, client,
                                                            django_capture_on_commit_callbacks):
    report = make_report(shop.tenant)
    with schema_context(shop.tenant.schema_name), django_capture_on_commit_callbacks(execute=True):
        services.run_now(report=report, send=True)
    message = next(m for m in inbox.messages() if m["To"] == "bob@example.org")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    connection.set_schema_to_public()
    # RFC 8058: a form-encoded POST of `List-Unsubscribe=One-Click`, with no cookie and no CSRF token.
    response = client.post(unsubscribe_path(message), "List-Unsubscribe=One-Click",
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200 and b"Unsubscribed" in response.content
    assert b"bob@example.org" in response.content and response["Referrer-Policy"] == "no-referrer"
    with schema_context(shop.tenant.schema_name):
        assert Subscription.objects.get(email="bob@example.org").unsubscribed_at is not None
        assert Subscription.objects.get(email="ann@example.com").unsubscribed_at is None


def test_beat_twice_in_the_same_minute_delivers_once(shop, inbox, django_capture_on_commit_callbacks):
    with time_machine.travel(FIRE - timedelta(minutes=5), tick=False):
        report = make_report(shop.tenant)
    with time_machine.travel(FIRE, tick=False):
        beat(django_capture_on_commit_callbacks)
    with time_machine.travel(FIRE + timedelta(seconds=30), tick=False):
        beat(django_capture_on_commit_callbacks)
        with schema_context(shop.tenant.schema_name):
            # Even a dispatcher that read the old next_run_at cannot make a second run of that minute.
            report.refresh_from_db()
            report.next_run_at = FIRE
            report.save(update_fields=["next_run_at"])
        beat(django_capture_on_commit_callbacks)
    assert inbox.count_to("ann@example.com") == 1 and inbox.count_to("bob@example.org") == 1
    with schema_context(shop.tenant.schema_name):
        assert list(report.runs.values_list("scheduled_for", "status")) == [(FIRE, "succeeded")]


class WorkerDied(BaseException):
    """Stands for the worker process being killed: nothing after it runs, no except clause sees it."""


def test_a_worker_dying_mid_run_is_taken_over_after_its_lease(shop, inbox, settings, monkeypatch,
                                                                django_capture_on_commit_callbacks):
    with time_machine.travel(FIRE - timedelta(minutes=5), tick=False):
        report = make_report(shop.tenant)
    build = services.report_email
    calls = []

    def dies_on_the_second_message(run, address):  # noqa: ANN001, ANN202
        calls.append(address)
        if len(calls) == 2:
            raise WorkerDied
        return build(run, address)

    monkeypatch.setattr(services, "report_email", dies_on_the_second_message)
    with time_machine.travel(FIRE, tick=False), pytest.raises(WorkerDied):
        beat(django_capture_on_commit_callbacks)
    monkeypatch.setattr(services, "report_email", build)
    assert [e.rcpt_tos for e in inbox.envelopes] == [["ann@example.com"]]
    with schema_context(shop.tenant.schema_name):
        run = ReportRun.objects.get(report=report)
        assert (run.status, run.attempts) == ("running", 1)
        # The broker redelivers the task at once (acks_late), and a second worker races for it: the
        # lease is live, so both leave the run alone, the task to come back when the lease ends.
        with time_machine.travel(FIRE + timedelta(minutes=1), tick=False):
            with pytest.raises(Retry) as retried:
                tasks.report_run_task.delay(run.pk)
            assert retried.value.when == settings.REPORT_RUN_LEASE_SECONDS - 60 + 1  # back when the lease ends
            with pytest.raises(services.RunHeld):
                services.run_execute(run_id=run.pk)
    assert len(inbox.envelopes) == 1

    # Past the lease, beat re-queues the run: the next attempt sends only what was not sent.
    after_lease = FIRE + timedelta(seconds=settings.REPORT_RUN_LEASE_SECONDS + 60)
    with time_machine.travel(after_lease, tick=False):
        beat(django_capture_on_commit_callbacks)
        beat(django_capture_on_commit_callbacks)
    assert inbox.count_to("ann@example.com") == 1 and inbox.count_to("bob@example.org") == 1
    with schema_context(shop.tenant.schema_name):
        run.refresh_from_db()
        assert (run.status, run.attempts) == ("succeeded", 2)
        assert sorted(run.deliveries.values_list("email", "status")) == [
            ("ann@example.com", "sent"), ("bob@example.org", "sent")]


def beat_and_retries(captured, tenant) -> list[int]:  # noqa: ANN001
    """A beat tick, then each retry the task asks for, run as the worker would after its countdown;
    returns the countdowns."""
    countdowns = []
    try:
        beat(captured)
        return countdowns
    except Retry as exc:
        pending = exc
    while pending is not None:
        countdowns.append(pending.when)
        try:
            with schema_context(tenant.schema_name):
                tasks.report_run_task.apply(args=pending.sig.args).get()
            pending = None
        except Retry as exc:
            pending = exc
    return countdowns


def test_smtp_errors_are_retried_with_backoff_then_fail_visibly(shop, inbox, settings,
                                                                 django_capture_on_commit_callbacks):
    settings.REPORT_MAX_ATTEMPTS, settings.REPORT_RETRY_SECONDS = 3, 60
    with time_machine.travel(FIRE - timedelta(minutes=5), tick=False):
        report = make_report(shop.tenant)
    inbox.refuse = 1  # the first message is refused: one retry, then both delivered
    with time_machine.travel(FIRE, tick=False):
        assert beat_and_retries(django_capture_on_commit_callbacks, shop.tenant) == [60]
    assert inbox.count_to("ann@example.com") == 1 and inbox.count_to("bob@example.org") == 1
    with schema_context(shop.tenant.schema_name):
        run = report.runs.get()
        assert (run.status, run.attempts, run.error) == ("succeeded", 2, "")

    inbox.envelopes.clear()
    inbox.refuse = 10**6  # the server refuses everything: retried after 60 s, 120 s, then failed
    with time_machine.travel(FIRE + timedelta(days=1), tick=False):
        assert beat_and_retries(django_capture_on_commit_callbacks, shop.tenant) == [60, 120]
    assert inbox.envelopes == []
    with schema_context(shop.tenant.schema_name):
        run = report.runs.get(scheduled_for=FIRE + timedelta(days=1))
        assert (run.status, run.attempts) == ("failed", 3)
        assert "451" in run.error and "2 of 2 deliveries failed" in run.error
        assert set(run.deliveries.values_list("status", flat=True)) == {Delivery.Status.FAILED}


def test_an_unreachable_smtp_server_fails_the_run_after_its_attempts(shop, settings,
                                                                      django_capture_on_commit_callbacks):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(0), 2
    settings.REPORT_MAX_ATTEMPTS = 2
    with time_machine.travel(FIRE - timedelta(minutes=5), tick=False):
        report = make_report(shop.tenant)
    with time_machine.travel(FIRE, tick=False):
        assert beat_and_retries(django_capture_on_commit_callbacks, shop.tenant) == [60]
    with schema_context(shop.tenant.schema_name):
        run = report.runs.get()
        assert (run.status, run.attempts) == ("failed", 2) and "SMTP server is unavailable" in run.error


@pytest.mark.parametrize("change", [datetime(2026, 3, 29, tzinfo=BERLIN), datetime(2026, 10, 25, tzinfo=BERLIN)],
                         ids=["spring-forward", "fall-back"])
def test_daily_0900_berlin_fires_at_0900_local_on_both_sides_of_dst(shop, change,
                                                                   django_capture_on_commit_callbacks):
    days = [change + timedelta(days=offset) for offset in (-2, -1, 0, 1, 2)]
    with time_machine.travel(days[0] - timedelta(hours=12), tick=False):
        report = make_report(shop.tenant, formats=["csv"])
    for day in days:
        nine = datetime(day.year, day.month, day.day, 9, tzinfo=BERLIN)
        with time_machine.travel(nine - timedelta(minutes=1), tick=False):
            beat(django_capture_on_commit_callbacks)  # a minute early: nothing
        with time_machine.travel(nine, tick=False):
            beat(django_capture_on_commit_callbacks)
    with schema_context(shop.tenant.schema_name):
        fired = list(report.runs.order_by("scheduled_for").values_list("scheduled_for", flat=True))
    assert [at.astimezone(BERLIN).strftime("%m-%d %H:%M") for at in fired] == [
        f"{day:%m-%d} 09:00" for day in days]
    summer = change.month == 3
    assert [at.astimezone(timezone.utc).hour for at in fired] == (
        [8, 8, 7, 7, 7] if summer else [7, 7, 8, 8, 8])
    assert len(mail.outbox) == 2 * len(days)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")  # loopback only
def test_email_url_with_credentials_logs_in_to_the_smtp_server(shop, settings, django_capture_on_commit_callbacks):
    """EMAIL_URL is read as the settings read it; the server refuses mail without the right login."""
    import environ
    from aiosmtpd.smtp import AuthResult

    logins = []

    def authenticator(server, session, envelope, mechanism, auth_data):  # noqa: ANN001, ANN202
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=(auth_data.login, auth_data.password) == (b"reporter", b"p@ss word"))

    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(0), authenticator=authenticator,
                            auth_require_tls=False, auth_required=True)
    controller.start()
    try:
        url = f"smtp://reporter:p%40ss%20word@127.0.0.1:{controller.port}"
        for name, value in environ.Env.email_url_config(url).items():
            setattr(settings, name, value)
        report = make_report(shop.tenant)
        with schema_context(shop.tenant.schema_name), django_capture_on_commit_callbacks(execute=True):
            run = services.run_now(report=report, send=True)
        with schema_context(shop.tenant.schema_name):
            run.refresh_from_db()
        assert run.status == "succeeded" and logins == [(b"reporter", b"p@ss word")]
        assert sorted(r for e in handler.envelopes for r in e.rcpt_tos) == ["ann@example.com", "bob@example.org"]
    finally:
        controller.stop()


def test_the_development_mail_sink_writes_eml_files(shop, settings, tmp_path, django_capture_on_commit_callbacks):
    settings.EMAIL_BACKEND, settings.EMAIL_FILE_PATH = "apps.reports.mail.EmlDirectoryBackend", str(tmp_path)
    report = make_report(shop.tenant)
    with schema_context(shop.tenant.schema_name), django_capture_on_commit_callbacks(execute=True):
        services.run_now(report=report, send=True)
    files = sorted(tmp_path.glob("*.eml"))
    assert len(files) == 2 and not list(tmp_path.glob("*.part"))
    message = email.message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert message["Subject"].startswith("Daily sales: ") and message.get_body(preferencelist=("html",))

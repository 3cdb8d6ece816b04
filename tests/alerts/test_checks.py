"""Checks by beat on real ingested events and metric values, at frozen times: the state machine (one
notification per breach, none while it lasts, one per recovery, the cooldown), failing queries,
anomalies by z-score and IQR against numpy, and end to end through a real SMTP server and a real
HTTP receiver: signed webhooks, recovery, retries on a 500, a 4xx that is final."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
import time_machine
from django.core import mail
from django_tenants.utils import schema_context

from apps.alerts import services, tasks
from apps.alerts.models import AlertDelivery, AlertFiring, AlertRule
from apps.metrics import services as metric_services
from tests.alerts.conftest import beat, ingest, record_values
from tests.helpers import bearer

UTC = timezone.utc
T = datetime(2026, 11, 20, 12, 0, 30, tzinfo=UTC)  # not on a bucket boundary, on purpose
ERRORS = {"kind": "trends", "interval": "hour", "series": [{"event": "Error"}]}


def errors(tenant, count: int, at: datetime) -> None:  # noqa: ANN001
    ingest(tenant, [{"type": "track", "userId": f"u{n}", "event": "Error", "timestamp": at.isoformat()}
                    for n in range(count)], at=at)


def make_rule(tenant, **fields) -> AlertRule:  # noqa: ANN001, ANN003
    with schema_context(tenant.schema_name):
        return services.rule_create(tenant=tenant, **{
            "name": "errors", "query": ERRORS, "condition": "above", "threshold": 5, "period": "1h",
            "channels": [{"type": "email", "address": "ops@example.com"}], **fields})


def tick(captured, tenant, at: datetime) -> list[int]:  # noqa: ANN001
    with time_machine.travel(at, tick=False):
        return beat(captured, tenant)


def firings(tenant) -> list[tuple]:  # noqa: ANN001
    with schema_context(tenant.schema_name):
        return list(AlertFiring.objects.order_by("id").values_list("kind", "value", "notified"))


def rule_row(tenant) -> AlertRule:  # noqa: ANN001
    with schema_context(tenant.schema_name):
        return AlertRule.objects.get()


# --- the state machine --------------------------------------------------------------------------------


def test_a_breach_notifies_once_and_its_recovery_once(acme, django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks
    make_rule(acme.tenant)
    errors(acme.tenant, 6, T - timedelta(minutes=10))

    tick(capture, acme.tenant, T)
    assert firings(acme.tenant) == [("breach", 6.0, True)]
    assert [m.subject for m in mail.outbox] == ["[Alert] errors"]
    assert "6 is above 5 over the last 1h" in mail.outbox[0].body
    rule = rule_row(acme.tenant)
    assert (rule.state, rule.last_value, rule.last_checked_at) == ("firing", 6.0, T)

    tick(capture, acme.tenant, T + timedelta(minutes=1))  # not due: checked every min(1h, 300 s)
    assert rule_row(acme.tenant).last_checked_at == T
    errors(acme.tenant, 1, T + timedelta(minutes=2))
    tick(capture, acme.tenant, T + timedelta(minutes=5))  # due, still in breach (7): nothing sent
    assert firings(acme.tenant) == [("breach", 6.0, True)] and len(mail.outbox) == 1
    assert (rule_row(acme.tenant).state, rule_row(acme.tenant).last_value) == ("firing", 7.0)

    tick(capture, acme.tenant, T + timedelta(hours=2))  # the errors left the window: recovered
    assert firings(acme.tenant) == [("breach", 6.0, True), ("recovery", 0.0, True)]
    assert [m.subject for m in mail.outbox] == ["[Alert] errors", "[Resolved] errors"]
    tick(capture, acme.tenant, T + timedelta(hours=2, minutes=5))
    assert len(firings(acme.tenant)) == 2 and len(mail.outbox) == 2

    errors(acme.tenant, 9, T + timedelta(hours=2, minutes=6))  # a new breach: no cooldown, notified
    tick(capture, acme.tenant, T + timedelta(hours=2, minutes=10))
    assert firings(acme.tenant)[-1] == ("breach", 9.0, True) and len(mail.outbox) == 3


def test_a_breach_inside_the_cooldown_is_recorded_not_sent(acme, django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks
    make_rule(acme.tenant, cooldown="1d")
    errors(acme.tenant, 6, T - timedelta(minutes=10))
    tick(capture, acme.tenant, T)
    tick(capture, acme.tenant, T + timedelta(hours=2))
    errors(acme.tenant, 8, T + timedelta(hours=3))
    tick(capture, acme.tenant, T + timedelta(hours=3, minutes=1))  # 3 h after the notified breach
    tick(capture, acme.tenant, T + timedelta(hours=5))  # its recovery: not sent either
    assert firings(acme.tenant) == [("breach", 6.0, True), ("recovery", 0.0, True), ("breach", 8.0, False),
                                    ("recovery", 0.0, False)]
    assert len(mail.outbox) == 2
    with schema_context(acme.tenant.schema_name):
        assert AlertDelivery.objects.count() == 2  # the silent firings have no deliveries
    errors(acme.tenant, 7, T + timedelta(days=1, hours=1))
    tick(capture, acme.tenant, T + timedelta(days=1, hours=1, minutes=1))  # past the cooldown
    assert firings(acme.tenant)[-1] == ("breach", 7.0, True) and len(mail.outbox) == 3


def test_below_fires_when_the_value_drops(acme, django_capture_on_commit_callbacks):
    make_rule(acme.tenant, condition="below", threshold=3, period="30m")
    errors(acme.tenant, 4, T - timedelta(minutes=20))
    tick(django_capture_on_commit_callbacks, acme.tenant, T)
    assert firings(acme.tenant) == [] and rule_row(acme.tenant).state == "ok"
    tick(django_capture_on_commit_callbacks, acme.tenant, T + timedelta(minutes=15))  # those 4 left the window
    assert firings(acme.tenant) == [("breach", 0.0, True)]


def test_a_failing_query_sets_error_sends_nothing_and_other_rules_still_run(acme, django_capture_on_commit_callbacks):
    with schema_context(acme.tenant.schema_name):
        metric_services.metric_create(name="latency", metric_type="gauge")
    make_rule(acme.tenant, name="slow", query={"kind": "metric", "metric": "latency", "aggregation": "max"})
    make_rule(acme.tenant)
    with schema_context(acme.tenant.schema_name):
        metric_services.metric_delete(name="latency")
    errors(acme.tenant, 6, T - timedelta(minutes=10))
    tick(django_capture_on_commit_callbacks, acme.tenant, T)  # raises nothing
    with schema_context(acme.tenant.schema_name):
        slow, errors_rule = AlertRule.objects.get(name="slow"), AlertRule.objects.get(name="errors")
        assert slow.state == "error" and "latency" in slow.last_error and slow.last_checked_at == T
        assert not slow.firings.exists()
        assert errors_rule.state == "firing"
    assert len(mail.outbox) == 1


def test_beat_twice_and_a_delivery_task_twice_send_once(acme, django_capture_on_commit_callbacks):
    make_rule(acme.tenant)
    errors(acme.tenant, 6, T - timedelta(minutes=10))
    tick(django_capture_on_commit_callbacks, acme.tenant, T)
    tick(django_capture_on_commit_callbacks, acme.tenant, T)  # a second beat at the same moment
    assert len(firings(acme.tenant)) == 1 and len(mail.outbox) == 1
    with schema_context(acme.tenant.schema_name):
        delivery = AlertDelivery.objects.get()
        assert tasks.alert_deliver.apply(args=[delivery.pk]).get() is None  # already sent: nothing to do
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts) == ("sent", 1)
    assert len(mail.outbox) == 1


# --- anomalies ----------------------------------------------------------------------------------------

HISTORY = [10, 12, 9, 11, 10, 13, 8, 11, 12, 10, 9, 11, 10, 12, 11, 9, 10, 13, 11, 10, 12, 9]


def hourly_errors(tenant, counts: list[int], first: datetime) -> None:  # noqa: ANN001
    for index, count in enumerate(counts):
        errors(tenant, count, first + timedelta(hours=index, minutes=10))


def test_zscore_anomaly_on_ingested_events(acme, django_capture_on_commit_callbacks):
    # Checked at 12:00:30: the last complete hour is 11:00-12:00; the history the complete hours
    # starting from 12:00:30 the day before, i.e. 13:00 to 10:00 (22 buckets).
    first = datetime(2026, 11, 19, 13, 0, tzinfo=UTC)
    hourly_errors(acme.tenant, [*HISTORY, 40, 11], first)
    make_rule(acme.tenant, condition="anomaly", threshold=None, period="1d")
    tick(django_capture_on_commit_callbacks, acme.tenant, T)
    mean, std = np.mean(HISTORY), np.std(HISTORY, ddof=1)
    with schema_context(acme.tenant.schema_name):
        firing = AlertFiring.objects.get()
    assert (firing.kind, firing.value, firing.threshold) == ("breach", 40.0, 3.0)
    assert firing.lower == pytest.approx(mean - 3 * std) and firing.upper == pytest.approx(mean + 3 * std)
    assert "2026-11-20T06:00:00-05:00" in firing.message  # the checked bucket, in the tenant's zone
    # An hour later the checked hour (12:00-13:00) holds 11, inside the band: recovered.
    tick(django_capture_on_commit_callbacks, acme.tenant, T + timedelta(hours=1))
    assert firings(acme.tenant) == [("breach", 40.0, True), ("recovery", 11.0, True)]


def test_zscore_with_a_flat_history_flags_any_change(acme, django_capture_on_commit_callbacks):
    first = datetime(2026, 11, 19, 13, 0, tzinfo=UTC)
    hourly_errors(acme.tenant, [2] * 22 + [3], first)
    make_rule(acme.tenant, condition="anomaly", threshold=None, period="1d")
    tick(django_capture_on_commit_callbacks, acme.tenant, T)
    with schema_context(acme.tenant.schema_name):
        firing = AlertFiring.objects.get()
    assert (firing.value, firing.lower, firing.upper) == (3.0, 2.0, 2.0)


def test_iqr_anomaly_on_recorded_metric_values(acme, django_capture_on_commit_callbacks):
    with schema_context(acme.tenant.schema_name):
        metric_services.metric_create(name="latency", metric_type="gauge")
    first = datetime(2026, 11, 19, 13, 0, tzinfo=UTC)
    peaks = [120, 135, 128, 140, 118, 131, 126, 133, 129, 124, 137, 122, 130, 127, 139, 125, 132, 121, 134, 128,
             136, 123]
    points = []
    for index, peak in enumerate([*peaks, 80]):  # the checked hour's max drops to 80
        start = first + timedelta(hours=index)
        points += [(start + timedelta(minutes=5), peak / 2), (start + timedelta(minutes=30), peak)]
    record_values(acme.tenant, "latency", points)
    make_rule(acme.tenant, name="latency-iqr", condition="anomaly", method="iqr", threshold=1.5, period="1d",
              query={"kind": "metric", "metric": "latency", "aggregation": "max", "granularity": "hour"})
    tick(django_capture_on_commit_callbacks, acme.tenant, T)
    q1, q3 = np.percentile(peaks, 25), np.percentile(peaks, 75)
    with schema_context(acme.tenant.schema_name):
        firing = AlertFiring.objects.get()
    assert (firing.kind, firing.value) == ("breach", 80.0)
    assert firing.lower == pytest.approx(q1 - 1.5 * (q3 - q1)) and firing.upper == pytest.approx(q3 + 1.5 * (q3 - q1))


def test_a_metric_threshold_combines_the_buckets(acme, django_capture_on_commit_callbacks):
    """avg over the period is the average of every value, not of the buckets' averages."""
    with schema_context(acme.tenant.schema_name):
        metric_services.metric_create(name="latency", metric_type="gauge")
    minute = T - timedelta(minutes=50)
    record_values(acme.tenant, "latency", [(minute, 100), (minute + timedelta(seconds=10), 100),
                                           (minute + timedelta(seconds=20), 100), (T - timedelta(minutes=20), 500)])
    # The buckets' averages are 100 and 500 (their mean, 300, is not below 250); the values' is 200.
    make_rule(acme.tenant, query={"kind": "metric", "metric": "latency", "aggregation": "avg",
                                  "granularity": "minute"}, condition="below", threshold=250)
    tick(django_capture_on_commit_callbacks, acme.tenant, T)
    assert firings(acme.tenant) == [("breach", 200.0, True)]


# --- end to end: a real SMTP server and a real HTTP receiver ------------------------------------------


def signed(request: dict, secret: str) -> dict:
    """The webhook's body, after checking its signature as a receiver would."""
    headers = {k.lower(): v for k, v in request["headers"].items()}
    timestamp = headers["x-analytics-timestamp"]
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + request["body"], hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["x-analytics-signature"], f"sha256={expected}")
    assert headers["content-type"] == "application/json"
    return json.loads(request["body"])


def create_over_api(client, tenant_handle, url: str) -> dict:  # noqa: ANN001
    body = {"name": "errors", "display_name": "Errors", "query": ERRORS, "condition": "above", "threshold": 5,
            "period": "1h", "channels": [{"type": "email", "address": "ops@example.com"},
                                         {"type": "webhook", "url": url}]}
    response = client.post("/api/v1/alerts", json.dumps(body), content_type="application/json",
                           **bearer(tenant_handle.secret_key))
    assert response.status_code == 201, response.content
    return response.json()


def test_end_to_end_breach_and_recovery_by_smtp_and_signed_webhook(client, acme, inbox, receiver,
                                                                    django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks
    rule = create_over_api(client, acme, receiver.url)
    errors(acme.tenant, 6, T - timedelta(minutes=10))

    tick(capture, acme.tenant, T)
    assert [e.rcpt_tos for e in inbox.envelopes] == [["ops@example.com"]]
    (message,) = inbox.messages()
    assert message["Subject"] == "[Alert] Errors"
    assert "6 is above 5" in message.get_body(preferencelist=("plain",)).get_content()
    (request,) = receiver.requests
    assert request["path"] == "/hooks/analytics"
    payload = signed(request, rule["webhook_secret"])
    assert {k: payload[k] for k in ("rule", "kind", "value", "threshold", "condition", "period", "fired_at",
                                    "query")} == {
        "rule": {"id": rule["id"], "name": "errors", "display_name": "Errors"}, "kind": "breach", "value": 6.0,
        "threshold": 5.0, "condition": "above", "period": "1h", "fired_at": "2026-11-20T12:00:30Z", "query": ERRORS}

    tick(capture, acme.tenant, T + timedelta(minutes=5))
    assert len(inbox.envelopes) == 1 and len(receiver.requests) == 1

    tick(capture, acme.tenant, T + timedelta(hours=2))
    assert len(inbox.envelopes) == 2 and inbox.messages()[1]["Subject"] == "[Resolved] Errors"
    assert len(receiver.requests) == 2
    recovery = signed(receiver.requests[1], rule["webhook_secret"])
    assert (recovery["kind"], recovery["value"], recovery["id"]) == ("recovery", 0.0, payload["id"] + 1)

    history = client.get(f"/api/v1/alerts/{rule['id']}/firings", **bearer(acme.secret_key)).json()["results"]
    assert [(f["kind"], sorted((d["channel_type"], d["status"], d["attempts"]) for d in f["deliveries"]))
            for f in history] == [
        ("recovery", [("email", "sent", 1), ("webhook", "sent", 1)]),
        ("breach", [("email", "sent", 1), ("webhook", "sent", 1)])]
    status = client.get("/api/v1/status", **bearer(acme.secret_key)).json()["jobs"]["alerts"]
    assert {k: status[k] for k in ("rules", "enabled", "firing", "firings", "every_seconds")} == {
        "rules": 1, "enabled": 1, "firing": 0, "firings": 2, "every_seconds": 60.0}
    assert status["last_firing_at"] == "2026-11-20T14:00:30Z"


@pytest.mark.parametrize("answers, countdowns, status, attempts", [
    ([500], [30], "sent", 2),
    ([503, 500, 502], [30, 60], "failed", 3),
    ([404], [], "failed", 1),  # a 4xx is final
])
def test_webhook_retries_on_5xx_with_backoff(client, acme, receiver, settings, django_capture_on_commit_callbacks,
                                             answers, countdowns, status, attempts):
    settings.ALERTS_RETRY_SECONDS = 30
    rule = create_over_api(client, acme, receiver.url)
    errors(acme.tenant, 6, T - timedelta(minutes=10))
    receiver.answers = list(answers)
    assert tick(django_capture_on_commit_callbacks, acme.tenant, T) == countdowns
    assert len(receiver.requests) == attempts
    bodies = [signed(r, rule["webhook_secret"]) for r in receiver.requests]
    assert len({b["id"] for b in bodies}) == 1  # the same firing each time
    with schema_context(acme.tenant.schema_name):
        webhook = AlertDelivery.objects.get(channel_type="webhook")
        assert (webhook.status, webhook.attempts) == (status, attempts)
        assert webhook.response_status == (200 if status == "sent" else answers[-1])
        assert AlertDelivery.objects.get(channel_type="email").status == "sent"

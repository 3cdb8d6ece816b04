"""Alerts over the API: create (the secret answered once), read, change, delete, each refusal with the
field it names and nothing written, the history, a test notification, scopes and tenant isolation."""

from __future__ import annotations

import json

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from apps.alerts.models import AlertDelivery, AlertFiring, AlertRule
from apps.metrics import services as metric_services
from apps.tenancy.services import api_key_create
from tests.helpers import assert_error, bearer

TRENDS = {"kind": "trends", "interval": "hour", "series": [{"event": "Error"}]}
RULE = {"name": "errors", "display_name": "Errors <b>spike</b>", "query": TRENDS, "condition": "above",
        "threshold": 5, "period": "1h", "cooldown": "30m",
        "channels": [{"type": "email", "address": "ops@example.com"}]}


def post(client, key: str, path: str, body) -> object:  # noqa: ANN001
    return client.post(path, json.dumps(body), content_type="application/json", **bearer(key))


def patch(client, key: str, path: str, body) -> object:  # noqa: ANN001
    return client.patch(path, json.dumps(body), content_type="application/json", **bearer(key))


def rules(tenant) -> list[AlertRule]:  # noqa: ANN001
    with schema_context(tenant.schema_name):
        return list(AlertRule.objects.all())


def test_create_read_change_delete(client, acme):
    created = post(client, acme.secret_key, "/api/v1/alerts", RULE)
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["webhook_secret"].startswith("whsec_")
    assert {k: body[k] for k in ("name", "display_name", "query", "condition", "threshold", "method", "period",
                                  "cooldown", "channels", "enabled", "state", "last_checked_at", "last_value")} == {
        **{k: RULE[k] for k in ("name", "display_name", "query", "condition", "period", "channels")},
        "threshold": 5.0, "method": "", "cooldown": 1800, "enabled": True, "state": "unknown",
        "last_checked_at": None, "last_value": None}
    (stored,) = rules(acme.tenant)
    assert stored.secret == body["webhook_secret"] and stored.cooldown == 1800

    read = client.get(f"/api/v1/alerts/{body['id']}", **bearer(acme.secret_key)).json()
    assert "webhook_secret" not in read and read["name"] == "errors"
    listed = client.get("/api/v1/alerts", **bearer(acme.secret_key)).json()
    assert [r["name"] for r in listed["results"]] == ["errors"] and listed["next"] is None

    changed = patch(client, acme.secret_key, f"/api/v1/alerts/{body['id']}", {"threshold": 10, "period": "90m"})
    assert changed.status_code == 200, changed.content
    assert (changed.json()["threshold"], changed.json()["period"]) == (10.0, "90m")
    assert "webhook_secret" not in changed.json()
    rotated = patch(client, acme.secret_key, f"/api/v1/alerts/{body['id']}", {"rotate_secret": True}).json()
    assert rotated["webhook_secret"].startswith("whsec_") and rotated["webhook_secret"] != body["webhook_secret"]
    assert rules(acme.tenant)[0].secret == rotated["webhook_secret"]

    assert client.get(f"/api/v1/alerts/{body['id']}/firings", **bearer(acme.secret_key)).json() == {
        "results": [], "next": None}
    assert client.delete(f"/api/v1/alerts/{body['id']}", **bearer(acme.secret_key)).status_code == 204
    assert rules(acme.tenant) == []


def test_anomaly_rules_take_their_method_and_default_threshold(client, acme):
    with schema_context(acme.tenant.schema_name):
        metric_services.metric_create(name="latency", metric_type="histogram")
    body = {**RULE, "name": "slow", "condition": "anomaly", "threshold": None, "period": "2d",
            "query": {"kind": "metric", "metric": "latency", "aggregation": "p95", "granularity": "hour"}}
    zscore = post(client, acme.secret_key, "/api/v1/alerts", body).json()
    assert (zscore["method"], zscore["threshold"]) == ("zscore", 3.0)
    iqr = post(client, acme.secret_key, "/api/v1/alerts", {**body, "name": "slow-iqr", "method": "iqr"}).json()
    assert (iqr["method"], iqr["threshold"]) == ("iqr", 1.5)


@pytest.mark.parametrize("change, code, field", [
    ({"name": "Not A Slug"}, "invalid", "name"),
    ({"query": {"kind": "funnel", "steps": [{"event": "a"}, {"event": "b"}]}}, "invalid", "query"),
    ({"query": {**TRENDS, "date_from": "-7d"}}, "invalid", "query"),
    ({"query": {**TRENDS, "breakdown": {"property": "plan"}}}, "invalid", "query"),
    ({"query": {"kind": "trends", "series": [{"event": "Error", "math": "median"}]}}, "invalid", "query"),
    ({"query": {"kind": "metric", "metric": "nope"}}, "invalid", "query"),
    ({"query": "errors"}, "invalid", "query"),
    ({"condition": "sideways"}, "invalid", "condition"),
    ({"threshold": None}, "invalid", "threshold"),
    ({"method": "iqr"}, "invalid", "method"),
    ({"condition": "anomaly", "period": "6h"}, "invalid", "period"),  # 6 hourly buckets: too few
    ({"period": "1 hour"}, "invalid", "period"),
    ({"period": "30s"}, "invalid", "period"),
    ({"period": "600w"}, "invalid", "period"),
    ({"cooldown": "soon"}, "invalid", "cooldown"),
    ({"cooldown": -5}, "invalid", "cooldown"),
    ({"cooldown": "9999999w"}, "invalid", "cooldown"),
    ({"cooldown": 10 ** 12}, "invalid", "cooldown"),
    ({"channels": []}, "invalid", "channels"),
    ({"channels": [{"type": "sms", "number": "+1"}]}, "invalid", "channels"),
    ({"channels": [{"type": "email", "address": "not-an-address"}]}, "invalid", "channels"),
    ({"channels": [{"type": "webhook", "url": "ftp://hooks.example.com/x"}]}, "invalid_webhook", "channels"),
    ({"channels": [{"type": "webhook", "url": "https://127.0.0.1/x"}]}, "invalid_webhook", "channels"),
])
def test_refusals_name_the_field_and_write_nothing(client, acme, change, code, field):
    error = assert_error(post(client, acme.secret_key, "/api/v1/alerts", {**RULE, **change}), 400, code)
    assert field in error["details"], error
    assert rules(acme.tenant) == []


def test_a_refused_webhook_says_why(client, acme, settings):
    settings.ALERTS_WEBHOOK_ALLOWED_HOSTS = []
    channels = [{"type": "email", "address": "ops@example.com"},
                {"type": "webhook", "url": "https://169.254.169.254/latest/meta-data"}]
    error = assert_error(post(client, acme.secret_key, "/api/v1/alerts", {**RULE, "channels": channels}), 400,
                         "invalid_webhook")
    assert error["details"] == {"channels": {"1": {"url": "resolves to a link-local address 169.254.169.254"}}}
    assert "link-local" in error["message"]
    http = [{"type": "webhook", "url": "http://hooks.example.com/x"}]
    error = assert_error(post(client, acme.secret_key, "/api/v1/alerts", {**RULE, "channels": http}), 400,
                         "invalid_webhook")
    assert error["details"]["channels"]["0"]["url"].startswith("scheme must be https")


def test_a_refused_change_leaves_the_rule_as_it_was(client, acme):
    rule = post(client, acme.secret_key, "/api/v1/alerts", RULE).json()
    refused = patch(client, acme.secret_key, f"/api/v1/alerts/{rule['id']}",
                    {"threshold": 1, "channels": [{"type": "webhook", "url": "https://10.0.0.1/"}]})
    assert_error(refused, 400, "invalid_webhook")
    (stored,) = rules(acme.tenant)
    assert (stored.threshold, stored.channels) == (5.0, RULE["channels"])


def test_a_name_is_taken_once(client, acme):
    assert post(client, acme.secret_key, "/api/v1/alerts", RULE).status_code == 201
    assert_error(post(client, acme.secret_key, "/api/v1/alerts", RULE), 409, "alert_exists")
    assert len(rules(acme.tenant)) == 1


def test_a_test_notification_reaches_every_channel_and_is_recorded(client, acme, django_capture_on_commit_callbacks):
    rule = post(client, acme.secret_key, "/api/v1/alerts", RULE).json()
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(f"/api/v1/alerts/{rule['id']}/test", **bearer(acme.secret_key))
    assert answer.status_code == 202, answer.content
    assert answer.json()["kind"] == "test"
    (message,) = mail.outbox
    assert message.to == ["ops@example.com"] and message.subject == "[Test] Errors <b>spike</b>"
    html = message.alternatives[0][0]
    assert "Errors &lt;b&gt;spike&lt;/b&gt;" in html and "<b>spike</b>" not in html
    history = client.get(f"/api/v1/alerts/{rule['id']}/firings", **bearer(acme.secret_key)).json()["results"]
    assert [(f["kind"], [d["status"] for d in f["deliveries"]]) for f in history] == [("test", ["sent"])]
    assert rules(acme.tenant)[0].state == "unknown"  # a test changes no state


def test_scopes_read_and_write(client, acme):
    reader = api_key_create(tenant=acme.tenant, kind="secret", scopes=["read"]).raw
    assert_error(post(client, reader, "/api/v1/alerts", RULE), 403, "insufficient_scope")
    rule = post(client, acme.secret_key, "/api/v1/alerts", RULE).json()
    assert client.get(f"/api/v1/alerts/{rule['id']}", **bearer(reader)).status_code == 200
    assert client.get(f"/api/v1/alerts/{rule['id']}/firings", **bearer(reader)).status_code == 200
    assert_error(client.delete(f"/api/v1/alerts/{rule['id']}", **bearer(reader)), 403, "insufficient_scope")
    assert_error(client.post(f"/api/v1/alerts/{rule['id']}/test", **bearer(reader)), 403, "insufficient_scope")
    assert_error(client.get("/api/v1/alerts", **bearer(acme.write_key)), 403, "forbidden")
    assert len(rules(acme.tenant)) == 1


def test_another_tenant_can_neither_see_nor_touch_a_rule(client, acme, globex):
    rule = post(client, acme.secret_key, "/api/v1/alerts", RULE).json()
    path = f"/api/v1/alerts/{rule['id']}"
    assert client.get("/api/v1/alerts", **bearer(globex.secret_key)).json()["results"] == []
    assert_error(client.get(path, **bearer(globex.secret_key)), 404, "not_found")
    assert_error(patch(client, globex.secret_key, path, {"threshold": 1}), 404, "not_found")
    assert_error(client.get(f"{path}/firings", **bearer(globex.secret_key)), 404, "not_found")
    assert_error(client.post(f"{path}/test", **bearer(globex.secret_key)), 404, "not_found")
    assert_error(client.delete(path, **bearer(globex.secret_key)), 404, "not_found")
    # The same name is free in the other tenant, and stays apart.
    assert post(client, globex.secret_key, "/api/v1/alerts", RULE).status_code == 201
    (kept,) = rules(acme.tenant)
    assert (kept.threshold, kept.pk) == (5.0, rule["id"])
    with schema_context(acme.tenant.schema_name):
        assert AlertFiring.objects.count() == 0 and AlertDelivery.objects.count() == 0


def test_a_rate_needs_a_counter(client, acme):
    with schema_context(acme.tenant.schema_name):
        metric_services.metric_create(name="memory", metric_type="gauge")
    body = {**RULE, "query": {"kind": "metric", "metric": "memory", "aggregation": "rate"}}
    error = assert_error(post(client, acme.secret_key, "/api/v1/alerts", body), 400, "invalid")
    assert error["details"] == {"query": {"aggregation": "rate"}}
    assert rules(acme.tenant) == []


def test_lists_cost_a_fixed_number_of_queries(client, acme):
    for index in range(3):
        rule = post(client, acme.secret_key, "/api/v1/alerts", {**RULE, "name": f"errors-{index}"}).json()
    with schema_context(acme.tenant.schema_name):
        from apps.alerts import services

        stored = AlertRule.objects.get(pk=rule["id"])
        for _ in range(4):
            services.rule_test(rule=stored)  # firings with deliveries (their tasks wait for a commit)
    with CaptureQueriesContext(connection) as listing:
        listed = client.get("/api/v1/alerts", **bearer(acme.secret_key)).json()["results"]
    assert len(listed) == 3
    with CaptureQueriesContext(connection) as paging:
        history = client.get(f"/api/v1/alerts/{rule['id']}/firings", **bearer(acme.secret_key)).json()["results"]
    assert len(history) == 4 and all(len(f["deliveries"]) == 1 for f in history)
    # The rule, its page of firings, their deliveries: not one query per firing.
    assert len(listing.captured_queries) <= 2 and len(paging.captured_queries) <= 3

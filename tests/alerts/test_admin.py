"""The tenant console's alerts: rules created and changed through the checked form, the list with
state, last value and last check, the firings inline and read-only, and the test action."""

from __future__ import annotations

import json
from datetime import timedelta

from django.core import mail
from django_tenants.utils import schema_context

from apps.alerts.models import AlertFiring, AlertRule
from tests.alerts.test_checks import ERRORS, T, errors, tick
from tests.events.test_admin import log_in

HOST = {"HTTP_HOST": "acme.localhost"}
FORM = {"name": "errors", "display_name": "Errors", "enabled": "on", "query": json.dumps(ERRORS),
        "condition": "above", "threshold": "5", "method": "", "period": "1h", "cooldown": "0",
        "channels": json.dumps([{"type": "email", "address": "ops@example.com"}]),
        "firings-TOTAL_FORMS": 0, "firings-INITIAL_FORMS": 0}


def test_rules_are_made_in_the_console_checked_like_the_api(client, acme, django_capture_on_commit_callbacks):
    log_in(client, acme.tenant)
    refused = client.post("/admin/alerts/alertrule/add/", {
        **FORM, "channels": json.dumps([{"type": "webhook", "url": "https://127.0.0.1/x"}])}, **HOST)
    assert refused.status_code == 200 and b"resolves to a loopback address 127.0.0.1" in refused.content
    funnel = client.post("/admin/alerts/alertrule/add/", {**FORM, "query": json.dumps(
        {"kind": "funnel", "steps": [{"event": "a"}, {"event": "b"}]})}, **HOST)
    assert funnel.status_code == 200 and b"trends" in funnel.content
    with schema_context(acme.tenant.schema_name):
        assert not AlertRule.objects.exists()

    created = client.post("/admin/alerts/alertrule/add/", FORM, **HOST)
    assert created.status_code == 302, created.content
    with schema_context(acme.tenant.schema_name):
        rule = AlertRule.objects.get()
        assert (rule.threshold, rule.period, rule.state, len(rule.secret) > 20) == (5.0, "1h", "unknown", True)

    errors(acme.tenant, 6, T - timedelta(minutes=10))
    tick(django_capture_on_commit_callbacks, acme.tenant, T)
    listing = client.get("/admin/alerts/alertrule/", **HOST).content.decode()
    assert "firing" in listing and "6.0" in listing
    page = client.get(f"/admin/alerts/alertrule/{rule.pk}/change/", **HOST).content.decode()
    assert "6 is above 5 over the last 1h" in page  # the firing, inline

    changed = client.post(f"/admin/alerts/alertrule/{rule.pk}/change/", {**FORM, "threshold": "10"}, **HOST)
    assert changed.status_code == 302, changed.content
    with schema_context(acme.tenant.schema_name):
        rule.refresh_from_db()
        firing = AlertFiring.objects.get()
    assert (rule.threshold, rule.state) == (10.0, "unknown")  # what it watches changed: afresh

    assert client.get(f"/admin/alerts/alertfiring/{firing.pk}/change/", **HOST).status_code == 200
    assert client.post(f"/admin/alerts/alertfiring/{firing.pk}/change/", {}, **HOST).status_code == 403
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        tested = client.post("/admin/alerts/alertrule/", {"action": "send_test", "_selected_action": [rule.pk]},
                             follow=True, **HOST)
    assert b"test notification" in tested.content
    assert [m.subject for m in mail.outbox] == ["[Test] Errors"]

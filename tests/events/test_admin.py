"""The tenant console's events and persons pages."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context


def log_in(client, tenant) -> None:  # noqa: ANN001
    with schema_context(tenant.schema_name):
        get_user_model().objects.create_superuser("boss", "b@x.y", "pw-123456")
    client.post("/admin/login/", {"username": "boss", "password": "pw-123456"}, HTTP_HOST=f"{tenant.slug}.localhost")


def test_events_list_is_read_only_and_never_counts_the_whole_table(client, send, acme):
    send.post("/v1/batch", {"batch": [{"type": "track", "userId": f"u{i}", "event": "Clicked"} for i in range(5)]})
    log_in(client, acme.tenant)
    with CaptureQueriesContext(connection) as context:
        page = client.get("/admin/events/event/", HTTP_HOST="acme.localhost")
    assert page.status_code == 200
    assert page.content.count(b"Clicked") >= 5
    counts = [q["sql"] for q in context.captured_queries if "COUNT(" in q["sql"].upper() and '"events"' in q["sql"]]
    assert all("LIMIT" in sql.upper() for sql in counts), counts
    assert client.get("/admin/events/event/add/", HTTP_HOST="acme.localhost").status_code == 403


def test_persons_are_found_by_any_distinct_id(client, send, acme):
    send.post("/v1/identify", {"userId": "user-1", "anonymousId": "anon-1", "traits": {"plan": "pro"}})
    send.post("/v1/identify", {"userId": "user-2"})
    log_in(client, acme.tenant)
    page = client.get("/admin/events/person/?q=anon-1", HTTP_HOST="acme.localhost").content.decode()
    assert "user-1" in page and "user-2" not in page


def test_a_tenant_console_shows_only_its_own_events(client, send, acme, globex):
    send.post("/v1/track", {"userId": "u", "event": "AcmeOnly"})
    log_in(client, globex.tenant)
    page = client.get("/admin/events/event/", HTTP_HOST="globex.localhost")
    assert page.status_code == 200 and b"AcmeOnly" not in page.content

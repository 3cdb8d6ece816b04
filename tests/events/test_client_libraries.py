"""The real Segment and PostHog client libraries, pointed at a live server with a write key,
send track/identify/page/alias; the events and merged persons are read back through the API."""

from __future__ import annotations

import pytest
import requests
from django.db import connection

from apps.tenancy.services import tenant_create


@pytest.fixture
def live_tenant(transactional_db, live_server):  # noqa: ANN001, ANN201
    created = tenant_create(slug="libs", name="Libraries Inc.")
    yield created, live_server.url
    connection.set_schema_to_public()
    with connection.cursor() as cursor:
        cursor.execute(f'DROP SCHEMA IF EXISTS "{created.tenant.schema_name}" CASCADE')


def api(base: str, secret_key: str, path: str) -> dict:
    response = requests.get(f"{base}{path}", headers={"Authorization": f"Bearer {secret_key}"}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def test_segment_analytics_python(live_tenant):
    from segment.analytics import Client

    created, base = live_tenant
    errors = []
    client = Client(write_key=created.write_key.raw, host=base, gzip=True, max_retries=2, sync_mode=False,
                    on_error=lambda error, batch: errors.append(error))
    client.page(anonymous_id="anon-42", name="Pricing", properties={"path": "/pricing"})
    client.track(anonymous_id="anon-42", event="Viewed Pricing", properties={"plan": "pro"})
    client.identify(user_id="user-42", anonymous_id="anon-42", traits={"email": "ann@example.com", "plan": "pro"})
    client.track(user_id="user-42", event="Subscribed", properties={"amount": 49})
    client.alias(previous_id="legacy-42", user_id="user-42")
    client.flush()
    client.shutdown()
    assert errors == []

    secret = created.secret_key.raw
    person = api(base, secret, "/api/v1/persons/anon-42")
    assert sorted(person["distinct_ids"]) == ["anon-42", "legacy-42", "user-42"]
    assert person["traits"] == {"email": "ann@example.com", "plan": "pro"}
    events = api(base, secret, "/api/v1/events?distinct_id=user-42&limit=50")["results"]
    assert sorted(e["event"] for e in events) == sorted(["$pageview", "Viewed Pricing", "$identify", "Subscribed",
                                                          "$create_alias"])
    page = next(e for e in events if e["event"] == "$pageview")
    assert page["properties"] == {"path": "/pricing", "name": "Pricing"}
    assert page["context"]["library"]["name"] == "analytics-python"


def test_posthog_python(live_tenant):
    from posthog import Posthog

    created, base = live_tenant
    errors = []
    client = Posthog(created.write_key.raw, host=base, gzip=True, max_retries=2,
                     on_error=lambda error, batch: errors.append(error), disable_geoip=True)
    client.capture("$pageview", distinct_id="anon-7", properties={"$current_url": "https://shop.example/"})
    client.capture("Added to Cart", distinct_id="anon-7", properties={"sku": "X1"})
    # PostHog's identify, as its browser library sends it.
    client.capture("$identify", distinct_id="user-7", properties={"$anon_distinct_id": "anon-7",
                                                                  "$set": {"email": "bo@example.com"}})
    client.set(distinct_id="user-7", properties={"plan": "team"})
    client.alias(previous_id="legacy-7", distinct_id="user-7")
    client.flush()
    client.shutdown()
    assert errors == []

    secret = created.secret_key.raw
    person = api(base, secret, "/api/v1/persons/user-7")
    assert sorted(person["distinct_ids"]) == ["anon-7", "legacy-7", "user-7"]
    assert person["traits"] == {"email": "bo@example.com", "plan": "team"}
    events = api(base, secret, "/api/v1/events?distinct_id=anon-7&limit=50")["results"]
    names = {e["event"] for e in events}
    assert {"$pageview", "Added to Cart"} <= names

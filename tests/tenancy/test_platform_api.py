"""The platform API: tenants and keys, behind the platform token, on the public schema."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_exists

from apps.tenancy.models import ApiKey, Domain, Tenant
from apps.tenancy.selectors import api_key_resolve
from tests.helpers import assert_error, bearer

TENANTS = "/platform/v1/tenants"


def test_platform_api_needs_the_platform_token(api_client, db, acme):
    response = api_client.get(TENANTS)
    assert response.status_code == 401
    assert_error(response, 401, "unauthenticated")
    assert_error(api_client.get(TENANTS, **bearer("wrong-token")), 401, "unauthenticated")
    # A tenant's secret key is no platform token.
    assert_error(api_client.get(TENANTS, **bearer(acme.secret_key)), 401, "unauthenticated")


def test_create_tenant_provisions_schema_domain_and_keys(api_client, db, platform_headers):
    response = api_client.post(
        TENANTS, {"slug": "initech", "name": "Initech", "timezone": "Europe/Berlin", "retention_days": 90},
        format="json", **platform_headers,
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["slug"] == "initech"
    assert body["schema_name"] == "t_initech"
    assert body["domain"] == "initech.localhost"
    assert body["timezone"] == "Europe/Berlin" and body["retention_days"] == 90
    tenant = Tenant.objects.get(slug="initech")
    assert schema_exists("t_initech")
    assert Domain.objects.filter(tenant=tenant, domain="initech.localhost", is_primary=True).exists()
    write, secret = api_key_resolve(raw_key=body["write_key"]), api_key_resolve(raw_key=body["secret_key"])
    assert (write.kind, write.tenant_id) == ("write", tenant.id)
    assert (secret.kind, secret.tenant_id) == ("secret", tenant.id)
    # The new key works on the tenant API straight away.
    assert api_client.get("/api/v1/tenant", **bearer(body["secret_key"])).json()["slug"] == "initech"


def test_the_cloned_schema_has_the_tenant_tables(db, make_tenant):
    handle = make_tenant("cloned")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", [handle.tenant.schema_name]
        )
        tables = {row[0] for row in cursor.fetchall()}
    assert {"auth_user", "django_session", "django_admin_log", "django_migrations"} <= tables
    assert "tenancy_tenant" not in tables  # shared tables stay in public only


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"slug": "Bad Slug"}, "slug"),
        ({"slug": "a"}, "slug"),
        ({"slug": "-leading"}, "slug"),
        ({"slug": "x" * 41}, "slug"),
        ({"name": "no slug"}, "slug"),
        ({"slug": "okay", "timezone": "Mars/Olympus"}, "timezone"),
        ({"slug": "okay", "retention_days": 0}, "retention_days"),
        ({"slug": "okay", "monthly_event_quota": "lots"}, "monthly_event_quota"),
        ({"slug": "www"}, "slug"),
    ],
)
def test_invalid_tenant_is_400_and_writes_nothing(api_client, db, platform_headers, payload, field):
    response = api_client.post(TENANTS, payload, format="json", **platform_headers)
    error = assert_error(response, 400, "invalid")
    assert field in error["details"]
    assert not Tenant.objects.exists()
    assert not ApiKey.objects.exists()
    assert not schema_exists("t_okay")


def test_malformed_json_is_400(api_client, db, platform_headers):
    response = api_client.generic("POST", TENANTS, "{not json", content_type="application/json", **platform_headers)
    assert_error(response, 400, "malformed_request")
    assert not Tenant.objects.exists()


def test_duplicate_slug_is_409(api_client, acme, platform_headers):
    response = api_client.post(TENANTS, {"slug": "acme"}, format="json", **platform_headers)
    assert_error(response, 409, "tenant_exists")
    assert Tenant.objects.filter(slug="acme").count() == 1
    assert ApiKey.objects.filter(tenant=acme.tenant).count() == 2


def test_list_tenants_is_cursor_paginated(api_client, make_tenant, platform_headers):
    for slug in ["t-c", "t-a", "t-b"]:
        make_tenant(slug)
    first = api_client.get(TENANTS + "?limit=2", **platform_headers).json()
    assert [t["slug"] for t in first["results"]] == ["t-a", "t-b"]
    assert first["next"]
    second = api_client.get(first["next"], **platform_headers).json()
    assert [t["slug"] for t in second["results"]] == ["t-c"]
    assert second["next"] is None


def test_list_tenants_query_count_does_not_grow_with_tenants(api_client, make_tenant, platform_headers):
    def queries_for_listing() -> int:
        with CaptureQueriesContext(connection) as context:
            api_client.get(TENANTS, **platform_headers)
        return len([q for q in context.captured_queries if q["sql"].startswith("SELECT")])

    make_tenant("q-first")
    with_one = queries_for_listing()
    for i in range(5):
        make_tenant(f"q-{i}")
    assert queries_for_listing() == with_one == 2


def test_get_tenant_and_unknown_tenant(api_client, acme, platform_headers):
    body = api_client.get(f"{TENANTS}/acme", **platform_headers).json()
    assert body["slug"] == "acme" and body["domain"] == "acme.localhost"
    assert_error(api_client.get(f"{TENANTS}/nobody", **platform_headers), 404, "tenant_not_found")


def test_issue_and_list_keys(api_client, acme, platform_headers):
    response = api_client.post(f"{TENANTS}/acme/keys", {"kind": "secret", "name": "ci"}, format="json",
                               **platform_headers)
    assert response.status_code == 201
    body = response.json()
    assert body["key"].startswith("sk_") and body["prefix"] == body["key"][:11]
    assert body["tenant"] == "acme" and body["name"] == "ci" and body["revoked_at"] is None
    assert api_client.get("/api/v1/tenant", **bearer(body["key"])).json()["slug"] == "acme"
    listed = api_client.get(f"{TENANTS}/acme/keys", **platform_headers).json()["results"]
    assert len(listed) == 3
    assert all("key" not in item for item in listed)  # the raw key is never shown again
    assert listed[0]["prefix"] == body["prefix"]


def test_issue_key_with_a_bad_kind_is_400(api_client, acme, platform_headers):
    response = api_client.post(f"{TENANTS}/acme/keys", {"kind": "admin"}, format="json", **platform_headers)
    assert "kind" in assert_error(response, 400, "invalid")["details"]
    assert ApiKey.objects.filter(tenant=acme.tenant).count() == 2


def test_issue_key_for_unknown_tenant_is_404(api_client, db, platform_headers):
    response = api_client.post(f"{TENANTS}/ghost/keys", {"kind": "write"}, format="json", **platform_headers)
    assert_error(response, 404, "tenant_not_found")


def test_revoke_key(api_client, acme, platform_headers):
    prefix = acme.secret_key[:11]
    response = api_client.post(f"/platform/v1/keys/{prefix}/revoke", **platform_headers)
    assert response.status_code == 200
    revoked_at = response.json()["revoked_at"]
    assert revoked_at
    assert ApiKey.objects.get(prefix=prefix).revoked_at is not None
    assert_error(api_client.get("/api/v1/tenant", **bearer(acme.secret_key)), 401, "unauthenticated")
    # Revoking again changes nothing.
    again = api_client.post(f"/platform/v1/keys/{prefix}/revoke", **platform_headers).json()
    assert again["revoked_at"] == revoked_at


def test_revoke_unknown_key_is_404(api_client, db, platform_headers):
    assert_error(api_client.post("/platform/v1/keys/sk_nothere/revoke", **platform_headers), 404,
                 "api_key_not_found")


def test_platform_api_is_not_reachable_with_a_tenant_host(api_client, acme, platform_headers):
    # Tenant hosts serve the tenant console only; the platform API lives on the public site.
    response = api_client.get(TENANTS, HTTP_HOST="acme.localhost", **platform_headers)
    assert_error(response, 404, "not_found")

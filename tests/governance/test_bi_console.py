"""The tenant console's BI credentials: admins issue (password shown once), rotate and revoke;
other console users get nothing. (Logging in with the roles is tested in test_bi.py.)"""

from __future__ import annotations

import re

from django.contrib.auth import get_user_model
from django.db import connection
from django_tenants.utils import schema_context

from apps.governance.models import BiCredential
from tests.events.test_admin import log_in

BASE = "/admin/governance/bicredential/"


def role_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", [name])
        return cursor.fetchone()[0] == 1


def shown_password(content: bytes) -> str:
    match = re.search(rb'<code id="bi-password">([^<]+)</code>', content)
    assert match, content
    return match.group(1).decode()


def test_an_admin_issues_rotates_and_revokes(client, acme):  # noqa: ANN001
    log_in(client, acme.tenant)
    host = {"HTTP_HOST": "acme.localhost"}
    assert client.get(f"{BASE}add/", **host).status_code == 200
    refused = client.post(f"{BASE}add/", {"name": "x", "statement_timeout_ms": 1, "connection_limit": 1}, **host)
    assert refused.status_code == 200 and b"errorlist" in refused.content
    issued = client.post(f"{BASE}add/", {"name": "<b>Metabase</b>", "statement_timeout_ms": 5000,
                                         "connection_limit": 3}, **host)
    assert issued.status_code == 200, issued.content
    assert "no-store" in issued["Cache-Control"]
    assert b"&lt;b&gt;Metabase&lt;/b&gt;" in issued.content and b"<b>Metabase" not in issued.content
    first = shown_password(issued.content)
    with schema_context(acme.tenant.schema_name):
        credential = BiCredential.objects.get()
    assert (credential.statement_timeout_ms, credential.connection_limit) == (5000, 3)
    assert credential.created_by == "user boss" and role_exists(credential.role_name)
    assert credential.role_name.encode() in issued.content and b"bi_acme" in issued.content

    listing = client.get(BASE, **host)
    assert listing.status_code == 200 and credential.role_name.encode() in listing.content
    assert first.encode() not in listing.content  # shown once only
    assert client.get(f"{BASE}{credential.pk}/rotate/", **host).status_code == 200  # the confirmation
    rotated = client.post(f"{BASE}{credential.pk}/rotate/", **host)
    assert rotated.status_code == 200 and shown_password(rotated.content) != first
    revoked = client.post(f"{BASE}{credential.pk}/revoke/", follow=True, **host)
    assert b"revoked" in revoked.content
    with schema_context(acme.tenant.schema_name):
        credential.refresh_from_db()
    assert credential.revoked_at is not None and not role_exists(credential.role_name)
    # Nobody edits or deletes the row itself.
    assert client.post(f"{BASE}{credential.pk}/delete/", {"post": "yes"}, **host).status_code in (302, 403)
    with schema_context(acme.tenant.schema_name):
        assert BiCredential.objects.filter(pk=credential.pk).exists()


def test_console_users_who_are_not_admins_get_nothing(client, acme):  # noqa: ANN001
    with schema_context(acme.tenant.schema_name):
        get_user_model().objects.create_user("ed", "e@x.y", "pw-123456", is_staff=True)
    client.post("/admin/login/", {"username": "ed", "password": "pw-123456"}, HTTP_HOST="acme.localhost")
    host = {"HTTP_HOST": "acme.localhost"}
    assert client.get("/admin/", **host).status_code == 200  # logged in
    for response in (client.get(BASE, **host), client.get(f"{BASE}add/", **host),
                     client.post(f"{BASE}add/", {"name": "x", "statement_timeout_ms": 1000, "connection_limit": 1},
                                 **host),
                     client.post(f"{BASE}1/rotate/", **host), client.post(f"{BASE}1/revoke/", **host)):
        assert response.status_code == 403
    with schema_context(acme.tenant.schema_name):
        assert not BiCredential.objects.exists()

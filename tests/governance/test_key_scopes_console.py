"""The tenant console's API keys page: tenant admins list, issue and revoke their own tenant's keys;
editors and viewers get 403; another tenant's keys are never shown or revoked."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django_tenants.utils import schema_context

from apps.governance.roles import ROLE_ADMIN, ROLE_EDITOR, ROLE_VIEWER
from apps.tenancy.models import ApiKey
from apps.tenancy.selectors import api_key_resolve

PAGE = "/admin/governance/tenantapikey/"
PASSWORD = "pw-123456"


def console_user(tenant, username: str, role: str) -> None:  # noqa: ANN001
    with schema_context(tenant.schema_name):
        user = get_user_model().objects.create_user(username, f"{username}@example.com", PASSWORD, is_staff=True)
        user.groups.add(Group.objects.get_or_create(name=role)[0])


def log_in(client, tenant, username: str) -> str:  # noqa: ANN001
    host = f"{tenant.slug}.localhost"
    response = client.post("/admin/login/", {"username": username, "password": PASSWORD}, HTTP_HOST=host)
    assert response.status_code == 302, response.content
    return host


def test_an_admin_sees_only_its_own_tenants_keys(client, acme, globex):
    console_user(acme.tenant, "boss", ROLE_ADMIN)
    host = log_in(client, acme.tenant, "boss")
    page = client.get(PAGE, HTTP_HOST=host)
    assert page.status_code == 200
    html = page.content.decode()
    for raw in (acme.secret_key, acme.write_key):
        assert raw[:11] in html
        assert raw not in html  # never the full key
    for raw in (globex.secret_key, globex.write_key):
        assert raw[:11] not in html
    assert "read, write, admin" in html
    other = ApiKey.objects.get(prefix=globex.secret_key[:11])
    detail = client.get(f"{PAGE}{other.pk}/change/", HTTP_HOST=host, follow=True)
    assert globex.secret_key[:11] not in detail.content.decode()
    own = ApiKey.objects.get(prefix=acme.secret_key[:11])
    assert acme.secret_key[:11] in client.get(f"{PAGE}{own.pk}/change/", HTTP_HOST=host).content.decode()


@pytest.mark.parametrize("role", [ROLE_EDITOR, ROLE_VIEWER])
def test_editors_and_viewers_may_not_see_keys(client, acme, role):
    console_user(acme.tenant, "someone", role)
    host = log_in(client, acme.tenant, "someone")
    own = ApiKey.objects.get(prefix=acme.secret_key[:11])
    assert client.get(PAGE, HTTP_HOST=host).status_code == 403
    assert client.get(f"{PAGE}add/", HTTP_HOST=host).status_code == 403
    assert client.get(f"{PAGE}{own.pk}/change/", HTTP_HOST=host).status_code == 403
    before = ApiKey.objects.count()
    response = client.post(f"{PAGE}add/", {"kind": "secret", "name": "x", "scopes": ["read"]}, HTTP_HOST=host)
    assert response.status_code == 403
    response = client.post(PAGE, {"action": "revoke", "_selected_action": [own.pk]}, HTTP_HOST=host)
    assert response.status_code == 403
    assert ApiKey.objects.count() == before
    assert api_key_resolve(raw_key=acme.secret_key) is not None


def test_an_admin_issues_a_key_with_scopes_and_expiry_shown_once(client, acme, globex):
    console_user(acme.tenant, "boss", ROLE_ADMIN)
    host = log_in(client, acme.tenant, "boss")
    response = client.post(f"{PAGE}add/", {"kind": "secret", "name": "dashboards", "scopes": ["read"],
                                           "expires_at": "2999-01-01 00:00:00"}, HTTP_HOST=host, follow=True)
    assert response.status_code == 200
    html = response.content.decode()
    shown = re.findall(r"sk_[A-Za-z0-9]{40}", html)
    assert len(shown) == 1, html
    key = api_key_resolve(raw_key=shown[0])
    assert key.tenant_id == acme.tenant.id and key.scopes == ["read"] and key.name == "dashboards"
    assert key.expires_at is not None and key.expires_at.year == 2999
    assert shown[0] not in client.get(PAGE, HTTP_HOST=host).content.decode()  # shown once


def test_the_form_refuses_a_write_key_with_other_scopes_and_a_past_expiry(client, acme):
    console_user(acme.tenant, "boss", ROLE_ADMIN)
    host = log_in(client, acme.tenant, "boss")
    before = ApiKey.objects.count()
    for data in ({"kind": "write", "scopes": ["read"]}, {"kind": "secret", "expires_at": "2001-01-01 00:00:00"}):
        response = client.post(f"{PAGE}add/", {"name": "x", **data}, HTTP_HOST=host)
        assert response.status_code == 200  # the form again, with its error
        assert "errorlist" in response.content.decode()
    assert ApiKey.objects.count() == before


def test_an_admin_revokes_own_keys_and_never_another_tenants(client, acme, globex):
    console_user(acme.tenant, "boss", ROLE_ADMIN)
    host = log_in(client, acme.tenant, "boss")
    own = ApiKey.objects.get(prefix=acme.write_key[:11])
    other = ApiKey.objects.get(prefix=globex.write_key[:11])
    response = client.post(PAGE, {"action": "revoke", "_selected_action": [own.pk, other.pk]}, HTTP_HOST=host)
    assert response.status_code == 302
    assert api_key_resolve(raw_key=acme.write_key) is None
    assert api_key_resolve(raw_key=globex.write_key) is not None
    assert ApiKey.objects.get(pk=other.pk).revoked_at is None
    assert client.post("/v1/track", {"userId": "a", "event": "Buy"}, content_type="application/json",
                       HTTP_AUTHORIZATION=f"Bearer {acme.write_key}").status_code == 401


@pytest.mark.parametrize("role", [ROLE_ADMIN, ROLE_EDITOR, ROLE_VIEWER])
def test_every_page_and_action_of_the_keys_page_answers_by_role(client, acme, role):
    console_user(acme.tenant, "someone", role)
    host = log_in(client, acme.tenant, "someone")
    key = ApiKey.objects.get(prefix=acme.write_key[:11])
    admin = role == ROLE_ADMIN
    ok = 200 if admin else 403
    assert client.get(PAGE, HTTP_HOST=host).status_code == ok
    change = client.get(f"{PAGE}{key.pk}/change/", HTTP_HOST=host)
    assert change.status_code == ok
    if admin:
        assert b'name="_save"' in change.content
    assert client.get(f"{PAGE}{key.pk}/history/", HTTP_HOST=host).status_code == ok
    assert client.get(f"{PAGE}add/", HTTP_HOST=host).status_code == ok
    # Empty forms: answered with their errors, or refused; never saved.
    assert client.post(f"{PAGE}add/", HTTP_HOST=host).status_code == ok
    assert client.post(f"{PAGE}{key.pk}/change/", HTTP_HOST=host).status_code == ok
    assert client.get(f"{PAGE}{key.pk}/delete/", HTTP_HOST=host).status_code == 403  # revoked, never deleted
    assert client.post(f"{PAGE}{key.pk}/delete/", {"post": "yes"}, HTTP_HOST=host).status_code == 403
    assert (client.get("/admin/governance/", HTTP_HOST=host).status_code == 200) == admin
    assert ApiKey.objects.filter(pk=key.pk, name=key.name, revoked_at__isnull=True).exists()


def test_an_admin_renames_own_keys_only(client, acme, globex):
    console_user(acme.tenant, "boss", ROLE_ADMIN)
    host = log_in(client, acme.tenant, "boss")
    own = ApiKey.objects.get(prefix=acme.secret_key[:11])
    other = ApiKey.objects.get(prefix=globex.secret_key[:11])
    assert client.post(f"{PAGE}{own.pk}/change/", {"name": "ci"}, HTTP_HOST=host).status_code == 302
    own.refresh_from_db()
    assert own.name == "ci" and own.scopes == ["read", "write", "admin"]
    client.post(f"{PAGE}{other.pk}/change/", {"name": "taken"}, HTTP_HOST=host)
    other.refresh_from_db()
    assert other.name != "taken"

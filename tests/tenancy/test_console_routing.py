"""Host routing for the admin consoles: <slug>.<BASE_DOMAIN> is that tenant's console only."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django_tenants.utils import schema_context

from tests.helpers import assert_error


def make_staff(schema_name: str | None, username: str, password: str = "pw-123456") -> None:
    users = get_user_model().objects
    if schema_name is None:
        users.create_superuser(username, f"{username}@example.com", password)
        return
    with schema_context(schema_name):
        users.create_superuser(username, f"{username}@example.com", password)


def test_unknown_tenant_host_is_404_not_the_public_site(client, db):
    assert_error(client.get("/admin/login/", HTTP_HOST="nobody.localhost"), 404, "tenant_not_found")


def test_tenant_console_login_uses_the_tenant_users(client, acme, globex):
    make_staff(acme.tenant.schema_name, "acme-admin")
    make_staff(None, "platform-admin")
    assert client.login  # the test client is Django's, with sessions in the tenant schema
    response = client.post(
        "/admin/login/?next=/admin/", {"username": "acme-admin", "password": "pw-123456"}, HTTP_HOST="acme.localhost"
    )
    assert response.status_code == 302
    index = client.get("/admin/", HTTP_HOST="acme.localhost")
    assert index.status_code == 200
    assert b"Acme Corp" in index.content
    assert b"Tenants" not in index.content  # public models are not in a tenant console


def test_a_tenant_user_cannot_log_in_to_another_tenant_or_the_public_console(client, acme, globex):
    make_staff(acme.tenant.schema_name, "acme-admin")
    for host in ("globex.localhost", "localhost"):
        response = client.post("/admin/login/", {"username": "acme-admin", "password": "pw-123456"}, HTTP_HOST=host)
        assert response.status_code == 200  # the form again, with an error
        assert b"Please enter the correct username and password" in response.content


def test_public_admin_lists_tenants_for_platform_staff(client, acme):
    make_staff(None, "platform-admin")
    client.post("/admin/login/", {"username": "platform-admin", "password": "pw-123456"}, HTTP_HOST="localhost")
    page = client.get("/admin/tenancy/tenant/", HTTP_HOST="localhost")
    assert page.status_code == 200
    assert b"acme" in page.content


def test_public_admin_creates_a_tenant_and_shows_its_keys_once(client, db):
    from apps.tenancy.models import Tenant
    from apps.tenancy.selectors import api_key_resolve

    make_staff(None, "platform-admin")
    client.post("/admin/login/", {"username": "platform-admin", "password": "pw-123456"}, HTTP_HOST="localhost")
    response = client.post(
        "/admin/tenancy/tenant/add/",
        {"slug": "fresh", "name": "Fresh", "timezone": "UTC", "retention_days": 30, "monthly_event_quota": 1000},
        HTTP_HOST="localhost", follow=True,
    )
    assert response.status_code == 200
    tenant = Tenant.objects.get(slug="fresh")
    shown = [str(m) for m in response.context["messages"] if "secret key" in str(m)]
    assert len(shown) == 1
    secret = shown[0].split("secret key ")[1].split()[0]
    assert api_key_resolve(raw_key=secret).tenant_id == tenant.id
    assert tenant.domains.get().domain == "fresh.localhost"


def test_public_admin_issues_a_key_and_shows_it_once(client, acme):
    from apps.tenancy.selectors import api_key_resolve

    make_staff(None, "platform-admin")
    client.post("/admin/login/", {"username": "platform-admin", "password": "pw-123456"}, HTTP_HOST="localhost")
    response = client.post(
        "/admin/tenancy/apikey/add/", {"tenant": acme.tenant.pk, "kind": "write", "name": "browser"},
        HTTP_HOST="localhost", follow=True,
    )
    message = next(str(m) for m in response.context["messages"] if "not shown again" in str(m))
    raw = message.rsplit(" ", 1)[1]
    key = api_key_resolve(raw_key=raw)
    assert key.tenant_id == acme.tenant.id and key.kind == "write" and key.name == "browser"

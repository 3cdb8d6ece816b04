"""Management commands: create_tenant, create_api_key, revoke_api_key, create_tenant_superuser."""

from __future__ import annotations

import io
import json

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django_tenants.utils import schema_context, schema_exists

from apps.tenancy.models import ApiKey, Tenant
from apps.tenancy.selectors import api_key_resolve


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_tenant_json_prints_working_keys(db, api_client):
    result = json.loads(run("create_tenant", "acme", "--name", "Acme", "--timezone", "Asia/Tokyo", "--json"))
    assert set(result) == {"slug", "schema_name", "domain", "write_key", "secret_key"}
    assert result["slug"] == "acme" and result["schema_name"] == "t_acme" and result["domain"] == "acme.localhost"
    assert schema_exists("t_acme")
    assert Tenant.objects.get(slug="acme").timezone == "Asia/Tokyo"
    assert api_key_resolve(raw_key=result["write_key"]).kind == "write"
    response = api_client.get("/api/v1/tenant", HTTP_AUTHORIZATION=f"Bearer {result['secret_key']}")
    assert response.json()["name"] == "Acme"


def test_create_tenant_refuses_bad_input_without_writing(db):
    with pytest.raises(CommandError, match="timezone"):
        run("create_tenant", "acme", "--timezone", "Nowhere/Else")
    with pytest.raises(CommandError, match="slug"):
        run("create_tenant", "Not A Slug")
    assert not Tenant.objects.exists()


def test_create_tenant_twice_is_an_error(db):
    run("create_tenant", "acme")
    with pytest.raises(CommandError, match="already exists"):
        run("create_tenant", "acme")


def test_create_and_revoke_api_key(acme):
    raw = run("create_api_key", "acme", "--kind", "write").strip()
    assert api_key_resolve(raw_key=raw).tenant.slug == "acme"
    detail = json.loads(run("create_api_key", "acme", "--kind", "secret", "--name", "ops", "--json"))
    assert detail["kind"] == "secret" and detail["name"] == "ops" and detail["key"].startswith("sk_")
    assert "Revoked" in run("revoke_api_key", raw[:11])
    assert api_key_resolve(raw_key=raw) is None
    # The whole key is accepted too: only its prefix is used.
    run("revoke_api_key", detail["key"])
    assert ApiKey.objects.get(prefix=detail["prefix"]).revoked_at is not None


def test_key_commands_report_unknown_names(db):
    with pytest.raises(CommandError, match="No tenant"):
        run("create_api_key", "ghost", "--kind", "write")
    with pytest.raises(CommandError, match="No API key"):
        run("revoke_api_key", "sk_missing1")


def test_create_tenant_superuser_lands_in_the_tenant_schema_only(acme, globex, monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "s3cret-pass")
    run("create_tenant_superuser", "acme", "--username", "boss", "--email", "boss@acme.test", "--noinput")
    with schema_context(acme.tenant.schema_name):
        assert get_user_model().objects.get(username="boss").is_superuser
    with schema_context(globex.tenant.schema_name):
        assert not get_user_model().objects.filter(username="boss").exists()
    assert not get_user_model().objects.filter(username="boss").exists()  # public schema

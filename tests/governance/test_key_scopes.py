"""API key scopes (read / write / admin) on every tenant endpoint, key expiry, and the platform API,
management command and migration that give keys their scopes."""

from __future__ import annotations

import importlib
import json
import re
from datetime import datetime, timedelta, timezone
from io import StringIO

import pytest
import time_machine
import yaml
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory

from apps.core.api import TenantApi
from apps.core.scopes import SCOPES
from apps.tenancy.models import ApiKey
from apps.tenancy.selectors import api_key_resolve
from apps.tenancy.services import api_key_create
from tests.helpers import assert_error, bearer

# The POSTs that only read, so a `read` key may make them. A new POST is a change (`write`) unless
# its view declares otherwise, and then it is added here on purpose.
READING_POSTS = {"/api/v1/query", "/api/v1/events/query", "/api/v1/metrics/aggregate", "/api/v1/segments/preview"}
# Reads that need the `admin` scope: BI logins, personal data exported by privacy jobs, the audit log.
ADMIN_READS = ("/api/v1/bi-credentials", "/api/v1/privacy/jobs", "/api/v1/audit-log")
METHODS = ("get", "post", "put", "patch", "delete")


def issue(tenant, scopes: list[str], kind: str = "secret", **fields) -> str:  # noqa: ANN001, ANN003
    return api_key_create(tenant=tenant, kind=kind, scopes=scopes, **fields).raw


def keyed_operations(client) -> list[tuple[str, str, dict]]:  # noqa: ANN001
    """Every operation of the OpenAPI document that a tenant key calls (the tenant API and ingestion)."""
    schema = yaml.safe_load(client.get("/api/schema/").content)
    found = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            schemes = {name for requirement in operation.get("security", []) for name in requirement}
            if method in METHODS and schemes & {"secretKey", "writeKey"}:
                found.append((path, method, operation))
    return found


def call(client, method: str, path: str, key: str):  # noqa: ANN001, ANN201
    concrete = re.sub(r"\{[^}]+\}", "1", path)
    return client.generic(method.upper(), concrete, "{}", content_type="application/json", **bearer(key))


def test_the_document_states_the_scope_of_every_keyed_operation(client, db):
    operations = keyed_operations(client)
    assert len(operations) > 40  # the walk does see the tenant API and ingestion
    for path, method, operation in operations:
        scope = operation.get("x-required-scope")
        expected = "read" if method == "get" or (method == "post" and path in READING_POSTS) else "write"
        if scope == "admin":  # governance endpoints ask more than the default; of reads, only these
            assert expected == "write" or path.startswith(ADMIN_READS), (method, path)
        else:
            assert scope == expected, (method, path, scope)
        refusal = operation["responses"]["403"]
        assert f"`{scope}` scope" in refusal["description"] and "insufficient_scope" in refusal["description"]
    assert {path for path, method, _ in operations if method == "post"} >= READING_POSTS


def test_the_document_describes_scopes_and_expiry_of_keys(client, db):
    schema = yaml.safe_load(client.get("/api/schema/").content)

    def resolve(node: dict) -> dict:
        return schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]] if "$ref" in node else node

    operation = schema["paths"]["/platform/v1/tenants/{slug}/keys"]["post"]
    request = resolve(operation["requestBody"]["content"]["application/json"]["schema"])
    assert request["properties"]["scopes"]["type"] == "array"
    assert resolve(request["properties"]["scopes"]["items"])["enum"] == ["read", "write", "admin"]
    assert request["properties"]["expires_at"]["format"] == "date-time"
    assert set(request["required"]) == {"kind"}
    issued = resolve(operation["responses"]["201"]["content"]["application/json"]["schema"])
    assert {"scopes", "expires_at", "key"} <= set(issued["properties"])
    assert "400" in operation["responses"]


def test_a_read_key_reads_everything_and_changes_nothing(client, acme):
    read_key = issue(acme.tenant, ["read"])
    read_write_key = issue(acme.tenant, ["read", "write"])
    full_key = acme.secret_key
    reads = writes = 0
    for path, method, operation in keyed_operations(client):
        scope = operation["x-required-scope"]
        response = call(client, method, path, read_key)
        assert response.status_code < 500, (method, path, response.content)
        if scope == "read":
            reads += 1
            assert response.status_code not in (401, 403), (method, path, response.content)
        else:
            writes += 1
            error = assert_error(response, 403, "insufficient_scope")
            assert error["details"]["required_scope"] == scope, (method, path)
            assert f"`{scope}`" in error["message"]
            if scope == "admin":
                refused = call(client, method, path, read_write_key)
                assert assert_error(refused, 403, "insufficient_scope")["details"]["required_scope"] == "admin"
            # The same request with every scope is not refused for its scope.
            allowed = call(client, method, path, full_key)
            assert allowed.status_code < 500, (method, path, allowed.content)
            assert allowed.status_code != 403, (method, path, allowed.content)
    assert reads > 20 and writes > 20


def test_read_only_posts_answer_a_read_key(client, acme):
    read_key = issue(acme.tenant, ["read"])
    assert client.post("/v1/track", {"userId": "ann", "event": "Buy"}, content_type="application/json",
                       **bearer(acme.write_key)).status_code == 200
    query = client.post("/api/v1/query", {"kind": "trends", "date_from": "-7d", "series": [{"event": "Buy"}]},
                        content_type="application/json", **bearer(read_key))
    assert query.status_code == 200, query.content
    assert query.json()["series"][0]["total"] == 1
    events = client.post("/api/v1/events/query", {"event_name": "Buy"}, content_type="application/json",
                         **bearer(read_key))
    assert events.status_code == 200 and len(events.json()["results"]) == 1
    preview = client.post("/api/v1/segments/preview",
                          {"rules": {"op": "and", "rules": [{"event": "Buy", "operator": "gte", "value": 1}]}},
                          content_type="application/json", **bearer(read_key))
    assert preview.status_code == 200, preview.content
    assert client.get("/api/v1/events", **bearer(read_key)).status_code == 200


def test_a_refused_change_writes_nothing(client, acme):
    from apps.dashboards.models import Dashboard
    from apps.events.models import Event

    read_key = issue(acme.tenant, ["read"])
    assert_error(client.post("/api/v1/dashboards", {"name": "Sales"}, content_type="application/json",
                             **bearer(read_key)), 403, "insufficient_scope")
    # Ingestion with a secret key needs `write` too: on the native path, Segment's, and with the
    # key in the body (checked before any view runs).
    for path, body, headers in [
        ("/api/v1/events/track", {"event_name": "Buy", "user_id": "ann"}, bearer(read_key)),
        ("/v1/track", {"userId": "ann", "event": "Buy"}, bearer(read_key)),
        ("/v1/track", {"userId": "ann", "event": "Buy", "writeKey": read_key}, {}),
        ("/api/v1/metrics/values/batch", {"values": []}, bearer(read_key)),
    ]:
        response = client.post(path, body, content_type="application/json", **headers)
        assert assert_error(response, 403, "insufficient_scope")["details"]["required_scope"] == "write", path
    with schema_context(acme.tenant.schema_name):
        assert Dashboard.objects.count() == 0
        assert Event.objects.count() == 0
    assert client.post("/v1/track", {"userId": "ann", "event": "Buy"}, content_type="application/json",
                       **bearer(issue(acme.tenant, ["write"]))).status_code == 200


def test_a_write_key_stays_ingestion_only(client, acme):
    assert api_key_resolve(raw_key=acme.write_key).scopes == ["write"]
    assert_error(client.get("/api/v1/events", **bearer(acme.write_key)), 403, "forbidden")


def test_a_view_declaring_admin_needs_the_admin_scope(acme):
    class GovernanceThing(TenantApi):
        required_scope = "admin"

        def get(self, request) -> Response:  # noqa: ANN001
            return Response({"ok": True})

    view = GovernanceThing.as_view()
    for scopes, status in [(["read", "write"], 403), (["admin"], 200), (list(SCOPES), 200)]:
        request = APIRequestFactory().get("/api/v1/governance-thing")
        request.api_key = api_key_resolve(raw_key=issue(acme.tenant, scopes))
        response = view(request)
        assert response.status_code == status, scopes
        if status == 403:
            assert response.data["error"]["code"] == "insufficient_scope"
            assert response.data["error"]["details"]["required_scope"] == "admin"


def test_scopes_are_per_method_when_a_view_maps_them(acme):
    class Mixed(TenantApi):
        required_scope = {"post": "read"}

        def get(self, request) -> Response:  # noqa: ANN001
            return Response({})

        def post(self, request) -> Response:  # noqa: ANN001
            return Response({})

        def delete(self, request) -> Response:  # noqa: ANN001
            return Response({})

    view = Mixed.as_view()
    key = api_key_resolve(raw_key=issue(acme.tenant, ["read"]))
    factory = APIRequestFactory()
    for method, status in [("get", 200), ("post", 200), ("delete", 403)]:
        request = getattr(factory, method)("/x")
        request.api_key = key
        assert view(request).status_code == status, method


# --- expiry ------------------------------------------------------------------------------------


def test_a_key_expires_at_its_time_even_while_cached(client, acme):
    expires_at = datetime.now(timezone.utc) + timedelta(hours=1)
    key = issue(acme.tenant, list(SCOPES), expires_at=expires_at)
    assert client.get("/api/v1/tenant", **bearer(key)).status_code == 200  # resolved, now cached
    with time_machine.travel(expires_at - timedelta(seconds=1), tick=False):
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/api/v1/tenant", **bearer(key)).status_code == 200
        assert not [q for q in queries.captured_queries if "tenancy_apikey" in q["sql"]]  # from the cache
    with time_machine.travel(expires_at, tick=False):
        error = assert_error(client.get("/api/v1/tenant", **bearer(key)), 401, "unauthenticated")
        assert "expired" in error["message"]
        assert error["details"]["reason"] == "expired"
        refused = client.post("/v1/track", {"userId": "ann", "event": "Buy", "writeKey": key},
                              content_type="application/json")
        assert "expired" in assert_error(refused, 401, "unauthenticated")["message"]
        assert api_key_resolve(raw_key=key) is None


# --- the platform API --------------------------------------------------------------------------


def test_platform_api_issues_keys_with_scopes_and_expiry(client, acme, platform_headers):
    url = f"/platform/v1/tenants/{acme.slug}/keys"
    expires = (datetime.now(timezone.utc) + timedelta(days=30)).replace(microsecond=0)
    response = client.post(url, {"kind": "secret", "name": "bi", "scopes": ["write", "read"],
                                 "expires_at": expires.isoformat()}, content_type="application/json",
                           **platform_headers)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["scopes"] == ["read", "write"]
    assert datetime.fromisoformat(body["expires_at"]) == expires
    stored = ApiKey.objects.get(prefix=body["prefix"])
    assert stored.scopes == ["read", "write"] and stored.expires_at == expires
    defaults = client.post(url, {"kind": "secret"}, content_type="application/json", **platform_headers).json()
    assert defaults["scopes"] == ["read", "write", "admin"] and defaults["expires_at"] is None
    write = client.post(url, {"kind": "write"}, content_type="application/json", **platform_headers).json()
    assert write["scopes"] == ["write"]
    listed = client.get(url, **platform_headers).json()["results"]
    assert {k["prefix"]: k["scopes"] for k in listed}[body["prefix"]] == ["read", "write"]


@pytest.mark.parametrize("body", [
    {"kind": "secret", "scopes": ["read", "delete"]},
    {"kind": "secret", "scopes": []},
    {"kind": "secret", "scopes": "read"},
    {"kind": "write", "scopes": ["read"]},
    {"kind": "write", "scopes": ["write", "admin"]},
    {"kind": "secret", "expires_at": "2001-01-01T00:00:00Z"},
    {"kind": "secret", "expires_at": "tomorrow"},
])
def test_platform_api_refuses_bad_scopes_and_expiry(client, acme, platform_headers, body):
    before = ApiKey.objects.count()
    response = client.post(f"/platform/v1/tenants/{acme.slug}/keys", body, content_type="application/json",
                           **platform_headers)
    error = assert_error(response, 400, "invalid")
    assert error["details"]
    assert ApiKey.objects.count() == before


# --- the command and the migration -------------------------------------------------------------


def test_create_api_key_command_takes_scopes_and_expiry(acme):
    out = StringIO()
    call_command("create_api_key", acme.slug, "--kind", "secret", "--scopes", "read,write",
                 "--expires-at", "2999-01-01T00:00:00Z", "--json", stdout=out)
    body = json.loads(out.getvalue())
    assert body["scopes"] == ["read", "write"]
    key = api_key_resolve(raw_key=body["key"])
    assert key.scopes == ["read", "write"] and key.expires_at == datetime(2999, 1, 1, tzinfo=timezone.utc)
    out = StringIO()
    call_command("create_api_key", acme.slug, "--kind", "secret", stdout=out)
    assert api_key_resolve(raw_key=out.getvalue().strip()).scopes == ["read", "write", "admin"]
    for args in (["--scopes", "read,root"], ["--expires-at", "2001-01-01T00:00:00Z"], ["--expires-at", "soon"]):
        before = ApiKey.objects.count()
        with pytest.raises(CommandError):
            call_command("create_api_key", acme.slug, "--kind", "secret", *args, stdout=StringIO())
        assert ApiKey.objects.count() == before


def test_the_migration_gives_keys_issued_before_scopes_their_full_rights(acme):
    from django.apps import apps

    migration = importlib.import_module("apps.tenancy.migrations.0004_key_scopes_expiry")
    ApiKey.objects.filter(kind="secret").update(scopes=[])
    assert api_key_resolve(raw_key=acme.secret_key).scopes == []
    migration.existing_keys_keep_their_rights(apps, None)
    assert api_key_resolve(raw_key=acme.secret_key).scopes == ["read", "write", "admin"]
    assert api_key_resolve(raw_key=acme.write_key).scopes == ["write"]

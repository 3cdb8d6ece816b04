"""The SDK against the real server: Django's live server on loopback (the test database, committed
data), reached directly or through a misbehaving proxy."""

from __future__ import annotations

import itertools

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from apps.tenancy.models import Tenant
from apps.tenancy.services import tenant_create
from tests.conftest import TenantHandle
from tests.sdk.proxy import FaultProxy

_slugs = itertools.count()


@pytest.fixture
def sdk_tenant(transactional_db, settings):  # noqa: ANN001, ANN201
    """A tenant whose rows are committed (the live server reads them from its own connection); its
    schema is dropped after."""
    settings.INGEST_RATE_LIMIT_PER_SECOND = 100_000
    handle = TenantHandle(tenant_create(slug=f"sdk-{next(_slugs)}", name="SDK Co", timezone="UTC"))
    Tenant.objects.filter(pk=handle.tenant.pk).update(monthly_event_quota=10**9)
    connection.set_schema_to_public()
    yield handle
    connection.set_schema_to_public()
    with connection.cursor() as cursor:
        cursor.execute(f'DROP SCHEMA IF EXISTS "{handle.tenant.schema_name}" CASCADE')


@pytest.fixture
def host(live_server) -> str:  # noqa: ANN001
    return live_server.url


@pytest.fixture
def proxy(live_server):  # noqa: ANN001, ANN201
    proxy = FaultProxy(live_server.url)
    yield proxy
    proxy.close()


def stored_events(tenant) -> list[tuple[str, str]]:  # noqa: ANN001
    """(event, message_id) of every stored event of the tenant."""
    with schema_context(tenant.schema_name), connection.cursor() as cursor:
        cursor.execute("SELECT event, message_id FROM events ORDER BY message_id")
        return cursor.fetchall()

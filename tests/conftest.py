"""Shared fixtures: tenants made through the real service, API clients, key helpers.

The test database is created by the project's `migrate` (public schema + template schema), so a
tenant made in a test is cloned from the template exactly as in production. Tests using `db` run
inside a transaction that is rolled back, schema DDL included.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest
from django.core.cache import cache
from django.db import connection
from rest_framework.test import APIClient

from apps.metrics.services import _KNOWN_SERIES
from apps.tenancy.services import TenantCreated, tenant_create
from tests.helpers import bearer

_counter = itertools.count()


@dataclass
class TenantHandle:
    created: TenantCreated

    @property
    def tenant(self):  # noqa: ANN201
        return self.created.tenant

    @property
    def slug(self) -> str:
        return self.created.tenant.slug

    @property
    def write_key(self) -> str:
        return self.created.write_key.raw

    @property
    def secret_key(self) -> str:
        return self.created.secret_key.raw


@pytest.fixture
def make_tenant(db):  # noqa: ANN001, ANN201
    def make(slug: str | None = None, **fields) -> TenantHandle:  # noqa: ANN003
        return TenantHandle(tenant_create(slug=slug or f"tenant-{next(_counter)}", **fields))

    yield make
    connection.set_schema_to_public()


@pytest.fixture
def acme(make_tenant) -> TenantHandle:  # noqa: ANN001
    return make_tenant("acme", name="Acme Corp", timezone="America/New_York")


@pytest.fixture
def globex(make_tenant) -> TenantHandle:  # noqa: ANN001
    return make_tenant("globex", name="Globex")


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def platform_headers(settings) -> dict[str, str]:  # noqa: ANN001
    return bearer(settings.PLATFORM_API_TOKEN)


@pytest.fixture(autouse=True)
def _public_schema_between_tests():  # noqa: PT004
    yield
    connection.set_schema_to_public()


@pytest.fixture(autouse=True)
def _empty_cache():  # noqa: PT004
    """Tests reuse schema names (t_acme) while Redis outlives their transactions: start each test with
    an empty cache (the tests' own Redis database, never the running stack's), and with no metric
    series remembered by the write path."""
    cache.clear()
    _KNOWN_SERIES.clear()
    yield

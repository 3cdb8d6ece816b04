"""The backend skips SET search_path only when the connection already has that path."""

from __future__ import annotations

from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext


def current_schema() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        return cursor.fetchone()[0]


def sets(context: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in context.captured_queries if q["sql"].startswith("SET search_path")]


def test_switching_back_to_the_same_schema_issues_no_set(acme):
    connection.set_tenant(acme.tenant)
    assert current_schema() == "t_acme"
    with CaptureQueriesContext(connection) as context:
        connection.set_schema_to_public()
        connection.set_tenant(acme.tenant)
        assert current_schema() == "t_acme"
    assert sets(context) == []


def test_a_different_schema_always_gets_its_set(acme, globex):
    connection.set_tenant(acme.tenant)
    assert current_schema() == "t_acme"
    with CaptureQueriesContext(connection) as context:
        connection.set_tenant(globex.tenant)
        assert current_schema() == "t_globex"
        connection.set_schema_to_public()
        assert current_schema() == "public"
    assert sets(context) == ['SET search_path = "t_globex","public"', 'SET search_path = "public"']


def test_a_rolled_back_set_is_issued_again(acme):
    connection.set_schema_to_public()
    assert current_schema() == "public"
    try:
        with transaction.atomic():
            connection.set_tenant(acme.tenant)
            assert current_schema() == "t_acme"
            raise RuntimeError
    except RuntimeError:
        pass
    # The savepoint rollback reverted the SET: the database is back on public.
    connection.set_tenant(acme.tenant)
    assert current_schema() == "t_acme"


def test_provisioning_a_tenant_leaves_the_connection_where_the_backend_thinks(acme, make_tenant):
    connection.set_tenant(acme.tenant)
    assert current_schema() == "t_acme"
    connection.set_schema_to_public()
    make_tenant("another")  # runs its own SET search_path internally
    connection.set_schema_to_public()
    assert current_schema() == "public"
    connection.set_tenant(acme.tenant)
    assert current_schema() == "t_acme"

"""The BI `sessions` view follows the tenant's session gap: changing it (platform API) makes the
views again, still readable by the tenant's roles, and they cut sessions as the query engine does."""

from __future__ import annotations

from django_tenants.utils import schema_context

from apps.insights.engine import query_run
from tests.governance.test_bi import bi_connect, issue, rows, world  # noqa: F401 - the fixture
from tests.helpers import bearer


def engine_sessions(tenant) -> int:  # noqa: ANN001
    with schema_context(tenant.schema_name):
        answer = query_run(data={"kind": "sessions", "measures": ["sessions"], "date_from": "-30d",
                                 "date_to": "now", "interval": "week", "refresh": True}, tenant=tenant)
    return answer["series"][0]["total"]


def test_the_views_follow_the_gap(world, client, platform_headers):  # noqa: ANN001, F811
    body = issue(client, world.acme_key)
    with bi_connect(body) as conn:
        before = rows(conn, "SELECT count(*) FROM sessions")[0][0]
        ann = "SELECT count(*) FROM sessions s JOIN person_distinct_ids d ON d.person_id = s.person_id " \
              "WHERE d.distinct_id = 'ann'"
        assert rows(conn, ann) == [(3,)]
    assert before == engine_sessions(world.acme)
    response = client.patch("/platform/v1/tenants/bi-acme", {"session_gap_minutes": 120},
                            content_type="application/json", **platform_headers)
    assert response.status_code == 200, response.content
    world.acme.refresh_from_db()
    with bi_connect(body) as conn:  # the views were made again and granted again
        after = rows(conn, "SELECT count(*) FROM sessions")[0][0]
        assert rows(conn, ann) == [(2,)]  # the identify and the first pages are an hour apart: one session now
        assert rows(conn, "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace "
                          "WHERE nspname = 'bi_bi_acme'")[0][0].endswith("session gap 120 minutes")
    assert after == before - 1 == engine_sessions(world.acme)
    # A tenant that never used BI gets no BI schema from a gap change.
    assert client.patch("/platform/v1/tenants/bi-globex", {"session_gap_minutes": 5}, content_type="application/json",
                        **platform_headers).status_code == 200
    assert client.get("/api/v1/bi-credentials", **bearer(world.globex_key)).json()["results"] == []
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_namespace WHERE nspname = 'bi_bi_globex'")
        assert cursor.fetchone() is None

"""Events carry the person they were stored with; merges are read through person_overrides."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

import psycopg
import pytest
from django.db import connection
from django_tenants.utils import schema_context

from apps.events.ingestion import Clock, parse_segment
from apps.events.storage import INSERT_SQL, _params
from apps.insights.engine import query_run
from apps.tenancy.services import tenant_create
from tests.helpers import wait_until


def rows(tenant) -> list[tuple]:  # noqa: ANN001
    with schema_context(tenant.schema_name), connection.cursor() as cursor:
        cursor.execute("SELECT e.distinct_id, e.person_id, COALESCE(po.person_id, e.person_id) FROM events e "
                       "LEFT JOIN person_overrides po ON po.old_person_id = e.person_id ORDER BY e.id")
        return cursor.fetchall()


def test_chained_merges_resolve_to_the_last_person(send, acme):
    send.post("/v1/batch", {"batch": [
        {"type": "track", "anonymousId": "a", "event": "E", "messageId": "1"},
        {"type": "track", "anonymousId": "b", "event": "E", "messageId": "2"},
        {"type": "track", "userId": "c", "event": "E", "messageId": "3"},
    ]})
    stored = rows(acme.tenant)
    assert len({person for _, person, _ in stored}) == 3  # three persons when stored
    send.post("/v1/alias", {"previousId": "a", "userId": "b", "messageId": "4"})
    send.post("/v1/alias", {"previousId": "b", "userId": "c", "messageId": "5"})
    resolved = rows(acme.tenant)
    assert [stored_as for _, stored_as, _ in resolved[:3]] == [p for _, p, _ in stored]  # never rewritten
    assert len({person for _, _, person in resolved}) == 1
    with schema_context(acme.tenant.schema_name), connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT person_id FROM person_overrides")
        final = cursor.fetchall()
        cursor.execute("SELECT person_id FROM person_distinct_ids WHERE distinct_id = 'c'")
        assert final == cursor.fetchall()  # flattened: every override points at c's person
        answer = query_run(data={"kind": "trends", "series": [{"event": "E", "math": "unique_persons"}],
                                 "date_from": "-1d", "date_to": "now"}, tenant=acme.tenant)
    assert answer["series"][0]["total"] == 1


def test_a_deleted_person_leaves_no_overrides(send, client, acme, django_capture_on_commit_callbacks):
    from tests.helpers import bearer

    send.post("/v1/alias", {"previousId": "a", "userId": "b"})
    with schema_context(acme.tenant.schema_name), connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM person_overrides")
        assert cursor.fetchone()[0] == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert client.delete("/api/v1/persons/b", **bearer(acme.secret_key)).status_code == 202
    with schema_context(acme.tenant.schema_name), connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM person_overrides")
        assert cursor.fetchone()[0] == 0


def _waits_on_a_lock(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return row is not None and row[0] == "Lock"


@pytest.mark.django_db(transaction=True)
def test_two_batches_seeing_a_new_id_at_once_store_one_person():
    """Batch A inserts the new id `x` and holds its transaction open; batch B, which also saw no
    `x`, waits on the id, then takes A's person for its own event instead of making another."""
    tenant = tenant_create(slug="race-overrides").tenant
    now = datetime.now(timezone.utc)
    clock = Clock(received_at=now, sent_at=None, retention_days=3650)

    def params(message_id: str) -> dict:
        row = parse_segment({"type": "track", "userId": "x", "event": "E", "messageId": message_id}, clock)
        return _params([row, parse_segment({"type": "track", "userId": f"other-{message_id}", "event": "E",
                                            "messageId": f"{message_id}-2"}, clock)], now)

    dsn = connection.get_connection_params()
    first = psycopg.connect(**{k: v for k, v in dsn.items() if k != "cursor_factory"})
    second = psycopg.connect(**{k: v for k, v in dsn.items() if k != "cursor_factory"}, autocommit=True)
    try:
        for conn in (first, second):
            conn.execute(f'SET search_path = "{tenant.schema_name}", public')
        first.execute(INSERT_SQL, params("a"))  # transaction left open
        done = threading.Event()

        def run_second() -> None:
            second.execute(INSERT_SQL, params("b"))
            done.set()

        second_pid = second.info.backend_pid
        thread = threading.Thread(target=run_second)
        thread.start()
        # B waits for A's id: its backend is seen blocked on a lock while A's transaction is open.
        wait_until(lambda: _waits_on_a_lock(second_pid) or done.is_set(), timeout=10)
        assert not done.is_set(), "batch B finished while batch A still held the new id"
        assert _waits_on_a_lock(second_pid)
        first.commit()
        thread.join(timeout=10)
        assert done.is_set()
    finally:
        first.close()
        second.close()
    with schema_context(tenant.schema_name), connection.cursor() as cursor:
        cursor.execute("SELECT message_id, person_id FROM events WHERE distinct_id = 'x' ORDER BY message_id")
        stored = cursor.fetchall()
        cursor.execute("SELECT person_id FROM person_distinct_ids WHERE distinct_id = 'x'")
        (owner,) = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM persons WHERE id = %s", [owner])
        assert cursor.fetchone()[0] == 1
        cursor.execute("SELECT count(*) FROM persons")
        assert cursor.fetchone()[0] == 3  # x, other-a, other-b
    assert stored == [("a", owner), ("b", owner)]

"""Monthly partitions: made ahead at tenant creation and by upkeep, rows moved out of the default
partition, partitions past retention dropped."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from django.db import connection
from django_tenants.utils import schema_context

from apps.events import partitions
from apps.events.tasks import events_upkeep_all
from tests.events.conftest import stored_events


def count(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")
        return cursor.fetchone()[0]


def month_name(moment: datetime) -> str:
    return f"events_p{moment:%Y_%m}"


def test_a_new_tenant_has_this_month_and_the_next_three(acme):
    now = datetime.now(timezone.utc)
    with schema_context(acme.tenant.schema_name):
        names = partitions.partitions_list()
    expected = []
    month = partitions.month_of(now)
    for _ in range(4):
        expected.append(month.name)
        month = month.next()
    assert names == sorted([*expected, "events_default"])


def test_events_land_in_their_month(send, acme):
    now = datetime.now(timezone.utc)
    send.post("/v1/track", {"userId": "u", "event": "e", "timestamp": now.isoformat()})
    with schema_context(acme.tenant.schema_name):
        assert count(month_name(now)) == 1
        assert count("events_default") == 0


def test_late_events_move_from_default_into_a_new_partition(send, acme):
    old = datetime.now(timezone.utc) - timedelta(days=70)
    send.post("/v1/batch", {"batch": [{"type": "track", "userId": "u", "event": f"e{i}",
                                       "timestamp": old.isoformat()} for i in range(3)]})
    with schema_context(acme.tenant.schema_name):
        assert count("events_default") == 3
        made = partitions.partitions_ensure()
        assert month_name(old) in made
        assert count("events_default") == 0
        assert count(month_name(old)) == 3
    assert len(stored_events(acme.tenant)) == 3


def test_a_backfill_gets_its_months_before_loading(acme):
    now = datetime(2026, 11, 23, tzinfo=timezone.utc)
    with schema_context(acme.tenant.schema_name):
        made = partitions.partitions_ensure(now=now, ahead=1, since=datetime(2026, 8, 15, tzinfo=timezone.utc))
        assert {"events_p2026_08", "events_p2026_09", "events_p2026_10"} <= set(made)
        assert {"events_p2026_08", "events_p2026_09", "events_p2026_10", "events_p2026_11", "events_p2026_12"} <= set(
            partitions.partitions_list())
        assert "events_p2026_07" not in partitions.partitions_list()


def test_upkeep_drops_partitions_past_retention_and_expired_rows(make_tenant):
    handle = make_tenant("short", retention_days=40)
    now = datetime.now(timezone.utc)
    with schema_context(handle.tenant.schema_name), connection.cursor() as cursor:
        old_month = partitions.month_of(now - timedelta(days=100))
        cursor.execute(f"CREATE TABLE {old_month.name} PARTITION OF events FOR VALUES FROM (%s) TO (%s)",
                       [old_month.start, old_month.end])
        cursor.execute(
            "INSERT INTO events (\"timestamp\", received_at, event_type, event, distinct_id, person_id, message_id) "
            "VALUES (%s, now(), 'track', 'old', 'u', 1, 'm-old')", [now - timedelta(days=100)])
        cursor.execute("INSERT INTO event_message_ids VALUES ('ancient', %s), ('recent', now())",
                       [now - timedelta(days=31)])
        dropped = partitions.partitions_drop_expired(retention_days=40)
        assert dropped == [old_month.name]
        assert old_month.name not in partitions.partitions_list()
        cursor.execute("SELECT message_id FROM event_message_ids")
        assert [row[0] for row in cursor.fetchall()] == ["recent"]


def test_upkeep_task_fans_out_to_every_tenant_in_its_schema(acme, globex):
    with schema_context(acme.tenant.schema_name), connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {partitions.month_of(datetime.now(timezone.utc)).next().name}")
    connection.set_schema_to_public()
    assert events_upkeep_all.delay().get() == 2
    with schema_context(acme.tenant.schema_name):
        assert partitions.month_of(datetime.now(timezone.utc)).next().name in partitions.partitions_list()

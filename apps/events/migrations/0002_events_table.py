"""The events table: range-partitioned by month on `timestamp`, with a default partition so no
timestamp is ever refused. Monthly partitions are made ahead (and dropped past retention) by
`apps.events.partitions`. BRIN on time; btree only where queries need it (by event name and by
distinct id, both with time). `event_message_ids` remembers accepted message ids so a retried
batch is stored once."""

from django.db import migrations

CREATE = """
CREATE SEQUENCE events_id_seq;
CREATE TABLE events (
    id bigint NOT NULL DEFAULT nextval('events_id_seq'),
    "timestamp" timestamptz NOT NULL,
    received_at timestamptz NOT NULL,
    event_type text NOT NULL,
    event text NOT NULL,
    distinct_id text NOT NULL,
    user_id text,
    anonymous_id text,
    session_id text,
    message_id text NOT NULL,
    properties jsonb NOT NULL DEFAULT '{}'::jsonb,
    context jsonb NOT NULL DEFAULT '{}'::jsonb
) PARTITION BY RANGE ("timestamp");
ALTER SEQUENCE events_id_seq OWNED BY events.id;
CREATE TABLE events_default PARTITION OF events DEFAULT;
CREATE INDEX events_timestamp_brin ON events USING brin ("timestamp");
CREATE INDEX events_event_timestamp ON events (event, "timestamp");
CREATE INDEX events_distinct_id_timestamp ON events (distinct_id, "timestamp");

CREATE TABLE event_message_ids (
    message_id text PRIMARY KEY,
    received_at timestamptz NOT NULL
);
CREATE INDEX event_message_ids_received_at_brin ON event_message_ids USING brin (received_at);
"""

DROP = """
DROP TABLE IF EXISTS event_message_ids;
DROP TABLE IF EXISTS events;
DROP SEQUENCE IF EXISTS events_id_seq;
"""


class Migration(migrations.Migration):
    dependencies = [("events", "0001_initial")]

    operations = [migrations.RunSQL(CREATE, DROP)]

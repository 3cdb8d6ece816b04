"""Each event carries the person its distinct id belonged to when it was stored (`person_id`),
and `person_overrides` records merges: a merged-away person -> the person it became. The person
of an event is then COALESCE(override, person_id): a join with a small table on an integer
instead of a join of every event with `person_distinct_ids` on text. The (event, timestamp) index
carries person_id and id, so trends, funnels and retention read persons from the index alone."""

from django.db import migrations

FORWARD = """
ALTER TABLE events ADD COLUMN person_id bigint;
-- Existing rows: persons for any distinct id that has none, then the owner of each event's id.
INSERT INTO person_distinct_ids (distinct_id, person_id, created_at)
SELECT d, nextval(pg_get_serial_sequence('persons', 'id')), now()
FROM (SELECT DISTINCT distinct_id AS d FROM events) ids
WHERE NOT EXISTS (SELECT 1 FROM person_distinct_ids p WHERE p.distinct_id = ids.d);
INSERT INTO persons (id, traits, created_at, updated_at)
SELECT pdi.person_id, '{}'::jsonb, now(), now() FROM person_distinct_ids pdi
WHERE NOT EXISTS (SELECT 1 FROM persons p WHERE p.id = pdi.person_id);
UPDATE events e SET person_id = pdi.person_id FROM person_distinct_ids pdi WHERE pdi.distinct_id = e.distinct_id;
ALTER TABLE events ALTER COLUMN person_id SET NOT NULL;

CREATE TABLE person_overrides (
    old_person_id bigint PRIMARY KEY,
    person_id bigint NOT NULL
);
CREATE INDEX person_overrides_person_id ON person_overrides (person_id);

DROP INDEX events_event_timestamp;
CREATE INDEX events_event_timestamp ON events (event, "timestamp") INCLUDE (person_id, id);
"""

BACKWARD = """
DROP INDEX events_event_timestamp;
CREATE INDEX events_event_timestamp ON events (event, "timestamp") INCLUDE (distinct_id, id);
DROP TABLE person_overrides;
ALTER TABLE events DROP COLUMN person_id;
"""


class Migration(migrations.Migration):
    dependencies = [("events", "0003_covering_event_index")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]

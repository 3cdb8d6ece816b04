"""The (event, timestamp) index also carries distinct_id and id, so trends, funnels and retention
read persons and row order from the index alone (index-only scans) instead of visiting every heap
page that holds one of the event's rows."""

from django.db import migrations

FORWARD = """
DROP INDEX events_event_timestamp;
CREATE INDEX events_event_timestamp ON events (event, "timestamp") INCLUDE (distinct_id, id);
"""

BACKWARD = """
DROP INDEX events_event_timestamp;
CREATE INDEX events_event_timestamp ON events (event, "timestamp");
"""


class Migration(migrations.Migration):
    dependencies = [("events", "0002_events_table")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]

"""Series: every value carries the id of its set of dimensions (apps/metrics/ingestion.series_of),
listed in `metric_series`. Rollups are keyed by series instead of the dimensions' JSON, and their
sketch is one bytea of (code, count) pairs (apps/metrics/sketch.py): the roll-up reads values and
writes rollups in fixed-width binary, without JSON (apps/metrics/queries/rollup.py).

The values' index now covers what the roll-up reads (id and series), so it reads values by
index-only scans. Existing values get their series here; rollups are rebuilt by queueing every
minute that holds values."""

import json

import msgspec
from django.db import migrations

from apps.metrics.ingestion import series_of

BEFORE = """
CREATE TABLE metric_series (
    metric_id bigint NOT NULL,
    series bigint NOT NULL,
    dimensions jsonb NOT NULL,
    PRIMARY KEY (metric_id, series)
);
ALTER TABLE metric_values ADD COLUMN series bigint;
"""

AFTER = """
ALTER TABLE metric_values ALTER COLUMN series SET NOT NULL;
DROP INDEX metric_values_metric_timestamp;
CREATE INDEX metric_values_metric_timestamp ON metric_values (metric_id, "timestamp") INCLUDE (value, id, series);
DROP TABLE metric_rollups;
CREATE TABLE metric_rollups (
    metric_id bigint NOT NULL,
    granularity smallint NOT NULL CHECK (granularity IN (1, 60, 1440)),  -- minutes per bucket
    bucket timestamptz NOT NULL,
    series bigint NOT NULL,  -- 0: over all values
    count bigint NOT NULL,
    sum double precision NOT NULL,
    min double precision NOT NULL,
    max double precision NOT NULL,
    last_ts timestamptz NOT NULL,
    last_id bigint NOT NULL,
    last_value double precision NOT NULL,
    sketch bytea NOT NULL,
    PRIMARY KEY (metric_id, granularity, bucket, series)
);
CREATE INDEX metric_rollups_all ON metric_rollups (metric_id, granularity, bucket) WHERE series = 0;
DELETE FROM metric_dirty;
INSERT INTO metric_dirty (metric_id, minute)
SELECT DISTINCT metric_id, date_trunc('minute', "timestamp") FROM metric_values;
"""


def backfill(apps, schema_editor) -> None:  # noqa: ANN001
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT metric_id, dimensions::text FROM metric_values")
        for metric_id, text in cursor.fetchall():
            encoded = msgspec.json.encode(json.loads(text), order="sorted")
            series = series_of(encoded)
            cursor.execute("INSERT INTO metric_series VALUES (%s, %s, %s::jsonb) ON CONFLICT DO NOTHING",
                           [metric_id, series, encoded.decode()])
            cursor.execute("UPDATE metric_values SET series = %s WHERE metric_id = %s AND dimensions = %s::jsonb",
                           [series, metric_id, text])


class Migration(migrations.Migration):
    dependencies = [("metrics", "0004_rollups_all_index")]

    operations = [
        migrations.RunSQL(BEFORE),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.RunSQL(AFTER),
    ]

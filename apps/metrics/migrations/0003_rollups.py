"""Rollups of metric values per minute, hour and day (UTC), per metric and dimension set, and the
queue of minutes whose values changed since they were rolled up.

A rollup row holds count, sum, min, max, the last value (with its timestamp and id, to merge "last"
exactly) and a log-bucket sketch of the values (positive and negative keys with their counts, and
the zeros), mergeable by adding counts per key (apps/metrics/sketch.py)."""

from django.db import migrations

CREATE = """
CREATE TABLE metric_rollups (
    metric_id bigint NOT NULL,
    granularity text NOT NULL CHECK (granularity IN ('minute', 'hour', 'day')),
    bucket timestamptz NOT NULL,
    dimensions jsonb NOT NULL,
    count bigint NOT NULL,
    sum double precision NOT NULL,
    min double precision NOT NULL,
    max double precision NOT NULL,
    last_ts timestamptz NOT NULL,
    last_id bigint NOT NULL,
    last_value double precision NOT NULL,
    pos_keys integer[] NOT NULL,
    pos_counts bigint[] NOT NULL,
    neg_keys integer[] NOT NULL,
    neg_counts bigint[] NOT NULL,
    zeros bigint NOT NULL,
    PRIMARY KEY (metric_id, granularity, bucket, dimensions)
);
-- One row per (metric, minute) a write touched; the roll-up deletes the rows it has seen.
CREATE TABLE metric_dirty (
    id bigserial PRIMARY KEY,
    metric_id bigint NOT NULL,
    minute timestamptz NOT NULL
);
CREATE INDEX metric_dirty_metric_minute ON metric_dirty (metric_id, minute);
"""

DROP = """
DROP TABLE IF EXISTS metric_dirty;
DROP TABLE IF EXISTS metric_rollups;
"""


class Migration(migrations.Migration):
    dependencies = [("metrics", "0002_metric_values")]

    operations = [migrations.RunSQL(CREATE, DROP)]

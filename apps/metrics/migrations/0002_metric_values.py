"""The values table: range-partitioned by month on `timestamp` like events, with a default
partition so no timestamp is ever refused. One btree serves every aggregation: a metric's values
in a time range, with the value itself in the index."""

from django.db import migrations

CREATE = """
CREATE SEQUENCE metric_values_id_seq;
CREATE TABLE metric_values (
    id bigint NOT NULL DEFAULT nextval('metric_values_id_seq'),
    metric_id bigint NOT NULL,
    "timestamp" timestamptz NOT NULL,
    value double precision NOT NULL,
    dimensions jsonb NOT NULL DEFAULT '{}'::jsonb,
    received_at timestamptz NOT NULL
) PARTITION BY RANGE ("timestamp");
ALTER SEQUENCE metric_values_id_seq OWNED BY metric_values.id;
CREATE TABLE metric_values_default PARTITION OF metric_values DEFAULT;
CREATE INDEX metric_values_metric_timestamp ON metric_values (metric_id, "timestamp") INCLUDE (value);
"""

DROP = """
DROP TABLE IF EXISTS metric_values;
DROP SEQUENCE IF EXISTS metric_values_id_seq;
"""


class Migration(migrations.Migration):
    dependencies = [("metrics", "0001_initial")]

    operations = [migrations.RunSQL(CREATE, DROP)]

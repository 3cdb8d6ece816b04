"""The rows over all values (dimensions = "*") by bucket: an aggregation without group_by or
filters reads only those, without stepping over every dimension set's rows."""

from django.db import migrations

CREATE = """
CREATE INDEX metric_rollups_all ON metric_rollups (metric_id, granularity, bucket) WHERE dimensions = '"*"'::jsonb;
"""


class Migration(migrations.Migration):
    dependencies = [("metrics", "0003_rollups")]

    operations = [migrations.RunSQL(CREATE, "DROP INDEX metric_rollups_all;")]

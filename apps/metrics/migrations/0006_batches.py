"""Batches of values already stored, by the id their sender gave them: a retried batch (its answer
lost to a timeout) is answered again instead of stored twice. Kept for a week."""

from django.db import migrations

CREATE = """
CREATE TABLE metric_batches (
    batch_id text PRIMARY KEY,
    accepted integer NOT NULL,
    rejected jsonb NOT NULL,
    received_at timestamptz NOT NULL
);
CREATE INDEX metric_batches_received_at ON metric_batches (received_at);
"""


class Migration(migrations.Migration):
    dependencies = [("metrics", "0005_series")]

    operations = [migrations.RunSQL(CREATE, "DROP TABLE metric_batches;")]

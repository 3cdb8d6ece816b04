import django.db.models.deletion
from django.db import migrations, models

MEMBERS = """
CREATE TABLE segment_members (
    segment_id bigint NOT NULL REFERENCES segments (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    person_id bigint NOT NULL,
    PRIMARY KEY (segment_id, person_id)
);
"""


class Migration(migrations.Migration):
    initial = True
    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Segment",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=100, unique=True)),
                ("display_name", models.CharField(blank=True, max_length=200)),
                ("description", models.TextField(blank=True)),
                ("entity_type", models.CharField(choices=[("person", "Person")], default="person", max_length=20)),
                ("rules", models.JSONField(default=dict)),
                ("next_rule_id", models.IntegerField(default=1)),
                ("size", models.BigIntegerField(blank=True, null=True)),
                ("refreshed_at", models.DateTimeField(blank=True, null=True)),
                ("refresh_error", models.TextField(blank=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            options={"db_table": "segments", "ordering": ["name"]},
        ),
        migrations.CreateModel(
            name="SegmentSize",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("computed_at", models.DateTimeField()),
                ("size", models.BigIntegerField()),
                ("duration_ms", models.IntegerField()),
                ("segment", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="sizes",
                                              to="segments.segment")),
            ],
            options={"db_table": "segment_sizes", "ordering": ["-computed_at"],
                     "indexes": [models.Index(fields=["segment", "computed_at"], name="segment_siz_segment_508789_idx")]},
        ),
        migrations.RunSQL(MEMBERS, "DROP TABLE segment_members;"),
    ]

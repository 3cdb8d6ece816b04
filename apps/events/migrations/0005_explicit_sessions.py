from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("events", "0004_person_on_events"),
    ]

    operations = [
        migrations.CreateModel(
            name="ExplicitSession",
            fields=[
                ("id", models.CharField(max_length=40, primary_key=True, serialize=False)),
                ("distinct_id", models.TextField()),
                ("user_id", models.TextField(blank=True, null=True)),
                ("anonymous_id", models.TextField(blank=True, null=True)),
                ("ip_address", models.GenericIPAddressField(blank=True, null=True)),
                ("started_at", models.DateTimeField()),
                ("ended_at", models.DateTimeField(blank=True, null=True)),
            ],
            options={"db_table": "explicit_sessions", "ordering": ["-started_at"]},
        ),
    ]

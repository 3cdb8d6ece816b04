import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("tenancy", "0004_key_scopes_expiry"),
    ]

    operations = [
        migrations.AddField(
            model_name="tenant",
            name="session_gap_minutes",
            field=models.PositiveIntegerField(
                default=30,
                help_text="Minutes of inactivity after which a person's next event starts a new session (1-1440).",
                validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(1440)],
            ),
        ),
    ]

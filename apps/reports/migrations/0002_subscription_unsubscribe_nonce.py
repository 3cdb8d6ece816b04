"""Each subscription gets its own random unsubscribe nonce: added empty, drawn per existing row (a
default would give every row the same one), then required."""

from django.db import migrations, models

from apps.reports.models import unsubscribe_nonce


def draw_nonces(registry, schema_editor):  # noqa: ANN001, ANN201
    Subscription = registry.get_model("reports", "Subscription")
    for subscription in Subscription.objects.filter(unsubscribe_nonce="").only("pk"):
        subscription.unsubscribe_nonce = unsubscribe_nonce()
        subscription.save(update_fields=["unsubscribe_nonce"])


class Migration(migrations.Migration):

    dependencies = [
        ('reports', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='subscription',
            name='unsubscribe_nonce',
            field=models.CharField(default='', editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.RunPython(draw_nonces, migrations.RunPython.noop),
        migrations.AlterField(
            model_name='subscription',
            name='unsubscribe_nonce',
            field=models.CharField(default=unsubscribe_nonce, editable=False, max_length=64),
        ),
    ]

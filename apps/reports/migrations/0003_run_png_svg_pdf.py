"""A run's charts as PNG and SVG (each a ZIP of one file per chart) and the whole report as PDF."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('reports', '0002_subscription_unsubscribe_nonce'),
    ]

    operations = [
        migrations.AddField(model_name='reportrun', name='png', field=models.BinaryField(blank=True, null=True)),
        migrations.AddField(model_name='reportrun', name='svg', field=models.BinaryField(blank=True, null=True)),
        migrations.AddField(model_name='reportrun', name='pdf', field=models.BinaryField(blank=True, null=True)),
    ]

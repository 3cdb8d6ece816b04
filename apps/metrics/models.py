"""Metric definitions and their recorded values (DESIGN §6)."""

from __future__ import annotations

from django.db import models


class Metric(models.Model):
    """A named series of numbers. `dimensions` lists the dimension names values may carry; the type
    decides what a value means: a counter's value is an increment (never negative), a gauge's a
    level, a histogram's one observation."""

    class Type(models.TextChoices):
        COUNTER = "counter"
        GAUGE = "gauge"
        HISTOGRAM = "histogram"

    name = models.CharField(max_length=100, unique=True)
    display_name = models.CharField(max_length=200, blank=True)
    metric_type = models.CharField(max_length=20, choices=Type.choices)
    unit = models.CharField(max_length=50, blank=True)
    description = models.TextField(blank=True)
    dimensions = models.JSONField(default=list, blank=True)
    tags = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "metrics"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class MetricValue(models.Model):
    """Read-only view of the partitioned `metric_values` table (see migrations/0002)."""

    id = models.BigIntegerField(primary_key=True)
    metric_id = models.BigIntegerField()
    timestamp = models.DateTimeField()
    value = models.FloatField()
    dimensions = models.JSONField()
    received_at = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "metric_values"
        ordering = ["-timestamp", "-id"]

    def __str__(self) -> str:
        return f"{self.value} @ {self.timestamp:%Y-%m-%d %H:%M:%S}"

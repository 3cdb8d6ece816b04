"""Segments (DESIGN §7): a rule tree, its materialised members (`segment_members`, written by
services.segment_refresh) and the history of its size."""

from __future__ import annotations

from django.db import models


class Segment(models.Model):
    class EntityType(models.TextChoices):
        PERSON = "person"

    # The key queries filter by (`"segment": "<name>"`).
    name = models.CharField(max_length=100, unique=True)
    display_name = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    entity_type = models.CharField(max_length=20, choices=EntityType.choices, default=EntityType.PERSON)
    rules = models.JSONField(default=dict)
    next_rule_id = models.IntegerField(default=1)
    size = models.BigIntegerField(null=True, blank=True)
    refreshed_at = models.DateTimeField(null=True, blank=True)
    # Empty after a refresh that succeeded; otherwise why the last one failed (members are kept).
    refresh_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "segments"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SegmentSize(models.Model):
    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="sizes")
    computed_at = models.DateTimeField()
    size = models.BigIntegerField()
    duration_ms = models.IntegerField()

    class Meta:
        db_table = "segment_sizes"
        indexes = [models.Index(fields=["segment", "computed_at"])]
        ordering = ["-computed_at"]

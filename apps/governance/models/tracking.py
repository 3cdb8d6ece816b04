"""The tracking plan (tenant schema): which events a tenant expects, with which properties, and what
happens to an event that breaks the plan (docs/governance.md, "Tracking plan").

- `TrackingPlan`: one row per tenant: the mode (`allow`, `warn`, `block`) and settings, and a
  version bumped on every change of the plan (the ingestion path caches the compiled plan per
  process and reloads it when the version moves; see apps.governance.tracking.plan).
- `EventDefinition` / `PropertyDefinition`: the planned events and their properties.
- `TrackingViolationCount` / `TrackingViolationSample`: violations counted per day, event and kind,
  and the last few offending events per event and kind (trimmed).
"""

from __future__ import annotations

from django.db import models


class TrackingPlan(models.Model):
    class Mode(models.TextChoices):
        ALLOW = "allow", "allow: store and record violations"
        WARN = "warn", "warn: store, record and answer warnings"
        BLOCK = "block", "block: reject offending events"

    # One row (pk 1): the plan of this tenant.
    enabled = models.BooleanField(default=True, help_text="Check events against the plan (once it defines an event).")
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.ALLOW)
    flag_unplanned_properties = models.BooleanField(
        default=False, help_text="A property an event's definition does not list is a violation.")
    version = models.BigIntegerField(default=1, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "tracking_plan"
        verbose_name = "tracking plan"

    def __str__(self) -> str:
        return f"Tracking plan ({self.mode}{'' if self.enabled else ', disabled'})"


class EventDefinition(models.Model):
    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "tracking_event_definitions"
        ordering = ["name"]
        verbose_name = "planned event"

    def __str__(self) -> str:
        return self.name


class PropertyDefinition(models.Model):
    class Type(models.TextChoices):
        STRING = "string"
        NUMBER = "number"
        INTEGER = "integer"
        BOOLEAN = "boolean"
        DATETIME = "datetime"
        OBJECT = "object"
        ARRAY = "array"

    event = models.ForeignKey(EventDefinition, on_delete=models.CASCADE, related_name="properties")
    name = models.CharField(max_length=200)
    type = models.CharField(max_length=10, choices=Type.choices)
    required = models.BooleanField(default=False)
    description = models.TextField(blank=True)
    # None: any value of the type; else the list of values allowed (string, number, integer, boolean).
    allowed_values = models.JSONField(null=True, blank=True)

    class Meta:
        db_table = "tracking_property_definitions"
        ordering = ["event_id", "name"]
        constraints = [models.UniqueConstraint(fields=["event", "name"], name="tracking_property_unique_name")]
        verbose_name = "planned property"

    def __str__(self) -> str:
        return f"{self.event.name}.{self.name}" if self.event_id else self.name


class ViolationKind(models.TextChoices):
    UNPLANNED_EVENT = "unplanned_event"
    MISSING_PROPERTY = "missing_property"
    WRONG_TYPE = "wrong_type"
    VALUE_NOT_ALLOWED = "value_not_allowed"
    UNPLANNED_PROPERTY = "unplanned_property"


class TrackingViolationCount(models.Model):
    """Violations of one kind by events of one name on one day (UTC). Written by aggregated upserts
    (apps.governance.tracking.violations), never one write per event."""

    day = models.DateField()
    event = models.CharField(max_length=200)
    kind = models.CharField(max_length=30, choices=ViolationKind.choices)
    count = models.BigIntegerField(default=0)

    class Meta:
        db_table = "tracking_violation_counts"
        ordering = ["-day", "event", "kind"]
        constraints = [models.UniqueConstraint(fields=["day", "event", "kind"], name="tracking_violation_count_key")]
        indexes = [models.Index(fields=["event", "kind", "day"])]
        verbose_name = "tracking plan violation count"

    def __str__(self) -> str:
        return f"{self.day} {self.event} {self.kind}: {self.count}"


class TrackingViolationSample(models.Model):
    """One offending event, trimmed; the last TRACKING_PLAN_SAMPLES of each (event, kind) are kept."""

    event = models.CharField(max_length=200)
    kind = models.CharField(max_length=30, choices=ViolationKind.choices)
    message = models.TextField()
    received_at = models.DateTimeField()
    payload = models.JSONField(default=dict)

    class Meta:
        db_table = "tracking_violation_samples"
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["event", "kind", "-received_at"])]
        verbose_name = "tracking plan violation sample"

    def __str__(self) -> str:
        return f"{self.event} {self.kind}: {self.message}"

"""Persons (identity) as Django models; the events table itself is created by SQL (it is
range-partitioned by month, which the ORM cannot declare) and mapped here read-only for the admin."""

from __future__ import annotations

from django.db import models


class Person(models.Model):
    """A person: one or more distinct ids merged by identify/alias. Traits merge on identify."""

    id = models.BigAutoField(primary_key=True)
    traits = models.JSONField(default=dict)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "persons"
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"person {self.pk}"


class PersonDistinctId(models.Model):
    """distinct_id -> person. A distinct id seen in an event gets a person of its own at once;
    a merge repoints the merged ids. No foreign key: merges repoint rows in bulk, and a person's
    deletion removes its ids explicitly."""

    distinct_id = models.TextField(primary_key=True)
    person_id = models.BigIntegerField(db_index=True)
    created_at = models.DateTimeField()

    class Meta:
        db_table = "person_distinct_ids"

    def __str__(self) -> str:
        return self.distinct_id


class Event(models.Model):
    """Read-only view of the partitioned `events` table (see migrations/0001_initial.py)."""

    id = models.BigIntegerField(primary_key=True)
    timestamp = models.DateTimeField()
    received_at = models.DateTimeField()
    event_type = models.TextField()
    event = models.TextField()
    distinct_id = models.TextField()
    # The person owning distinct_id when the event was stored; see person_overrides for merges.
    person_id = models.BigIntegerField()
    user_id = models.TextField(null=True)
    anonymous_id = models.TextField(null=True)
    session_id = models.TextField(null=True)
    message_id = models.TextField()
    properties = models.JSONField()
    context = models.JSONField()

    class Meta:
        managed = False
        db_table = "events"
        ordering = ["-timestamp", "-id"]

    def __str__(self) -> str:
        return f"{self.event} @ {self.timestamp:%Y-%m-%d %H:%M:%S}"


class PrivacyJob(models.Model):
    """A tracked deletion of a person and all their events."""

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    distinct_id = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    requested_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    distinct_ids = models.JSONField(default=list)
    events_deleted = models.BigIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        db_table = "privacy_jobs"
        ordering = ["-id"]


class ExplicitSession(models.Model):
    """A session a client opened with `POST /api/v1/sessions/start` (and may close with
    `.../{id}/end`). Its start and end are also events (`$session_start`, `$session_end`) carrying
    its id as their session id, so every query sees it as one session."""

    id = models.CharField(primary_key=True, max_length=40)
    distinct_id = models.TextField()
    user_id = models.TextField(null=True, blank=True)
    anonymous_id = models.TextField(null=True, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "explicit_sessions"
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return self.id


# --- definitions: what the tenant sends (apps.events.definitions keeps them) -----------------------


class EventDefinition(models.Model):
    """An event name the tenant has sent: how many events (volume), when first and last seen (event
    times, never later than their receipt). Counted at ingestion and folded in by a beat task; only
    the description is anyone's to write. Not the tracking plan's "planned event"
    (apps.governance), which says what should be sent."""

    name = models.TextField(unique=True)
    volume = models.BigIntegerField(default=0)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    description = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField(null=True, blank=True, help_text="When the description last changed.")

    class Meta:
        db_table = "event_definitions"
        ordering = ["-volume", "name"]
        verbose_name = "event definition"
        verbose_name_plural = "event definitions"

    def __str__(self) -> str:
        return self.name


class PropertyDefinition(models.Model):
    """A top-level property key the tenant has sent: on events (`event`) or as a person's trait
    (`person`, from identify traits and PostHog's $set / $set_once), with the JSON types observed."""

    class Kind(models.TextChoices):
        EVENT = "event"
        PERSON = "person"

    kind = models.CharField(max_length=6, choices=Kind.choices)
    key = models.TextField()
    types = models.JSONField(default=list, help_text="Types observed: string, number, boolean, datetime (an ISO "
                                                     "8601 string), object, array, null.")
    volume = models.BigIntegerField(default=0)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    description = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField(null=True, blank=True, help_text="When the description last changed.")

    class Meta:
        db_table = "property_definitions"
        ordering = ["-volume", "kind", "key"]
        verbose_name = "property definition"
        verbose_name_plural = "property definitions"
        constraints = [models.UniqueConstraint(fields=["kind", "key"], name="property_definitions_kind_key")]

    def __str__(self) -> str:
        return f"{self.key} ({self.kind})"


class EventPropertyKey(models.Model):
    """Which property keys an event carries (by name: definitions are never deleted, so no foreign
    key is needed to keep them together), for the explorer's pickers."""

    event = models.TextField()
    key = models.TextField()
    volume = models.BigIntegerField(default=0)
    last_seen = models.DateTimeField()

    class Meta:
        db_table = "event_property_keys"
        ordering = ["event", "-volume", "key"]
        verbose_name = "event property key"
        constraints = [models.UniqueConstraint(fields=["event", "key"], name="event_property_keys_event_key")]

    def __str__(self) -> str:
        return f"{self.event}: {self.key}"


class DefinitionsFlush(models.Model):
    """A fold of pending counts from Redis into the definitions, by its id: written in the same
    transaction as the counts, so a fold interrupted after its commit is never applied twice."""

    id = models.CharField(primary_key=True, max_length=32)
    flushed_at = models.DateTimeField()

    class Meta:
        db_table = "definitions_flushes"
        verbose_name = "definitions flush"

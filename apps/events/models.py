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

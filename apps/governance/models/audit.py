"""The audit log: one row per change made through the API, the console or a command.

Append-only in the database (migrations/0003_audit_log.py): a trigger refuses UPDATE and TRUNCATE,
and DELETE of any row the retention purge (apps.governance.audit.audit_log_purge) did not ask for.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class AuditEntry(models.Model):
    class ActorType(models.TextChoices):
        USER = "user", "Console user"
        API_KEY = "api_key", "API key"
        COMMAND = "command", "Management command"
        PLATFORM = "platform", "Platform operator"
        SYSTEM = "system", "Worker or beat"
        UNKNOWN = "unknown", "Unknown"

    # Set explicitly (never auto_now_add) so the append-only trigger's retention test reads the
    # time the row was written, and tests can write rows that are already old.
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.CharField(max_length=200)
    actor_type = models.CharField(max_length=20, choices=ActorType.choices)
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=200, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    # {field: [old, new]}; secrets are masked before they get here (apps.governance.audit).
    changes = models.JSONField(default=dict, blank=True)
    source_address = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        db_table = "audit_log"
        ordering = ["-id"]
        verbose_name = "audit log entry"
        verbose_name_plural = "audit log"
        indexes = [
            models.Index(fields=["object_type", "object_id"], name="audit_log_object"),
            models.Index(fields=["actor"], name="audit_log_actor"),
            models.Index(fields=["action"], name="audit_log_action"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.object_type} {self.object_id}"

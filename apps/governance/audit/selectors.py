"""Reads of the audit log, for the API and the console."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from apps.governance.models import AuditEntry


def audit_entry_list(*, actor: str | None = None, action: str | None = None, object_type: str | None = None,
                     object_id: str | None = None, date_from: datetime | None = None,
                     date_to: datetime | None = None) -> QuerySet[AuditEntry]:
    """The current tenant's entries matching every given filter; [date_from, date_to) half-open."""
    entries = AuditEntry.objects.all()
    if actor is not None:
        entries = entries.filter(actor=actor)
    if action is not None:
        entries = entries.filter(action=action)
    if object_type is not None:
        entries = entries.filter(object_type=object_type)
    if object_id is not None:
        entries = entries.filter(object_id=object_id)
    if date_from is not None:
        entries = entries.filter(created_at__gte=date_from)
    if date_to is not None:
        entries = entries.filter(created_at__lt=date_to)
    return entries

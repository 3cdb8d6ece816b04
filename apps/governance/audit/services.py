"""Writes of the audit log: one entry per change, and the retention purge (the only delete the
table's trigger lets through; see migrations/0003_audit_log.py and docs/governance.md)."""

from __future__ import annotations

import json
import re
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django_tenants.utils import get_public_schema_name, schema_context

from apps.governance.audit.context import Actor, actor_current
from apps.governance.models import AuditEntry

MASK = "[masked]"
# Field and key names whose values are never written to the audit log, only that they changed.
SECRET_NAME = re.compile(r"password|passwd|secret|token|hash|nonce|credential|private|api_key|salt", re.IGNORECASE)
_MAX_TEXT = 1000
# Set (transaction-local) by audit_log_purge only; read by the table's trigger.
PURGE_SETTING = "governance.audit_purge_days"
# The trigger's floor as well: no setting can make it delete younger entries.
MINIMUM_RETENTION_DAYS = 30


def _jsonable(value: Any) -> Any:
    value = json.loads(json.dumps(value, cls=DjangoJSONEncoder, default=str))
    if isinstance(value, str) and len(value) > _MAX_TEXT:
        return value[:_MAX_TEXT] + "…"
    return value


def changes_masked(changes: Any) -> Any:
    """`changes` as JSON, with the value of every secret-looking key (at any depth) masked."""
    if isinstance(changes, dict):
        return {str(key): (_masked_pair(value) if SECRET_NAME.search(str(key)) else changes_masked(value))
                for key, value in changes.items()}
    if isinstance(changes, (list, tuple)):
        return [changes_masked(item) for item in changes]
    return _jsonable(changes)


def _masked_pair(value: Any) -> Any:
    if isinstance(value, (list, tuple)) and len(value) == 2:  # [old, new]: show which side was set
        return [MASK if item not in (None, "") else item for item in value]
    return MASK if value not in (None, "") else value


def recording_schema(schema_name: str | None = None) -> str | None:
    """The tenant schema an entry goes to, or None where there is no audit log (the public
    schema, and the template schema, whose rows every new tenant would inherit)."""
    schema = schema_name or connection.schema_name
    if not schema or schema in (get_public_schema_name(), settings.TENANT_BASE_SCHEMA):
        return None
    return schema


def audit_log_exists(schema_name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(format('%%I.audit_log', %s::text)) IS NOT NULL", [schema_name])
        return cursor.fetchone()[0]


def audit_record(*, action: str, object_type: str, object_id: Any = "", object_repr: Any = "",
                 changes: dict[str, Any] | None = None, schema_name: str | None = None,
                 actor: Actor | None = None) -> AuditEntry | None:
    """Write one entry in `schema_name` (default: the current tenant's schema), in the caller's
    transaction, so the entry and the change commit or roll back together. The actor and source
    address are the current context's (apps.governance.audit.context). Returns None outside a
    tenant schema."""
    schema = recording_schema(schema_name)
    if schema is None:
        return None
    actor = actor or actor_current()
    entry = AuditEntry(
        actor=actor.name[:200], actor_type=actor.type, source_address=actor.source_address,
        action=str(action)[:64], object_type=str(object_type)[:100], object_id=str(object_id or "")[:200],
        object_repr=str(object_repr or "")[:200], changes=changes_masked(changes or {}),
    )
    if schema == connection.schema_name:
        entry.save(force_insert=True)
    else:
        with schema_context(schema):
            entry.save(force_insert=True)
    return entry


def audit_log_purge(*, retention_days: int | None = None) -> int:
    """Delete the current tenant's entries older than AUDIT_LOG_RETENTION_DAYS. Returns how many.

    The table's trigger refuses every DELETE unless this transaction announced a purge and the row
    is older than the announced period, which may not be under MINIMUM_RETENTION_DAYS; so this is
    the one way rows leave the table (besides dropping the tenant's schema)."""
    days = settings.AUDIT_LOG_RETENTION_DAYS if retention_days is None else retention_days
    if days < MINIMUM_RETENTION_DAYS:
        raise ValueError(f"the audit log is kept at least {MINIMUM_RETENTION_DAYS} days")
    if recording_schema() is None:
        raise RuntimeError("the audit log purge runs in a tenant's schema")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config(%s, %s, true)", [PURGE_SETTING, str(days)])
        cursor.execute("DELETE FROM audit_log WHERE created_at < now() - make_interval(days => %s)", [days])
        deleted = cursor.rowcount
        cursor.execute("SELECT set_config(%s, '', true)", [PURGE_SETTING])
    return deleted

"""The audit log's beat task: purge entries past AUDIT_LOG_RETENTION_DAYS in every tenant."""

from __future__ import annotations

from celery import shared_task

from apps.governance.audit.services import audit_log_purge as _purge
from apps.tenancy.services import tenants_fan_out


@shared_task(name="apps.governance.tasks.audit_log_purge_all", soft_time_limit=240, time_limit=300)
def audit_log_purge_all() -> int:
    """Beat, public schema: one purge per tenant, each in that tenant's schema."""
    return tenants_fan_out(audit_log_purge)


@shared_task(name="apps.governance.tasks.audit_log_purge", soft_time_limit=540, time_limit=600)
def audit_log_purge() -> int:
    """Idempotent: a second run finds nothing older than the retention left to delete."""
    return _purge()

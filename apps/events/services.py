"""Event-side services other apps call: tenant setup and scheduled upkeep."""

from __future__ import annotations

from django.db import connection

from apps.events import partitions
from apps.events.privacy import privacy_jobs_repair
from apps.tenancy.models import Tenant


def events_tenant_setup() -> None:
    """In a new tenant's schema (the current one): this month's and the coming months' partitions."""
    partitions.partitions_ensure()


def events_upkeep() -> dict[str, object]:
    """In the current tenant schema: make partitions ahead, drop what is past the retention, and
    requeue privacy jobs that got stuck."""
    # The tenant's row (public schema) by the current schema: a task in schema_context only has
    # a stand-in tenant object on the connection.
    tenant = Tenant.objects.get(schema_name=connection.schema_name)
    made = partitions.partitions_ensure()
    dropped = partitions.partitions_drop_expired(retention_days=tenant.retention_days)
    requeued = privacy_jobs_repair()
    return {"made": made, "dropped": dropped, "privacy_jobs_requeued": requeued}

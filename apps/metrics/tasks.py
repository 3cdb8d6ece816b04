from __future__ import annotations

from celery import shared_task
from django.db import connection

from apps.metrics import services
from apps.tenancy.models import Tenant
from apps.tenancy.services import tenants_fan_out


@shared_task(name="apps.metrics.tasks.metrics_upkeep_all", soft_time_limit=240, time_limit=300)
def metrics_upkeep_all() -> int:
    """Beat, public schema: one upkeep task per tenant, each running in that tenant's schema."""
    return tenants_fan_out(metrics_upkeep)


@shared_task(name="apps.metrics.tasks.metrics_upkeep", soft_time_limit=540, time_limit=600)
def metrics_upkeep() -> dict[str, object]:
    tenant = Tenant.objects.get(schema_name=connection.schema_name)
    return services.metrics_upkeep(retention_days=tenant.retention_days)


@shared_task(name="apps.metrics.tasks.metrics_roll_all", soft_time_limit=50, time_limit=60)
def metrics_roll_all() -> int:
    """Beat, every minute, public schema: one roll-up task per tenant."""
    return tenants_fan_out(metrics_roll)


@shared_task(name="apps.metrics.tasks.metrics_roll", soft_time_limit=540, time_limit=600)
def metrics_roll() -> dict[str, int]:
    # Runs of one tenant never overlap (an advisory lock): a run finding one going skips.
    return services.metrics_roll()

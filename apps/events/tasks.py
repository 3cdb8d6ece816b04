from __future__ import annotations

from celery import shared_task

from apps.events import services
from apps.tenancy.services import tenants_fan_out


@shared_task(name="apps.events.tasks.events_upkeep_all", soft_time_limit=240, time_limit=300)
def events_upkeep_all() -> int:
    """Beat, public schema: one upkeep task per tenant, each running in that tenant's schema."""
    return tenants_fan_out(events_upkeep)


@shared_task(name="apps.events.tasks.events_upkeep", soft_time_limit=540, time_limit=600)
def events_upkeep() -> dict[str, object]:
    return services.events_upkeep()


@shared_task(name="apps.events.tasks.person_delete", soft_time_limit=3000, time_limit=3600)
def person_delete(job_id: int) -> str:
    from apps.events.privacy import person_delete_run

    return person_delete_run(job_id=job_id).status


@shared_task(name="apps.events.tasks.definitions_flush_all", soft_time_limit=50, time_limit=60)
def definitions_flush_all() -> int:
    """Beat (every minute), public schema: one fold of the pending definitions' counts per tenant."""
    return tenants_fan_out(definitions_flush)


@shared_task(name="apps.events.tasks.definitions_flush", soft_time_limit=240, time_limit=300)
def definitions_flush() -> int:
    """In the tenant's schema: its pending event/property definitions' counts, from Redis into its tables."""
    from django.db import connection

    from apps.events.definitions import definitions_flush as flush

    return flush(schema_name=connection.schema_name)

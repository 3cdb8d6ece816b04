from __future__ import annotations

from celery import shared_task
from django_tenants.utils import schema_context

from apps.events import services
from apps.tenancy.selectors import tenant_list


@shared_task(name="apps.events.tasks.events_upkeep_all", soft_time_limit=240, time_limit=300)
def events_upkeep_all() -> int:
    """Beat, public schema: one upkeep task per tenant, each running in that tenant's schema."""
    count = 0
    for schema_name in tenant_list().values_list("schema_name", flat=True):
        with schema_context(schema_name):
            events_upkeep.delay()
        count += 1
    return count


@shared_task(name="apps.events.tasks.events_upkeep", soft_time_limit=540, time_limit=600)
def events_upkeep() -> dict[str, object]:
    return services.events_upkeep()


@shared_task(name="apps.events.tasks.person_delete", soft_time_limit=3000, time_limit=3600)
def person_delete(job_id: int) -> str:
    from apps.events.privacy import person_delete_run

    return person_delete_run(job_id=job_id).status

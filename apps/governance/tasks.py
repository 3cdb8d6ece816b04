from __future__ import annotations

from celery import shared_task

from apps.tenancy.services import tenants_fan_out


@shared_task(name="apps.governance.tasks.privacy_job_run", soft_time_limit=3000, time_limit=3600)
def privacy_job_run(job_id: int) -> str | None:
    """One privacy job, in the tenant's schema (the schema travels in the task's headers)."""
    from apps.governance.privacy.services import privacy_job_run as run

    job = run(job_id=job_id)
    return job.state if job is not None else None


@shared_task(name="apps.governance.tasks.privacy_upkeep_all", soft_time_limit=240, time_limit=300)
def privacy_upkeep_all() -> int:
    """Beat, public schema: one privacy upkeep task per tenant."""
    return tenants_fan_out(privacy_upkeep)


@shared_task(name="apps.governance.tasks.privacy_upkeep", soft_time_limit=540, time_limit=600)
def privacy_upkeep() -> dict[str, int]:
    """Stuck jobs queued again, expired export files deleted."""
    from apps.governance.privacy.services import privacy_upkeep as upkeep

    return upkeep()

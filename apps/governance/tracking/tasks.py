from celery import shared_task

from apps.governance.tracking import violations


@shared_task(name="apps.governance.tracking.tasks.tracking_violations_flush_all", soft_time_limit=50, time_limit=60)
def tracking_violations_flush_all() -> int:
    """Beat (every minute): pending tracking plan violations, from Redis into each tenant's tables."""
    return violations.violations_flush_all()

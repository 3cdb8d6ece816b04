from __future__ import annotations

from celery import shared_task

from apps.reports import services
from apps.tenancy.services import tenants_fan_out


@shared_task(name="apps.reports.tasks.reports_dispatch_all", soft_time_limit=50, time_limit=60)
def reports_dispatch_all() -> int:
    """Beat, every minute, public schema: one dispatch per tenant."""
    return tenants_fan_out(reports_dispatch)


@shared_task(name="apps.reports.tasks.reports_dispatch", soft_time_limit=50, time_limit=60)
def reports_dispatch() -> int:
    """The tenant's due schedules become runs (each sent to a worker)."""
    return len(services.dispatch_due())


@shared_task(bind=True, name="apps.reports.tasks.report_run_task", acks_late=True, max_retries=None,
             soft_time_limit=840, time_limit=870)
def report_run_task(self, run_id: int) -> str | None:  # noqa: ANN001
    """One attempt at a run; a transient failure comes back after an exponential backoff (the
    attempts are counted on the run, which decides when to give up). A copy of the task finding
    the run held by another attempt (the broker redelivered it when a worker died) comes back when
    that attempt's lease ends."""
    try:
        run = services.run_execute(run_id=run_id)
    except services.RetryLater as exc:
        raise self.retry(countdown=exc.countdown) from None
    return run.status if run is not None else None

from __future__ import annotations

from celery import shared_task

from apps.alerts import services
from apps.tenancy.services import tenants_fan_out


@shared_task(name="apps.alerts.tasks.alerts_check_due_all", soft_time_limit=50, time_limit=60)
def alerts_check_due_all() -> int:
    """Beat, every ALERTS_CHECK_EVERY_SECONDS, public schema: one check task per tenant."""
    return tenants_fan_out(alerts_check_due)


@shared_task(name="apps.alerts.tasks.alerts_check_due", soft_time_limit=240, time_limit=300)
def alerts_check_due() -> int:
    """The tenant's rules due a check, checked; deliveries of the firings are their own tasks."""
    return services.check_due()


@shared_task(bind=True, name="apps.alerts.tasks.alert_deliver", acks_late=True, max_retries=None,
             soft_time_limit=60, time_limit=90)
def alert_deliver(self, delivery_id: int) -> str | None:  # noqa: ANN001
    """One attempt at one delivery (an email or a webhook POST); a transient failure comes back after
    an exponential backoff (the attempts are counted on the delivery, which decides when to give up)."""
    try:
        delivery = services.delivery_execute(delivery_id=delivery_id)
    except services.RetryLater as exc:
        raise self.retry(countdown=exc.countdown) from None
    return delivery.status if delivery is not None else None

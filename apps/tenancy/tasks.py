from celery import shared_task

from apps.tenancy import services


@shared_task(name="apps.tenancy.tasks.api_keys_flush_last_used", soft_time_limit=100, time_limit=120)
def api_keys_flush_last_used() -> int:
    return services.api_keys_flush_last_used()

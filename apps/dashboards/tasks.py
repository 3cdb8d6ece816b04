from __future__ import annotations

from celery import shared_task

from apps.dashboards import services


@shared_task(name="apps.dashboards.tasks.share_page_refresh", soft_time_limit=300, time_limit=360)
def share_page_refresh(dashboard_id: int) -> bool:
    """In the tenant's schema (the schema the task was queued from)."""
    return services.share_page_refresh(dashboard_id=dashboard_id)

from __future__ import annotations

from celery import shared_task

from apps.segments import services
from apps.tenancy.services import tenants_fan_out


@shared_task(name="apps.segments.tasks.segments_refresh_all", soft_time_limit=240, time_limit=300)
def segments_refresh_all() -> int:
    """Beat, every 15 minutes, public schema: one refresh task per tenant."""
    return tenants_fan_out(segments_refresh)


@shared_task(name="apps.segments.tasks.segments_refresh", soft_time_limit=1740, time_limit=1800)
def segments_refresh() -> dict[str, int]:
    """Every segment of the tenant, each within SEGMENT_REFRESH_TIMEOUT_MS."""
    return services.segments_refresh_all()


@shared_task(name="apps.segments.tasks.segment_refresh_task", soft_time_limit=300, time_limit=360)
def segment_refresh_task(segment_id: int) -> int | None:
    """One segment, after a change whose inline refresh ran out of time."""
    try:
        return services.segment_refresh(segment_id=segment_id)
    except (services.RefreshTimedOut, services.Segment.DoesNotExist):
        return None

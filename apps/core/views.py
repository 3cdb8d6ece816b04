"""Health and metrics endpoints, served on every host and outside any tenant."""

from __future__ import annotations

import logging

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from apps.core import metrics
from apps.core.redis import get_redis

logger = logging.getLogger(__name__)


@require_GET
def health_live(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@require_GET
def health_ready(request: HttpRequest) -> JsonResponse:
    """200 when PostgreSQL answers, else 503; Redis is reported but does not decide: without it
    ingestion and queries still work (limits, caches and the task queue degrade), so a load
    balancer should keep sending traffic. `status` is "ok", "degraded" (Redis down) or
    "unavailable"."""
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["postgres"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        logger.warning("readiness: PostgreSQL unreachable: %s", exc)
        checks["postgres"] = "unreachable"
    try:
        get_redis().ping()
        checks["redis"] = "ok"
    except Exception as exc:  # noqa: BLE001
        logger.warning("readiness: Redis unreachable: %s", exc)
        checks["redis"] = "unreachable"
    ready = checks["postgres"] == "ok"
    status = "unavailable" if not ready else "ok" if checks["redis"] == "ok" else "degraded"
    return JsonResponse({"status": status, "checks": checks}, status=200 if ready else 503)


@require_GET
def prometheus_metrics(request: HttpRequest) -> HttpResponse:
    body, content_type = metrics.render()
    return HttpResponse(body, content_type=content_type)

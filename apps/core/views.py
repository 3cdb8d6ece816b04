"""Health and metrics endpoints, served on every host and outside any tenant."""

from __future__ import annotations

import hmac
import logging
import time
from typing import Any, Callable

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from apps.core import metrics
from apps.core.errors import error_response
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


def _postgres() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('server_version')")
        return {"version": cursor.fetchone()[0]}


def _redis() -> dict[str, Any]:
    client = get_redis()
    client.ping()
    # Tasks waiting for a worker (Celery's default queue is a Redis list of that name).
    return {"queue_depth": client.llen("celery")}


def _timed(check: Callable[[], dict[str, Any]], name: str) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        details = check()
        state = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure is this dependency's state
        logger.warning("health: %s unreachable: %s", name, exc)
        details, state = {"error": type(exc).__name__}, "down"
    return {"status": state, "latency_ms": round((time.perf_counter() - started) * 1000, 2), **details}


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """`GET /health/`: the process answers (no dependency is checked; see /health/detailed)."""
    return JsonResponse({"status": "ok", "environment": settings.ENVIRONMENT})


@require_GET
def health_detailed(request: HttpRequest) -> JsonResponse:
    """Each dependency with its state and latency. PostgreSQL decides (503 when down); Redis down
    is `degraded`, as in readiness."""
    checks = {"database": _timed(_postgres, "PostgreSQL"), "redis": _timed(_redis, "Redis")}
    if checks["database"]["status"] != "ok":
        status = "down"
    else:
        status = "ok" if checks["redis"]["status"] == "ok" else "degraded"
    return JsonResponse({"status": status, "environment": settings.ENVIRONMENT, "checks": checks},
                        status=503 if status == "down" else 200)


@require_GET
def prometheus_metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus' scrape. With METRICS_TOKEN set, only `Authorization: Bearer <token>` is served;
    without it, a request that came through a proxy (X-Forwarded-For, as an ingress adds) gets a
    404: the figures are for the cluster's scraper, which reaches the pod directly."""
    token = settings.METRICS_TOKEN
    if token:
        given = request.META.get("HTTP_AUTHORIZATION", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            return error_response(401, "unauthenticated", "A metrics token is required.",
                                  headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    elif "HTTP_X_FORWARDED_FOR" in request.META:
        return error_response(404, "not_found", "Not found.")
    body, content_type = metrics.render()
    return HttpResponse(body, content_type=content_type)

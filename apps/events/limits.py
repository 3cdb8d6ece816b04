"""Per-key rate limit and the tenant's monthly event quota, kept in Redis.

Both fail open: if Redis is unreachable, events are still stored; the failure is logged and
counted (`ingest_limits_unavailable_total`), never turned into a refusal.
"""

from __future__ import annotations

import calendar
import logging
from dataclasses import dataclass
from datetime import datetime, timezone

from django.conf import settings
from prometheus_client import Counter

from apps.core.redis import get_redis

logger = logging.getLogger(__name__)

LIMITS_UNAVAILABLE = Counter("ingest_limits_unavailable_total", "Ingestion requests whose limits could not be "
                             "checked because Redis was unreachable (they were accepted)")
REFUSED = Counter("ingest_refused_total", "Ingestion requests refused by a limit", ["reason"])


@dataclass(frozen=True)
class Refusal:
    code: str
    message: str
    retry_after: int


def _quota_key(tenant_id: int, now: datetime) -> str:
    return f"quota:{tenant_id}:{now:%Y%m}"


def _seconds_to_next_month(now: datetime) -> int:
    days = calendar.monthrange(now.year, now.month)[1]
    end = now.replace(day=days, hour=23, minute=59, second=59, microsecond=0)
    return max(1, int((end - now).total_seconds()) + 1)


def limits_check(*, key_prefix: str, tenant_id: int, monthly_quota: int, events: int) -> Refusal | None:
    """One Redis round trip: count this request against the key's per-second limit, and count its
    events against the tenant's month (refused events are given back). Events are counted before
    they are stored; a request that then stores fewer (duplicates) leaves the count a little high."""
    now = datetime.now(timezone.utc)
    rate_key = f"rate:{key_prefix}:{int(now.timestamp())}"
    quota_key = _quota_key(tenant_id, now)
    redis = get_redis()
    try:
        pipe = redis.pipeline(transaction=False)
        pipe.incr(rate_key)
        pipe.expire(rate_key, 2)
        pipe.incrby(quota_key, events)
        pipe.expire(quota_key, 40 * 86400)
        requests_this_second, _, used, _ = pipe.execute()
    except Exception:  # noqa: BLE001 - fail open
        LIMITS_UNAVAILABLE.inc()
        logger.warning("ingestion limits unavailable (Redis); accepting the request", exc_info=True)
        return None
    refusal = None
    if requests_this_second > settings.INGEST_RATE_LIMIT_PER_SECOND:
        REFUSED.labels("rate").inc()
        refusal = Refusal("rate_limited", f"More than {settings.INGEST_RATE_LIMIT_PER_SECOND} requests per second "
                                          "for this key.", 1)
    elif used > monthly_quota:
        REFUSED.labels("quota").inc()
        refusal = Refusal("quota_exceeded", f"The monthly event quota ({monthly_quota}) is used up.",
                          _seconds_to_next_month(now))
    if refusal is not None:
        try:
            redis.decrby(quota_key, events)
        except Exception:  # noqa: BLE001
            LIMITS_UNAVAILABLE.inc()
    return refusal


def usage_get(*, tenant_id: int) -> int | None:
    try:
        value = get_redis().get(_quota_key(tenant_id, datetime.now(timezone.utc)))
    except Exception:  # noqa: BLE001
        return None
    return int(value or 0)

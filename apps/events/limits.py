"""Per-key rate limit and the tenant's monthly event quota, kept in Redis (one Lua script call).

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


# One atomic round trip: count the request against the key's second, count the events against the
# tenant's month, and give the events back if the request is refused.
# Returns {requests this second, events this month, 0 ok | 1 rate | 2 quota}.
_CHECK = """
local requests = redis.call('INCR', KEYS[1])
if requests == 1 then redis.call('EXPIRE', KEYS[1], 2) end
local used = redis.call('INCRBY', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[2])
local verdict = 0
if requests > tonumber(ARGV[3]) then verdict = 1 elseif used > tonumber(ARGV[4]) then verdict = 2 end
if verdict > 0 then redis.call('DECRBY', KEYS[2], ARGV[1]) end
return {requests, used, verdict}
"""
_script = None


def limits_check(*, key_prefix: str, tenant_id: int, monthly_quota: int, events: int) -> Refusal | None:
    """Rate limit per key (requests per second) and the tenant's monthly event quota. Events are
    counted before they are stored; duplicates of a retry count again (slightly high, never low)."""
    global _script
    now = datetime.now(timezone.utc)
    try:
        redis = get_redis()
        if _script is None or _script.registered_client is not redis:
            _script = redis.register_script(_CHECK)
        _, _, verdict = _script(
            keys=[f"rate:{key_prefix}:{int(now.timestamp())}", _quota_key(tenant_id, now)],
            args=[events, 40 * 86400, settings.INGEST_RATE_LIMIT_PER_SECOND, monthly_quota],
        )
    except Exception:  # noqa: BLE001 - fail open
        LIMITS_UNAVAILABLE.inc()
        logger.warning("ingestion limits unavailable (Redis); accepting the request", exc_info=True)
        return None
    if verdict == 1:
        REFUSED.labels("rate").inc()
        return Refusal("rate_limited", f"More than {settings.INGEST_RATE_LIMIT_PER_SECOND} requests per second "
                                       "for this key.", 1)
    if verdict == 2:
        REFUSED.labels("quota").inc()
        return Refusal("quota_exceeded", f"The monthly event quota ({monthly_quota}) is used up.",
                       _seconds_to_next_month(now))
    return None


def usage_get(*, tenant_id: int) -> int | None:
    try:
        value = get_redis().get(_quota_key(tenant_id, datetime.now(timezone.utc)))
    except Exception:  # noqa: BLE001
        return None
    return int(value or 0)

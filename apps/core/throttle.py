"""Request-rate windows and concurrency slots kept in Redis, for the costly reads (queries,
dashboards). Both fail open: with Redis unreachable the request runs (logged), as ingestion's
limits do; a limit is protection, not correctness.
"""

from __future__ import annotations

import logging
import time
import uuid
from contextlib import contextmanager
from typing import Iterator

from prometheus_client import Counter

from apps.core.exceptions import RateLimited
from apps.core.redis import get_redis

logger = logging.getLogger(__name__)

THROTTLED = Counter("query_throttled_total", "Query and dashboard requests refused by a limit", ["reason"])

# A fixed window: INCR, and start its expiry on the first request. Returns the count and the TTL.
_WINDOW = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return {n, redis.call('TTL', KEYS[1])}
"""
# A slot among ARGV[1]: drop expired holders, then join if there is room. Returns 1 if taken.
_SLOT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
  redis.call('EXPIRE', KEYS[1], ARGV[5])
  return 1
end
return 0
"""
_scripts: dict[str, object] = {}


def _script(source: str):  # noqa: ANN202
    redis = get_redis()
    script = _scripts.get(source)
    if script is None or script.registered_client is not redis:  # type: ignore[attr-defined]
        script = _scripts[source] = redis.register_script(source)
    return script


def rate_check(*, key: str, limit: int, window_seconds: int, what: str) -> None:
    """RateLimited (429, Retry-After: the window's rest) past `limit` requests per window."""
    if limit <= 0:
        return
    try:
        count, ttl = _script(_WINDOW)(keys=[f"throttle:rate:{key}"], args=[window_seconds])
    except Exception:  # noqa: BLE001 - fail open
        logger.warning("throttle unavailable (Redis); allowing %s", what, exc_info=True)
        return
    if count > limit:
        THROTTLED.labels("rate").inc()
        raise RateLimited(f"More than {limit} {what} per {window_seconds} s for this key; retry later.",
                          retry_after=max(1, int(ttl)))


@contextmanager
def slot(*, key: str, limit: int, lease_seconds: int, what: str) -> Iterator[None]:
    """Hold one of `limit` concurrent slots while the block runs, or RateLimited (429, Retry-After 1)
    when all are taken. A holder that dies frees its slot when its lease ends."""
    if limit <= 0:
        yield
        return
    name, member = f"throttle:slot:{key}", uuid.uuid4().hex
    now = time.time()
    try:
        taken = _script(_SLOT)(keys=[name], args=[limit, now, now + lease_seconds, member, lease_seconds + 60])
    except Exception:  # noqa: BLE001 - fail open
        logger.warning("throttle unavailable (Redis); allowing %s", what, exc_info=True)
        taken = None
    if taken == 0:
        THROTTLED.labels("concurrency").inc()
        raise RateLimited(f"{limit} {what} are already running for this tenant; retry shortly.", retry_after=1)
    try:
        yield
    finally:
        if taken:
            try:
                get_redis().zrem(name, member)
            except Exception:  # noqa: BLE001 - the lease frees it
                logger.warning("throttle slot not released (Redis)", exc_info=True)

"""The process's Redis client for direct use (rate limits, counters); the cache uses Django's."""

from __future__ import annotations

from functools import lru_cache

import redis
from django.conf import settings


@lru_cache(maxsize=1)
def get_redis() -> redis.Redis:
    # Short timeouts: callers on request paths treat Redis as optional and must not hang on it.
    return redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=0.5, socket_timeout=0.5)

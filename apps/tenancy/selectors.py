"""Reads of tenants and API keys (public schema)."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import threading
import time

from django.conf import settings
from django.db.models import QuerySet
from redis.exceptions import RedisError

from apps.core.redis import get_redis
from apps.tenancy.exceptions import TenantNotFound
from apps.tenancy.models import ApiKey, Tenant, UnsubscribeRoute

KEY_PATTERN = re.compile(r"^(wk|sk)_[A-Za-z0-9]{40}$")
PREFIX_LENGTH = 11  # "sk_" and 8 random characters

logger = logging.getLogger(__name__)


def api_key_hash(raw_key: str) -> str:
    # Keys carry 238 random bits, so a fast hash is safe: nothing to brute-force.
    return hashlib.sha256(raw_key.encode()).hexdigest()


def api_key_resolve(*, raw_key: str) -> ApiKey | None:
    """The active (neither revoked nor expired) key matching `raw_key`, with its tenant loaded;
    None for anything else."""
    key = api_key_find(raw_key=raw_key)
    return None if key is None or key.is_expired() else key


def api_key_find(*, raw_key: str) -> ApiKey | None:
    """The unrevoked key matching `raw_key` (expired or not: the caller says which), with its
    tenant loaded; None for anything else.

    One indexed read by prefix, then a constant-time comparison of the hash.
    """
    if not KEY_PATTERN.match(raw_key):
        return None
    key = ApiKey.objects.select_related("tenant").filter(prefix=raw_key[:PREFIX_LENGTH]).first()
    if key is None or key.revoked_at is not None:
        return None
    if not hmac.compare_digest(key.key_hash, api_key_hash(raw_key)):
        return None
    return key


# --- the per-process cache, and how revocations reach it ---------------------------------------
#
# Resolved keys are kept per process for API_KEY_CACHE_SECONDS, so the ingestion hot path costs no
# database read for its key. Each entry carries the revocation epoch it was read under: an opaque
# value in Redis (REVOCATION_EPOCH_KEY) that every revocation replaces after its commit
# (apps.tenancy.services.api_key_revoke). Every resolution reads the epoch (one Redis GET) and
# trusts a cached entry only if the epoch is the one it was read under, so a revocation reaches
# every process at its next request. The epoch is a fresh random value, not a counter: a Redis that
# restarts empty and counts up again can never bring back an old value a stale entry would match.
# Redis unreachable: the cache is not trusted and every resolution reads the database (fail safe:
# a revoked key is never accepted; the cost is one indexed read per request until Redis is back).
# Expiry needs no signal: every resolution, cached or not, compares `expires_at` with the clock.

REVOCATION_EPOCH_KEY = "apikeys:revocation_epoch"
_NO_EPOCH = b""  # what a Redis without the key (never revoked since it started) reads as
_resolved: dict[str, tuple[float, bytes, ApiKey]] = {}
_cache_lock = threading.Lock()
# After Redis failed, requests go straight to the database for a second instead of each waiting
# for Redis' timeout again.
_REDIS_RETRY_SECONDS = 1.0
_redis_down_until = 0.0


def api_key_revocation_epoch() -> bytes | None:
    """The current revocation epoch, or None when Redis cannot be reached."""
    global _redis_down_until
    if time.monotonic() < _redis_down_until:
        return None
    try:
        return get_redis().get(REVOCATION_EPOCH_KEY) or _NO_EPOCH
    except RedisError:
        _redis_down_until = time.monotonic() + _REDIS_RETRY_SECONDS
        logger.warning("revocation epoch unavailable (Redis); resolving API keys from the database",
                       exc_info=True)
        return None


def api_key_resolve_cached(*, raw_key: str, check_revocations: bool = True) -> ApiKey | None:
    """As `api_key_find` (an expired key is returned: the caller refuses it with its reason),
    from the per-process cache while no revocation happened since the entry was read.

    `check_revocations=False` skips the Redis read (the behaviour before revocations were
    broadcast): only the ingestion benchmark uses it, to measure what the check costs."""
    # The epoch is read before the database: a revocation committed after this read changes the
    # epoch, so whatever this resolution caches is dropped at the next one.
    epoch = api_key_revocation_epoch() if check_revocations else _NO_EPOCH
    if epoch is None:
        with _cache_lock:
            _resolved.clear()
        return api_key_find(raw_key=raw_key)
    digest = api_key_hash(raw_key)
    now = time.monotonic()
    hit = _resolved.get(digest)
    if hit is not None and hit[0] > now and hit[1] == epoch:
        return hit[2]
    key = api_key_find(raw_key=raw_key)
    with _cache_lock:
        if key is not None:
            if len(_resolved) > 10_000:
                _resolved.clear()
            _resolved[digest] = (now + settings.API_KEY_CACHE_SECONDS, epoch, key)
        else:
            _resolved.pop(digest, None)
    return key


def api_key_cache_forget(*, prefix: str) -> None:
    """Drop `prefix` from this process's cache (other processes learn from the epoch)."""
    with _cache_lock:
        for digest, (_, _, key) in list(_resolved.items()):
            if key.prefix == prefix:
                _resolved.pop(digest, None)


def tenant_current() -> Tenant:
    """The tenant of the current schema: the connection's row, or (under a schema_context, which
    holds only the schema's name) the row of that name."""
    from django.db import connection

    tenant = getattr(connection, "tenant", None)
    if isinstance(tenant, Tenant) and tenant.pk:
        return tenant
    return Tenant.objects.get(schema_name=connection.schema_name)


def tenant_list() -> QuerySet[Tenant]:
    return Tenant.objects.exclude(schema_name="public").order_by("slug")


def tenant_get(*, slug: str) -> Tenant:
    tenant = tenant_list().filter(slug=slug).first()
    if tenant is None:
        raise TenantNotFound(f"No tenant {slug!r}.")
    return tenant


def api_key_list(*, tenant: Tenant) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(tenant=tenant).order_by("-created_at", "-id")


def unsubscribe_route_get(*, token_hash: str) -> UnsubscribeRoute | None:
    """The route (with its tenant) of an unsubscribe token's hash, read in the public schema."""
    return UnsubscribeRoute.objects.select_related("tenant").filter(token_hash=token_hash).first()

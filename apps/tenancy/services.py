"""Writes: tenant provisioning and API key issue, revocation and use tracking."""

from __future__ import annotations

import logging
import secrets
import string
import time
from typing import Any
from dataclasses import dataclass
from datetime import datetime, timezone

from django.conf import settings
from redis.exceptions import RedisError, ResponseError
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone as dj_timezone

from django_tenants.utils import schema_context

from apps.core.exceptions import ValidationFailed
from apps.core.redis import get_redis
from apps.core.scopes import SCOPE_WRITE, SCOPES
from apps.core.signals import audit_event
from apps.events.services import events_tenant_setup
from apps.metrics.services import metrics_tenant_setup
from apps.tenancy.exceptions import ApiKeyNotFound, TenantAlreadyExists
from apps.tenancy.models import ApiKey, Domain, Tenant, UnsubscribeRoute
from apps.tenancy.selectors import (
    PREFIX_LENGTH,
    REVOCATION_EPOCH_KEY,
    api_key_cache_forget,
    api_key_hash,
    tenant_current,
    tenant_list,
)

logger = logging.getLogger(__name__)

_ALPHABET = string.ascii_letters + string.digits
_KIND_PREFIX = {ApiKey.Kind.WRITE: "wk_", ApiKey.Kind.SECRET: "sk_"}
LAST_USED_REDIS_KEY = "apikeys:last_used"


@dataclass(frozen=True)
class IssuedKey:
    """A freshly issued key: `raw` exists only here, once; the database keeps its hash."""

    api_key: ApiKey
    raw: str


@dataclass(frozen=True)
class TenantCreated:
    tenant: Tenant
    domain: Domain
    write_key: IssuedKey
    secret_key: IssuedKey


def tenant_create(
    *,
    slug: str,
    name: str = "",
    timezone: str = "UTC",
    retention_days: int = 365,
    monthly_event_quota: int = 10_000_000,
    session_gap_minutes: int = 30,
) -> TenantCreated:
    """Create a tenant: its row, its schema (cloned from the template schema), its console domain
    `<slug>.<BASE_DOMAIN>`, and one write and one secret key. All or nothing."""
    tenant = Tenant(
        slug=slug,
        name=name or slug,
        schema_name=Tenant.schema_name_for(slug),
        timezone=timezone,
        retention_days=retention_days,
        monthly_event_quota=monthly_event_quota,
        session_gap_minutes=session_gap_minutes,
    )
    try:
        tenant.full_clean(exclude=["schema_name"], validate_unique=False)
    except ValidationError as exc:
        raise ValidationFailed("The tenant is not valid.", details=exc.message_dict) from None
    if Tenant.objects.filter(slug=slug).exists():
        raise TenantAlreadyExists(f"A tenant {slug!r} already exists.")

    try:
        # Not durable: the admin's add view wraps this service in its own transaction.
        with transaction.atomic():
            tenant.save(verbosity=0)
            with schema_context(tenant.schema_name):
                events_tenant_setup()
                metrics_tenant_setup()
            domain = Domain.objects.create(domain=tenant_domain(slug), tenant=tenant, is_primary=True)
            write_key = api_key_create(tenant=tenant, kind=ApiKey.Kind.WRITE, name="default write key")
            secret_key = api_key_create(tenant=tenant, kind=ApiKey.Kind.SECRET, name="default secret key")
    except IntegrityError:
        # Two concurrent creations of the same slug: the unique constraint decides.
        raise TenantAlreadyExists(f"A tenant {slug!r} already exists.") from None
    logger.info("tenant created", extra={"tenant": slug})
    return TenantCreated(tenant=tenant, domain=domain, write_key=write_key, secret_key=secret_key)


TENANT_SETTINGS = ("name", "timezone", "retention_days", "monthly_event_quota", "session_gap_minutes")


def tenant_update(*, tenant: Tenant, changes: dict[str, Any]) -> Tenant:
    """Change a tenant's settings (any of TENANT_SETTINGS); the slug and schema never change.
    Saved with save(), so receivers of the tenant's post_save (the BI views, which follow the
    session gap) see the change."""
    diff: dict[str, list[Any]] = {}
    for field, value in changes.items():
        if field not in TENANT_SETTINGS:
            raise ValidationFailed(f"{field!r} cannot be changed.", details={field: "read-only"})
        if getattr(tenant, field) != value:
            diff[field] = [getattr(tenant, field), value]
        setattr(tenant, field, value)
    try:
        tenant.full_clean(exclude=["schema_name", "slug"], validate_unique=False)
    except ValidationError as exc:
        raise ValidationFailed("The tenant is not valid.", details=exc.message_dict) from None
    if not diff:
        return tenant
    tenant.save(update_fields=list(diff))
    audit_event.send(sender=Tenant, action="tenant_updated", object_type="tenant", object_id=tenant.slug,
                     object_repr=tenant.name, schema_name=tenant.schema_name, changes=diff)
    logger.info("tenant updated", extra={"tenant": tenant.slug, "fields": sorted(diff)})
    return tenant


def tenant_domain(slug: str) -> str:
    return f"{slug}.{settings.BASE_DOMAIN}"


def api_key_create(*, tenant: Tenant, kind: str, name: str = "", scopes: list[str] | None = None,
                   expires_at: datetime | None = None) -> IssuedKey:
    """Issue a key of `kind` for `tenant` with `scopes` (default: a secret key gets every scope, a
    write key `write`, the only one it may hold) expiring at `expires_at` (None: never; else in the
    future; without a time zone, UTC). The raw key is returned once and never stored (the audit log records
    `key_issued` from the model's save)."""
    if kind not in ApiKey.Kind.values:
        raise ValidationFailed(f"kind must be one of {', '.join(ApiKey.Kind.values)}.", details={"kind": kind})
    scopes = api_key_scopes_clean(kind=kind, scopes=scopes)
    if expires_at is not None:
        if expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=timezone.utc)  # a time without a zone is UTC
        if expires_at <= dj_timezone.now():
            raise ValidationFailed("expires_at must be in the future.",
                                   details={"expires_at": ["Must be in the future."]})
    for _ in range(5):
        raw = _KIND_PREFIX[ApiKey.Kind(kind)] + "".join(secrets.choice(_ALPHABET) for _ in range(40))
        try:
            with transaction.atomic():
                key = ApiKey.objects.create(
                    tenant=tenant, kind=kind, name=name[:100], prefix=raw[:PREFIX_LENGTH], key_hash=api_key_hash(raw),
                    scopes=scopes, expires_at=expires_at,
                )
        except IntegrityError:
            continue  # a prefix collision (one in 2e14): draw again
        return IssuedKey(api_key=key, raw=raw)
    raise RuntimeError("could not draw a unique API key prefix")


def api_key_scopes_clean(*, kind: str, scopes: list[str] | None) -> list[str]:
    """The scopes a new key of `kind` gets from `scopes` as asked: known, not empty, in canonical
    order; a write key may only hold `write`."""
    if scopes is None:
        return [SCOPE_WRITE] if kind == ApiKey.Kind.WRITE else list(SCOPES)
    unknown = sorted({str(s) for s in scopes} - set(SCOPES))
    if unknown:
        raise ValidationFailed(f"Unknown scope(s): {', '.join(unknown)}; scopes are {', '.join(SCOPES)}.",
                               details={"scopes": unknown})
    if not scopes:
        raise ValidationFailed("A key needs at least one scope.", details={"scopes": ["Empty."]})
    cleaned = [s for s in SCOPES if s in scopes]
    if kind == ApiKey.Kind.WRITE and cleaned != [SCOPE_WRITE]:
        raise ValidationFailed("A write key sends events only: its one scope is `write`.",
                               details={"scopes": cleaned})
    return cleaned


def api_key_revoke(*, prefix: str, tenant: Tenant | None = None) -> ApiKey:
    """Revoke the key with `prefix` (of `tenant` only, when given: a tenant's console never reaches
    another tenant's key). Revoking twice keeps the first revocation time. Once committed, every
    process stops accepting the key at its next request (the revocation epoch, see
    apps.tenancy.selectors). Announces `key_revoked` (audit)."""
    keys = ApiKey.objects.filter(prefix=prefix)
    if tenant is not None:
        keys = keys.filter(tenant=tenant)
    # Conditional update: concurrent revocations agree on one revoked_at, and one announcement.
    revoked = keys.filter(revoked_at__isnull=True).update(revoked_at=dj_timezone.now())
    api_key_cache_forget(prefix=prefix)
    key = keys.select_related("tenant").first()
    if key is None:
        raise ApiKeyNotFound(f"No API key with prefix {prefix!r}.")
    if revoked:
        # After the commit: a process re-reading the key before it would cache it again as active.
        transaction.on_commit(api_key_revocation_broadcast)
        audit_event.send(sender=ApiKey, action="key_revoked", object_type="api_key", object_id=key.prefix,
                         object_repr=key.name, schema_name=key.tenant.schema_name,
                         changes={"revoked_at": [None, key.revoked_at.isoformat()]})
    return key


def api_key_rename(*, prefix: str, tenant: Tenant, name: str) -> ApiKey:
    """Rename `tenant`'s key `prefix` (nothing else of a key changes after issue)."""
    key = ApiKey.objects.filter(prefix=prefix, tenant=tenant).first()
    if key is None:
        raise ApiKeyNotFound(f"No API key with prefix {prefix!r}.")
    key.name = name[:100]
    key.save(update_fields=["name"])
    return key


def api_key_revocation_broadcast() -> bool:
    """Replace the revocation epoch in Redis: every process drops its cached keys at its next
    resolution. False (logged) when Redis is unreachable: processes that still reach Redis then keep
    their cached entries for at most API_KEY_CACHE_SECONDS."""
    try:
        get_redis().set(REVOCATION_EPOCH_KEY, secrets.token_hex(16))
    except RedisError:
        logger.error("could not broadcast an API key revocation (Redis); other processes may accept "
                     "the key for up to API_KEY_CACHE_SECONDS", exc_info=True)
        return False
    return True


# --- last_used_at without a database write per request ------------------------------------------

_last_reported: dict[str, float] = {}


def api_key_mark_used(*, api_key: ApiKey) -> None:
    """Note that `api_key` was used. At most once per key and resolution period per process, the
    time goes to a Redis hash; `api_keys_flush_last_used` (beat) copies the hash to the database.
    Redis being down never fails the request."""
    now = time.monotonic()
    if now - _last_reported.get(api_key.prefix, -1e9) < settings.API_KEY_LAST_USED_RESOLUTION_SECONDS:
        return
    _last_reported[api_key.prefix] = now
    try:
        get_redis().hset(LAST_USED_REDIS_KEY, api_key.prefix, datetime.now(timezone.utc).isoformat())
    except Exception:  # noqa: BLE001 - Redis is optional on request paths
        logger.warning("could not record API key use in Redis", exc_info=True)


def api_keys_flush_last_used() -> int:
    """Copy the recorded use times from Redis to `ApiKey.last_used_at`. Returns the rows updated.
    Safe to run twice or concurrently: an older time never overwrites a newer one."""
    redis = get_redis()
    pending_key = f"{LAST_USED_REDIS_KEY}:flushing"
    # RENAMENX is atomic: uses recorded from now on go to a fresh hash, and a batch left over by an
    # interrupted flush is finished first instead of being overwritten.
    try:
        redis.renamenx(LAST_USED_REDIS_KEY, pending_key)
    except ResponseError:
        pass  # nothing recorded since the last flush (or a concurrent flush took it)
    entries = redis.hgetall(pending_key)
    updated = 0
    for raw_prefix, raw_time in entries.items():
        used_at = datetime.fromisoformat(raw_time.decode())
        updated += ApiKey.objects.filter(prefix=raw_prefix.decode()).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=used_at)
        ).update(last_used_at=used_at)
    redis.delete(pending_key)
    return updated


def tenants_fan_out(task: Any) -> int:
    """From the public schema (a beat task): send `task` once per tenant, each copy running in that
    tenant's schema (tenant-schemas-celery carries the schema in the message). Returns how many."""
    count = 0
    for schema_name in tenant_list().values_list("schema_name", flat=True):
        with schema_context(schema_name):
            task.delay()
        count += 1
    return count


def unsubscribe_route_save(*, token_hash: str, subscription_id: int) -> None:
    """Records (once) that the unsubscribe token of `token_hash` belongs to the current tenant's
    subscription `subscription_id` (apps.tenancy.models.UnsubscribeRoute)."""
    UnsubscribeRoute.objects.get_or_create(token_hash=token_hash, defaults={
        "tenant": tenant_current(), "subscription_id": subscription_id})

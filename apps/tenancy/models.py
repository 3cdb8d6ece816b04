"""Tenants, their domains and API keys: the public schema's tables."""

from __future__ import annotations

import zoneinfo

from datetime import datetime

from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone
from django_tenants.models import DomainMixin, TenantMixin

from apps.core.scopes import SCOPE_WRITE, SCOPES

SLUG_PATTERN = r"^[a-z][a-z0-9-]{1,38}[a-z0-9]$"
RESERVED_SLUGS = frozenset(
    {"www", "api", "admin", "app", "public", "platform", "static", "media", "mail", "docs", "status",
     "template", "tenant-template", "pg-catalog", "information-schema"}
)


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not an IANA time zone name (for example Europe/Paris).")


def validate_slug(value: str) -> None:
    if value in RESERVED_SLUGS:
        raise ValidationError(f"{value!r} is reserved.")


class Tenant(TenantMixin):
    slug = models.CharField(
        max_length=40,
        unique=True,
        validators=[RegexValidator(SLUG_PATTERN, "3-40 characters: lowercase letters, digits and hyphens, "
                                                 "starting with a letter."), validate_slug],
    )
    name = models.CharField(max_length=200)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    retention_days = models.PositiveIntegerField(default=365)
    monthly_event_quota = models.PositiveBigIntegerField(default=10_000_000)
    # A person's events without a client session id start a new session after a gap longer than this.
    session_gap_minutes = models.PositiveIntegerField(
        default=30, validators=[MinValueValidator(1), MaxValueValidator(1440)],
        help_text="Minutes of inactivity after which a person's next event starts a new session (1-1440).")
    created_at = models.DateTimeField(auto_now_add=True)

    # Schemas are created by `tenant_create` (cloned from the template schema) and never dropped
    # implicitly: deleting a tenant's data is an explicit, separate operation.
    auto_create_schema = True
    auto_drop_schema = False

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    def create_schema(self, check_if_exists: bool = False, sync_schema: bool = True, verbosity: int = 1) -> bool:
        """Called by django-tenants' save(): copy the template schema (see provisioning.py)."""
        from django_tenants.utils import schema_exists

        from apps.tenancy.provisioning import schema_provision

        if check_if_exists and schema_exists(self.schema_name):
            return False
        schema_provision(self.schema_name)
        return True

    @staticmethod
    def schema_name_for(slug: str) -> str:
        return "t_" + slug.replace("-", "_")


class Domain(DomainMixin):
    class Meta:
        ordering = ["domain"]

    def __str__(self) -> str:
        return self.domain


class ApiKey(models.Model):
    class Kind(models.TextChoices):
        WRITE = "write", "Write (ingestion only)"
        SECRET = "secret", "Secret (full tenant API)"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_keys")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    name = models.CharField(max_length=100, blank=True)
    # The first characters of the key, kept in clear to find the row; the rest is only hashed.
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    # What the key may do (apps.core.scopes); fixed at issue. A write key holds `write` only, and
    # only on the ingestion paths (the routing middleware refuses it elsewhere).
    scopes = ArrayField(models.CharField(max_length=10, choices=[(s, s) for s in SCOPES]), default=list,
                        editable=False)
    expires_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"
        constraints = [
            models.CheckConstraint(condition=models.Q(scopes__contained_by=list(SCOPES)), name="apikey_known_scopes"),
            models.CheckConstraint(condition=~models.Q(kind="write") | models.Q(scopes=[SCOPE_WRITE]),
                                   name="apikey_write_key_writes_only"),
        ]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.kind}, {self.tenant_id})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and not self.is_expired()

    def is_expired(self, now: datetime | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


class ShareLink(models.Model):
    """A read-only link to one dashboard of a tenant (`/d/<token>`): the token is shown once and
    only its hash is kept. Here, in the public schema, so the link finds its tenant."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="share_links")
    dashboard_id = models.BigIntegerField()
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=12, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "dashboard_id"])]

    def __str__(self) -> str:
        return f"{self.prefix}… (dashboard {self.dashboard_id} of {self.tenant_id})"


class UnsubscribeRoute(models.Model):
    """Where a report's unsubscribe link (`/r/unsubscribe/<token>`) leads: the hash of its token, the
    tenant and the subscription's id in that tenant's schema. The link is public and names no
    tenant, so this row, in the public schema, finds it; the token itself is checked against the
    subscription (apps.reports.services.unsubscribe_resolve), so a row left behind by a deleted
    subscription leads nowhere."""

    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="unsubscribe_routes")
    subscription_id = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"subscription {self.subscription_id} of {self.tenant_id}"

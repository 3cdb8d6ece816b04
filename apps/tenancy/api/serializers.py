from __future__ import annotations

from rest_framework import serializers

from apps.core.scopes import SCOPES
from apps.tenancy.models import ApiKey, Tenant


class TenantOutput(serializers.ModelSerializer):
    domain = serializers.SerializerMethodField()

    class Meta:
        model = Tenant
        fields = ["slug", "name", "schema_name", "timezone", "retention_days", "monthly_event_quota",
                  "domain", "created_at", "session_gap_minutes"]

    def get_domain(self, tenant: Tenant) -> str | None:
        domains = [d for d in tenant.domains.all() if d.is_primary]
        return domains[0].domain if domains else None


class TenantSelfOutput(serializers.ModelSerializer):
    """What a tenant sees of itself (no schema or domain internals)."""

    class Meta:
        model = Tenant
        fields = ["slug", "name", "timezone", "retention_days", "monthly_event_quota", "created_at",
                  "session_gap_minutes"]


class ApiKeyOutput(serializers.ModelSerializer):
    tenant = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=SCOPES), read_only=True,
                                   help_text="What the key may do: `read`, `write`, `admin`.")
    expires_at = serializers.DateTimeField(read_only=True, allow_null=True,
                                           help_text="When the key stops working; null: never.")

    class Meta:
        model = ApiKey
        fields = ["prefix", "tenant", "kind", "name", "scopes", "created_at", "expires_at", "last_used_at",
                  "revoked_at"]


class IssuedKeyOutput(ApiKeyOutput):
    key = serializers.CharField(help_text="The full key. Shown once; only its hash is kept.")

    class Meta(ApiKeyOutput.Meta):
        fields = [*ApiKeyOutput.Meta.fields, "key"]


def issued_key_data(issued) -> dict:  # noqa: ANN001 - an apps.tenancy.services.IssuedKey
    return {**ApiKeyOutput(issued.api_key).data, "key": issued.raw}


class TenantCreatedOutput(TenantOutput):
    write_key = serializers.CharField(help_text="Shown once.")
    secret_key = serializers.CharField(help_text="Shown once.")

    class Meta(TenantOutput.Meta):
        fields = [*TenantOutput.Meta.fields, "write_key", "secret_key"]


def tenant_created_data(created) -> dict:  # noqa: ANN001 - an apps.tenancy.services.TenantCreated
    return {**TenantOutput(created.tenant).data, "write_key": created.write_key.raw,
            "secret_key": created.secret_key.raw}

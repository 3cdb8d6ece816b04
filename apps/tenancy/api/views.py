"""The platform API (public schema, platform token) and the tenant's own endpoint (secret key)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api import PlatformApi, TenantApi
from apps.core.openapi import error_responses
from apps.core.scopes import SCOPES
from apps.core.pagination import CursorPagination, paginate
from apps.tenancy import selectors, services
from apps.tenancy.api.serializers import (
    ApiKeyOutput,
    IssuedKeyOutput,
    TenantCreatedOutput,
    TenantOutput,
    TenantSelfOutput,
    issued_key_data,
    tenant_created_data,
)
from apps.tenancy.models import SLUG_PATTERN, ApiKey


class TenantCreateInput(serializers.Serializer):
    slug = serializers.RegexField(SLUG_PATTERN, max_length=40)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    timezone = serializers.CharField(max_length=64, required=False, default="UTC")
    retention_days = serializers.IntegerField(min_value=1, max_value=36500, required=False, default=365)
    monthly_event_quota = serializers.IntegerField(min_value=0, required=False, default=10_000_000)


class TenantUpdateInput(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    timezone = serializers.CharField(max_length=64, required=False)
    retention_days = serializers.IntegerField(min_value=1, max_value=36500, required=False)
    monthly_event_quota = serializers.IntegerField(min_value=0, required=False)
    session_gap_minutes = serializers.IntegerField(
        min_value=1, max_value=1440, required=False,
        help_text="Minutes of inactivity after which a person's next event (without a client session id) "
                  "starts a new session.")


class KeyCreateInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ApiKey.Kind.choices)
    name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=SCOPES), required=False, allow_empty=False, max_length=len(SCOPES),
        help_text="What the key may do. Default: every scope for a secret key; `[\"write\"]` (the only "
                  "one allowed) for a write key. `read`: GET and the read-only POSTs (queries); `write`: "
                  "every other change and ingestion; `admin`: governance endpoints.")
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None,
                                           help_text="ISO 8601, in the future; omitted or null: never expires.")


@extend_schema(tags=["platform"])
class PlatformTenantListApi(PlatformApi):
    pagination_class = CursorPagination  # documents the pages GET answers (the view pages itself)

    @extend_schema(responses=TenantOutput(many=True), summary="List tenants")
    def get(self, request: Request) -> Response:
        tenants = selectors.tenant_list().prefetch_related("domains")
        return paginate(self, tenants, TenantOutput, ordering="slug")

    @extend_schema(request=TenantCreateInput, responses={201: TenantCreatedOutput, **error_responses(409)},
                   summary="Create a tenant")
    def post(self, request: Request) -> Response:
        created = services.tenant_create(**self.validate(TenantCreateInput, request.data))
        return Response(tenant_created_data(created), status=201)


@extend_schema(tags=["platform"])
class PlatformTenantDetailApi(PlatformApi):
    @extend_schema(responses=TenantOutput, summary="Get a tenant")
    def get(self, request: Request, slug: str) -> Response:
        return Response(TenantOutput(selectors.tenant_get(slug=slug)).data)

    @extend_schema(request=TenantUpdateInput, responses={200: TenantOutput, **error_responses(404)},
                   summary="Change a tenant's settings",
                   description="Only the fields sent change. The slug and schema never change.")
    def patch(self, request: Request, slug: str) -> Response:
        tenant = selectors.tenant_get(slug=slug)
        changes = self.validate(TenantUpdateInput, request.data)
        return Response(TenantOutput(services.tenant_update(tenant=tenant, changes=changes)).data)


@extend_schema(tags=["platform"])
class PlatformTenantKeysApi(PlatformApi):
    pagination_class = CursorPagination  # documents the pages GET answers (the view pages itself)

    @extend_schema(responses=ApiKeyOutput(many=True), summary="List a tenant's API keys")
    def get(self, request: Request, slug: str) -> Response:
        tenant = selectors.tenant_get(slug=slug)
        return paginate(self, selectors.api_key_list(tenant=tenant).select_related("tenant"), ApiKeyOutput,
                        ordering="-id")

    @extend_schema(request=KeyCreateInput, responses={201: IssuedKeyOutput, **error_responses(404)},
                   summary="Issue an API key",
                   description="The full key is in the answer, once. An unknown scope, a write key with "
                               "another scope than `write`, or an `expires_at` in the past is a 400.")
    def post(self, request: Request, slug: str) -> Response:
        tenant = selectors.tenant_get(slug=slug)
        issued = services.api_key_create(tenant=tenant, **self.validate(KeyCreateInput, request.data))
        return Response(issued_key_data(issued), status=201)


@extend_schema(tags=["platform"])
class PlatformKeyRevokeApi(PlatformApi):
    @extend_schema(request=None, responses=ApiKeyOutput, summary="Revoke an API key")
    def post(self, request: Request, prefix: str) -> Response:
        return Response(ApiKeyOutput(services.api_key_revoke(prefix=prefix)).data)


@extend_schema(tags=["tenant"])
class TenantSelfApi(TenantApi):
    @extend_schema(responses=TenantSelfOutput, summary="The calling key's tenant")
    def get(self, request: Request) -> Response:
        return Response(TenantSelfOutput(request.user.tenant).data)


class UsageOutput(serializers.Serializer):
    tenant = serializers.CharField()
    month = serializers.CharField(help_text="YYYY-MM, UTC")
    events = serializers.IntegerField(allow_null=True, help_text="Events counted against the quota this month; "
                                                                 "null when Redis is unreachable.")
    monthly_event_quota = serializers.IntegerField()


@extend_schema(tags=["platform"])
class PlatformTenantUsageApi(PlatformApi):
    @extend_schema(responses=UsageOutput, summary="A tenant's event usage this month")
    def get(self, request: Request, slug: str) -> Response:
        from datetime import datetime, timezone

        from apps.events.limits import usage_get

        tenant = selectors.tenant_get(slug=slug)
        return Response(UsageOutput({
            "tenant": tenant.slug, "month": f"{datetime.now(timezone.utc):%Y-%m}",
            "events": usage_get(tenant_id=tenant.id), "monthly_event_quota": tenant.monthly_event_quota,
        }).data)

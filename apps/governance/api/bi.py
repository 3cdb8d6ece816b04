"""BI credentials (secret key with the admin scope): PostgreSQL logins for BI tools."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api import TenantApi
from apps.core.openapi import error_responses
from apps.core.pagination import CursorPagination
from apps.governance.bi import selectors, services
from apps.governance.bi.services import (
    DEFAULT_CONNECTION_LIMIT,
    DEFAULT_STATEMENT_TIMEOUT_MS,
    MAX_CONNECTION_LIMIT,
    MAX_STATEMENT_TIMEOUT_MS,
)


class BiCredentialInput(serializers.Serializer):
    name = serializers.CharField(max_length=100, help_text="A label for people (e.g. `Metabase`).")
    statement_timeout_ms = serializers.IntegerField(
        min_value=100, max_value=MAX_STATEMENT_TIMEOUT_MS, default=DEFAULT_STATEMENT_TIMEOUT_MS,
        help_text="Statements running longer are cancelled by the server.")
    connection_limit = serializers.IntegerField(
        min_value=1, max_value=MAX_CONNECTION_LIMIT, default=DEFAULT_CONNECTION_LIMIT,
        help_text="Open connections the role may hold at once.")


class BiCredentialOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    username = serializers.CharField(help_text="The PostgreSQL role to log in as.")
    host = serializers.CharField()
    port = serializers.IntegerField()
    dbname = serializers.CharField()
    sslmode = serializers.CharField(help_text="The sslmode clients should use.")
    schema = serializers.CharField(help_text="The schema holding the views (first on the role's search_path).")
    views = serializers.ListField(child=serializers.CharField())
    statement_timeout_ms = serializers.IntegerField()
    connection_limit = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    created_by = serializers.CharField()
    rotated_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)
    active = serializers.BooleanField()


class BiCredentialSecretOutput(BiCredentialOutput):
    password = serializers.CharField(help_text="Shown once: only its SCRAM verifier is kept.")
    connection_string = serializers.CharField(help_text="A libpq URL with the password in it.")


NO_STORE = {"Cache-Control": "no-store"}  # answers that carry a password


def _out(request: Request, credential, password: str | None = None) -> dict:  # noqa: ANN001
    return services.bi_output(credential=credential, tenant=request.auth.tenant, password=password)


_EXAMPLE = OpenApiExample("Issued", response_only=True, status_codes=["201"], value={
    "id": 1, "name": "Metabase", "username": "bi_acme_k3v9q2xa", "host": "db.example.com", "port": 5432,
    "dbname": "analytics", "sslmode": "require", "schema": "bi_acme",
    "views": ["events", "persons", "sessions"], "statement_timeout_ms": 30000, "connection_limit": 5,
    "created_at": "2026-12-04T10:00:00Z", "created_by": "sk_1a2b3c4d", "rotated_at": None, "revoked_at": None,
    "active": True, "password": "…", "connection_string": "postgresql://bi_acme_k3v9q2xa:…@db.example.com:5432/"
                                                       "analytics?sslmode=require"})


@extend_schema(tags=["governance"])
class BiCredentialListApi(TenantApi):
    required_scope = "admin"
    pagination_class = CursorPagination  # documents the pages GET answers (the view pages itself)

    @extend_schema(responses=BiCredentialOutput(many=True), summary="List BI credentials (revoked ones too)")
    def get(self, request: Request) -> Response:
        paginator = CursorPagination()
        paginator.ordering = "-id"
        page = paginator.paginate_queryset(selectors.bi_credential_list(), request, view=self)
        return paginator.get_paginated_response([_out(request, c) for c in page])

    @extend_schema(request=BiCredentialInput, responses={201: BiCredentialSecretOutput, **error_responses(503)},
                   examples=[_EXAMPLE],
                   summary="Issue a BI credential: a PostgreSQL login reading this tenant's BI views")
    def post(self, request: Request) -> Response:
        data = self.validate(BiCredentialInput, request.data)
        issued = services.bi_credential_issue(tenant=request.auth.tenant, created_by=f"key {request.auth.prefix}",
                                              **data)
        return Response(_out(request, issued.credential, issued.password), status=201, headers=NO_STORE)


@extend_schema(tags=["governance"])
class BiCredentialDetailApi(TenantApi):
    required_scope = "admin"

    @extend_schema(responses=BiCredentialOutput, summary="Get a BI credential")
    def get(self, request: Request, credential_id: str) -> Response:
        return Response(_out(request, selectors.bi_credential_get(credential_id=credential_id)))

    @extend_schema(responses={200: BiCredentialOutput, **error_responses(503)},
                   summary="Revoke a BI credential: its open sessions end and its role is dropped")
    def delete(self, request: Request, credential_id: str) -> Response:
        credential = selectors.bi_credential_get(credential_id=credential_id)
        credential = services.bi_credential_revoke(tenant=request.auth.tenant, credential=credential)
        return Response(_out(request, credential))


@extend_schema(tags=["governance"])
class BiCredentialRotateApi(TenantApi):
    required_scope = "admin"

    @extend_schema(request=None, responses={200: BiCredentialSecretOutput, **error_responses(409, 503)},
                   summary="Rotate a BI credential's password (the old one stops working at once)")
    def post(self, request: Request, credential_id: str) -> Response:
        credential = selectors.bi_credential_get(credential_id=credential_id)
        issued = services.bi_credential_rotate(tenant=request.auth.tenant, credential=credential)
        return Response(_out(request, issued.credential, issued.password), headers=NO_STORE)

"""Base API classes. A view declares who may call it by its base class; lookups and tenant scoping
happen before the view runs (the routing middleware has already entered the key's schema)."""

from __future__ import annotations

import hmac
from typing import Any

from django.conf import settings
from rest_framework import authentication, exceptions, parsers, permissions, serializers
from rest_framework.request import Request
from rest_framework.views import APIView

from apps.core.scopes import InsufficientScope, required_scope
from apps.core.text import refuse_unstorable_json, refuse_unstorable_parameters


class ApiKeyPrincipal:
    """The caller of a tenant endpoint: an API key (not a Django user)."""

    is_authenticated = True

    def __init__(self, api_key: Any) -> None:
        self.api_key = api_key
        self.tenant = api_key.tenant


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """Reads the key the routing middleware already verified; never looks one up itself."""

    def authenticate(self, request: Request) -> tuple[ApiKeyPrincipal, Any] | None:
        api_key = getattr(request._request, "api_key", None)
        if api_key is None:
            return None
        return ApiKeyPrincipal(api_key), api_key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class IngestionKeyAuthentication(ApiKeyAuthentication):
    """The same, on the endpoints a write key may use too (documented as the `writeKey` scheme)."""


class HasSecretKey(permissions.BasePermission):
    message = "A secret key is required."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return bool(request.auth is not None and request.auth.kind == "secret")


class HasAnyKey(permissions.BasePermission):
    def has_permission(self, request: Request, view: APIView) -> bool:
        return request.auth is not None


class HasRequiredScope(permissions.BasePermission):
    """The key holds the scope the view requires for this method (apps.core.scopes); otherwise
    403 `insufficient_scope` naming it."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        if request.auth is None:
            return False
        scope = required_scope(view, request.method or "GET")
        key_scopes = getattr(request.auth, "scopes", None) or ()
        if scope not in key_scopes:
            raise InsufficientScope(scope, key_scopes)
        return True


class PlatformPrincipal:
    is_authenticated = True


class PlatformTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer $PLATFORM_API_TOKEN`, compared in constant time."""

    def authenticate(self, request: Request) -> tuple[PlatformPrincipal, str] | None:
        scheme, _, token = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        if not hmac.compare_digest(token.strip().encode(), settings.PLATFORM_API_TOKEN.encode()):
            raise exceptions.AuthenticationFailed("The platform token is not valid.")
        return PlatformPrincipal(), token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="platform"'


class JsonParser(parsers.JSONParser):
    """JSON bodies; what the database cannot store (apps.core.text) is a 400 naming where it is."""

    def parse(self, stream: Any, media_type: str | None = None,
              parser_context: dict[str, Any] | None = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:  # the standard library's decoder gives up around 1,000 levels
            raise exceptions.ParseError("JSON parse error - nested too deeply.") from None
        refuse_unstorable_json(data)
        return data


class BaseApi(APIView):
    parser_classes = [JsonParser]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # authentication and permissions first
        refuse_unstorable_parameters(kwargs, "path")
        refuse_unstorable_parameters(dict(request.query_params.lists()), "query")

    def validate(self, serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
        serializer = serializer_class(data=data)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)


class TenantApi(BaseApi):
    """The tenant API: a secret key holding the scope the view requires (`required_scope`, see
    apps.core.scopes); the request runs in the key's tenant schema."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasSecretKey, HasRequiredScope]
    required_scope: str | dict[str, str] | None = None


class IngestionApi(BaseApi):
    """Ingestion: a write or a secret key, holding the `write` scope for what it sends."""

    authentication_classes = [IngestionKeyAuthentication]
    permission_classes = [HasAnyKey, HasRequiredScope]
    required_scope: str | dict[str, str] | None = None


class PlatformApi(BaseApi):
    """The platform API (public schema), for the operators of the service."""

    authentication_classes = [PlatformTokenAuthentication]
    permission_classes = [permissions.IsAuthenticated]

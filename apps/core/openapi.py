"""How the project's authentication classes appear in the OpenAPI document."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "apps.core.api.ApiKeyAuthentication"
    name = "secretKey"

    def get_security_definition(self, auto_schema):  # noqa: ANN001, ANN201
        return {"type": "http", "scheme": "bearer",
                "description": "A tenant's secret key (sk_…). Write keys (wk_…) may only send events."}


class PlatformTokenScheme(OpenApiAuthenticationExtension):
    target_class = "apps.core.api.PlatformTokenAuthentication"
    name = "platformToken"

    def get_security_definition(self, auto_schema):  # noqa: ANN001, ANN201
        return {"type": "http", "scheme": "bearer", "description": "PLATFORM_API_TOKEN, for the platform API."}

"""What the OpenAPI document describes: the tenant API and the platform API."""

from django.urls import include, path

urlpatterns = [
    path("api/v1/", include("analytics_project.urls_api")),
    path("platform/v1/", include("apps.tenancy.api.urls_platform")),
]

"""The tenant REST API under /api/v1/ (secret or write key; routed by key)."""

from django.urls import include, path

urlpatterns = [
    path("", include("apps.tenancy.api.urls")),
    path("", include("apps.events.api.urls")),
    path("", include("apps.insights.api.urls")),
    path("", include("apps.metrics.api.urls")),
    path("", include("apps.segments.api.urls")),
    path("", include("apps.dashboards.api.urls")),
    path("", include("apps.alerts.api.urls")),
    path("", include("apps.reports.api.urls")),
    path("", include("apps.governance.api.urls")),
]

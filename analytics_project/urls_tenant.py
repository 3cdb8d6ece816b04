"""A tenant's URLs: the API (reached by key) and the admin console at <slug>.<BASE_DOMAIN>."""

from django.urls import include, path

from apps.core.admin_sites import tenant_admin_site
from apps.events.api.realtime import RealtimeApi
from apps.insights.api.views import SummaryApi

handler404 = "apps.core.errors.handler404"
handler500 = "apps.core.errors.handler500"

urlpatterns = [
    path("", include("apps.events.api.urls_ingest")),
    path("", include("apps.metrics.api.urls_track")),
    path("api/v1/", include("analytics_project.urls_api")),
    # Seed 003's read paths (secret key), the same views as /api/v1/summary and /api/v1/realtime.
    path("api/analytics/summary", SummaryApi.as_view(), name="seed-summary"),
    path("api/analytics/real-time", RealtimeApi.as_view(), name="seed-realtime"),
    path("admin/", tenant_admin_site.urls),
    path("", include("apps.core.urls")),
]

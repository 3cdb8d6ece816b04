"""A tenant's URLs: the API (reached by key) and the admin console at <slug>.<BASE_DOMAIN>."""

from django.urls import include, path

from apps.core.admin_sites import tenant_admin_site

handler404 = "apps.core.errors.handler404"
handler500 = "apps.core.errors.handler500"

urlpatterns = [
    path("", include("apps.events.api.urls_ingest")),
    path("", include("apps.metrics.api.urls_track")),
    path("api/v1/", include("analytics_project.urls_api")),
    path("admin/", tenant_admin_site.urls),
    path("", include("apps.core.urls")),
]

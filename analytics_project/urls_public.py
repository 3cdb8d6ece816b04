"""The public schema's URLs: platform API, public admin, API docs, health."""

from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from apps.core.admin_sites import public_admin_site
from apps.dashboards.views import share_page
from apps.reports.views import unsubscribe_page

handler404 = "apps.core.errors.handler404"
handler500 = "apps.core.errors.handler500"

urlpatterns = [
    path("platform/v1/", include("apps.tenancy.api.urls_platform")),
    path("d/<str:token>", share_page, name="dashboard-share-page"),
    path("r/unsubscribe/<str:token>", unsubscribe_page, name="report-unsubscribe"),
    path("admin/", public_admin_site.urls),
    path("api/schema/", SpectacularAPIView.as_view(urlconf="analytics_project.urls_openapi"), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
    path("", include("apps.core.urls")),
    path("", RedirectView.as_view(url="/api/docs/", permanent=False)),
]

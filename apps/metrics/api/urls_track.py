"""The typed tracking forms (apps.metrics.api.typed), mounted at the root of the tenant urlconf:
under /api/v1/track/ and, as an alias, under the seed's literal /api/analytics/track/."""

from django.urls import path

from apps.metrics.api import typed

urlpatterns = [
    path("api/v1/track/action", typed.track_action, name="track-action"),
    path("api/v1/track/api-request", typed.track_api_request, name="track-api-request"),
    path("api/v1/track/error", typed.track_error, name="track-error"),
    path("api/v1/track/system-metrics", typed.track_system_metrics, name="track-system-metrics"),
    path("api/analytics/track/action", typed.track_action),
    path("api/analytics/track/api-request", typed.track_api_request),
    path("api/analytics/track/error", typed.track_error),
    path("api/analytics/track/system-metrics", typed.track_system_metrics),
]

from django.urls import path

from apps.core import views

urlpatterns = [
    path("health/", views.health, name="health"),
    path("api/analytics/health", views.health, name="seed-health"),  # seed 003's path
    path("health/detailed", views.health_detailed, name="health-detailed"),
    path("health/live", views.health_live, name="health-live"),
    path("health/ready", views.health_ready, name="health-ready"),
    path("metrics", views.prometheus_metrics, name="metrics"),
]

from django.urls import path

from apps.alerts.api import views

urlpatterns = [
    path("alerts", views.AlertListApi.as_view(), name="alerts"),
    path("alerts/<str:alert_id>", views.AlertDetailApi.as_view(), name="alert"),
    path("alerts/<str:alert_id>/firings", views.AlertFiringListApi.as_view(), name="alert-firings"),
    path("alerts/<str:alert_id>/test", views.AlertTestApi.as_view(), name="alert-test"),
]

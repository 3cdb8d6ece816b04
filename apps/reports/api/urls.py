from django.urls import path

from apps.reports.api import views
from apps.reports.api.status import StatusApi

urlpatterns = [
    path("status", StatusApi.as_view(), name="status"),
    path("reports", views.ReportListApi.as_view(), name="reports"),
    path("reports/runs/<str:run_id>", views.RunDetailApi.as_view(), name="report-run"),
    path("reports/runs/<str:run_id>/download", views.RunDownloadApi.as_view(), name="report-run-download"),
    path("reports/<str:report_id>", views.ReportDetailApi.as_view(), name="report"),
    path("reports/<str:report_id>/subscriptions", views.SubscriptionApi.as_view(), name="report-subscriptions"),
    path("reports/<str:report_id>/run", views.RunNowApi.as_view(), name="report-run-now"),
    path("reports/<str:report_id>/runs", views.RunListApi.as_view(), name="report-runs"),
]

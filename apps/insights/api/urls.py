from django.urls import path

from apps.insights.api import views

urlpatterns = [
    path("query", views.QueryApi.as_view(), name="query"),
    path("summary", views.SummaryApi.as_view(), name="summary"),
    path("analytics/overview", views.OverviewApi.as_view(), name="analytics-overview"),
]

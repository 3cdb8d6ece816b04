from django.urls import path

from apps.insights.api import views

urlpatterns = [
    path("query", views.QueryApi.as_view(), name="query"),
]

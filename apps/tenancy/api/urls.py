from django.urls import path

from apps.tenancy.api import views

urlpatterns = [
    path("tenant", views.TenantSelfApi.as_view(), name="tenant-self"),
]

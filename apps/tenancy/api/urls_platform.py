from django.urls import path

from apps.tenancy.api import views

urlpatterns = [
    path("tenants", views.PlatformTenantListApi.as_view(), name="platform-tenants"),
    path("tenants/<slug:slug>", views.PlatformTenantDetailApi.as_view(), name="platform-tenant"),
    path("tenants/<slug:slug>/keys", views.PlatformTenantKeysApi.as_view(), name="platform-tenant-keys"),
    path("tenants/<slug:slug>/usage", views.PlatformTenantUsageApi.as_view(), name="platform-tenant-usage"),
    path("keys/<str:prefix>/revoke", views.PlatformKeyRevokeApi.as_view(), name="platform-key-revoke"),
]

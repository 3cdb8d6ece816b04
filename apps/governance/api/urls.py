from django.urls import path

from apps.governance.api import audit_views

urlpatterns: list = [
    path("audit-log", audit_views.AuditLogApi.as_view(), name="audit-log"),
]

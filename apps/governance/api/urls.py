from django.urls import path

from apps.governance.api import audit_views, bi, privacy, tracking_views

urlpatterns: list = [
    path("tracking-plan", tracking_views.TrackingPlanApi.as_view(), name="tracking-plan"),
    path("tracking-plan/events", tracking_views.EventDefinitionListApi.as_view(), name="tracking-plan-events"),
    path("tracking-plan/violations", tracking_views.ViolationListApi.as_view(), name="tracking-plan-violations"),
    path("tracking-plan/events/<path:ref>", tracking_views.EventDefinitionDetailApi.as_view(),
         name="tracking-plan-event"),
    path("bi-credentials", bi.BiCredentialListApi.as_view(), name="bi-credentials"),
    path("bi-credentials/<str:credential_id>", bi.BiCredentialDetailApi.as_view(), name="bi-credential"),
    path("bi-credentials/<str:credential_id>/rotate", bi.BiCredentialRotateApi.as_view(), name="bi-credential-rotate"),
    path("privacy/jobs", privacy.PrivacyJobListApi.as_view(), name="privacy-jobs"),
    path("privacy/jobs/<int:job_id>", privacy.PrivacyJobDetailApi.as_view(), name="privacy-job-detail"),
    path("privacy/jobs/<int:job_id>/download", privacy.PrivacyJobDownloadApi.as_view(), name="privacy-job-download"),
    path("audit-log", audit_views.AuditLogApi.as_view(), name="audit-log"),
]

from django.urls import path

from apps.governance.api import privacy

urlpatterns: list = [
    path("privacy/jobs", privacy.PrivacyJobListApi.as_view(), name="privacy-jobs"),
    path("privacy/jobs/<int:job_id>", privacy.PrivacyJobDetailApi.as_view(), name="privacy-job-detail"),
    path("privacy/jobs/<int:job_id>/download", privacy.PrivacyJobDownloadApi.as_view(), name="privacy-job-download"),
]

from django.urls import path  # noqa: F401

from apps.governance.api import bi

urlpatterns: list = [
    path("bi-credentials", bi.BiCredentialListApi.as_view(), name="bi-credentials"),
    path("bi-credentials/<str:credential_id>", bi.BiCredentialDetailApi.as_view(), name="bi-credential"),
    path("bi-credentials/<str:credential_id>/rotate", bi.BiCredentialRotateApi.as_view(), name="bi-credential-rotate"),
]

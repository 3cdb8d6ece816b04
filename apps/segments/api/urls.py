from django.urls import path

from apps.segments.api import views

urlpatterns = [
    path("segments", views.SegmentListApi.as_view(), name="segments"),
    path("segments/preview", views.SegmentPreviewApi.as_view(), name="segment-preview"),
    path("segments/<str:segment_id>", views.SegmentDetailApi.as_view(), name="segment"),
    path("segments/<str:segment_id>/rules", views.SegmentRuleListApi.as_view(), name="segment-rules"),
    path("segments/<str:segment_id>/rules/<str:rule_id>", views.SegmentRuleDetailApi.as_view(), name="segment-rule"),
    path("segments/<str:segment_id>/refresh", views.SegmentRefreshApi.as_view(), name="segment-refresh"),
    path("segments/<str:segment_id>/members", views.SegmentMembersApi.as_view(), name="segment-members"),
    path("segments/<str:segment_id>/contains/<path:distinct_id>", views.SegmentContainsApi.as_view(),
         name="segment-contains"),
]

from django.urls import path

from apps.governance.api import tracking_views

urlpatterns: list = [
    path("tracking-plan", tracking_views.TrackingPlanApi.as_view(), name="tracking-plan"),
    path("tracking-plan/events", tracking_views.EventDefinitionListApi.as_view(), name="tracking-plan-events"),
    path("tracking-plan/violations", tracking_views.ViolationListApi.as_view(), name="tracking-plan-violations"),
    path("tracking-plan/events/<path:ref>", tracking_views.EventDefinitionDetailApi.as_view(),
         name="tracking-plan-event"),
]

"""Ingestion URLs, mounted at the root of the tenant urlconf (Segment's and PostHog's paths)."""

from django.urls import path

from apps.events.api import ingest
from apps.events.api.sessions import SessionEndApi, SessionStartApi

urlpatterns = [
    path("v1/track", ingest.segment_track, name="segment-track"),
    path("v1/identify", ingest.segment_identify, name="segment-identify"),
    path("v1/page", ingest.segment_page, name="segment-page"),
    path("v1/screen", ingest.segment_screen, name="segment-screen"),
    path("v1/group", ingest.segment_group, name="segment-group"),
    path("v1/alias", ingest.segment_alias, name="segment-alias"),
    path("v1/batch", ingest.segment_batch, name="segment-batch"),
    path("api/v1/events/track", ingest.native_track, name="events-track"),
    path("api/v1/events/batch", ingest.native_batch, name="events-batch"),
    # The seed API's name for the same batch.
    path("api/v1/events/track/batch", ingest.native_batch, name="events-track-batch"),
    # The seed's paths for explicit sessions (the same views as /api/v1/sessions/...).
    path("api/analytics/session/start", SessionStartApi.as_view(), name="session-start-seed"),
    path("api/analytics/session/<str:session_id>/end", SessionEndApi.as_view(), name="session-end-seed"),
    path("batch/", ingest.posthog_capture, name="posthog-batch"),
    path("batch", ingest.posthog_capture),
    path("capture/", ingest.posthog_capture, name="posthog-capture"),
    path("capture", ingest.posthog_capture),
    path("e/", ingest.posthog_capture, name="posthog-e"),
]

"""`GET /api/v1/realtime`: the tenant's live figures, from the counters kept at ingestion
(apps.events.realtime): answered from Redis alone, whatever the size of the events table."""

from __future__ import annotations

from django.db import connection
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api import TenantApi
from apps.core.openapi import error_responses
from apps.core.scopes import SCOPE_READ
from apps.events import realtime


class _ActivePersons(serializers.Serializer):
    last_5_minutes = serializers.IntegerField(help_text="Distinct ids seen in the current minute and the 4 before.")
    last_30_minutes = serializers.IntegerField(help_text="Distinct ids seen in the 30 minutes.")


class _Minute(serializers.Serializer):
    minute = serializers.DateTimeField(help_text="The minute's start (UTC).")
    events = serializers.IntegerField()


class _TopEvent(serializers.Serializer):
    event = serializers.CharField()
    count = serializers.IntegerField()


class _TopPage(serializers.Serializer):
    page = serializers.CharField(help_text="The page event's `path`, else `url`, else `name`.")
    count = serializers.IntegerField()


class RealtimeOutput(serializers.Serializer):
    at = serializers.DateTimeField(help_text="When the figures were read (UTC).")
    window_minutes = serializers.IntegerField(help_text="30: the figures cover the current minute and the 29 before.")
    active_persons = _ActivePersons()
    events = serializers.IntegerField(help_text="Events received in the window.")
    events_per_minute = _Minute(many=True, help_text="30 minutes, oldest first, the current (partial) minute last; "
                                                     "zero where none.")
    top_events = _TopEvent(many=True, help_text="The 10 most received event names in the window.")
    top_pages = _TopPage(many=True, help_text="The 10 most viewed pages in the window.")


@extend_schema(tags=["events"])
class RealtimeApi(TenantApi):
    required_scope = SCOPE_READ

    @extend_schema(
        responses={200: RealtimeOutput, **error_responses(
            404, 503, descriptions={404: "The live view is switched off on this server (`realtime_disabled`, "
                                         "ENABLE_REAL_TIME=false)",
                                    503: "The real-time counters cannot be read just now (`realtime_unavailable`)"})},
        summary="Live figures (last 30 minutes)",
        description="Counted by the time events are received; an event whose own timestamp is more than 30 "
                    "minutes older than its receipt (a backfill) is not counted. 503 while the counters' store "
                    "is unreachable.",
    )
    def get(self, request: Request) -> Response:
        return Response(realtime.realtime_get(schema=connection.schema_name).as_dict())

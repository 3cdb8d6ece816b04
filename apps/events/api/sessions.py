"""Explicit sessions (apps.events.sessions): start one, end it. Ingestion endpoints: a write or a
secret key with the `write` scope. Also at the seed's paths, `/api/analytics/session/start` and
`/api/analytics/session/{id}/end`."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api import IngestionApi
from apps.core.openapi import error_responses
from apps.events import sessions
from apps.events.api.parsers import IngestionJsonParser
from apps.events.ingestion import MAX_ID_LENGTH


class SessionStartInput(serializers.Serializer):
    user_id = serializers.CharField(max_length=MAX_ID_LENGTH, required=False)
    anonymous_id = serializers.CharField(max_length=MAX_ID_LENGTH, required=False)
    ip_address = serializers.IPAddressField(required=False, help_text="Stored in the start event's context.ip.")
    properties = serializers.DictField(required=False, help_text="The start event's properties.")
    timestamp = serializers.CharField(max_length=64, required=False, help_text="ISO 8601; default: now.")

    def validate(self, data: dict) -> dict:
        if not data.get("user_id") and not data.get("anonymous_id"):
            raise serializers.ValidationError({"user_id": "user_id or anonymous_id is required."})
        return data


class SessionEndInput(serializers.Serializer):
    timestamp = serializers.CharField(max_length=64, required=False, help_text="ISO 8601; default: now.")


class SessionStartedOutput(serializers.Serializer):
    session_id = serializers.CharField(help_text="Send it as the session id of the session's events.")
    started_at = serializers.DateTimeField()


class SessionEndedOutput(SessionStartedOutput):
    ended_at = serializers.DateTimeField()
    duration_seconds = serializers.FloatField()


@extend_schema(tags=["sessions"])
class SessionStartApi(IngestionApi):
    parser_classes = [IngestionJsonParser]
    required_scope = "write"

    @extend_schema(request=SessionStartInput, responses={201: SessionStartedOutput, **error_responses(413, 415, 429)},
                   summary="Start a session (write key)",
                   description="Stores an event `$session_start` with the new session id. Send the id as the "
                               "`session_id` of the session's events. Also at `/api/analytics/session/start`.")
    def post(self, request: Request) -> Response:
        data = self.validate(SessionStartInput, request.data)
        session = sessions.session_start(tenant=request.auth.tenant, api_key=request.auth, **data)
        return Response(sessions.session_output(session), status=201)


@extend_schema(tags=["sessions"])
class SessionEndApi(IngestionApi):
    parser_classes = [IngestionJsonParser]
    required_scope = "write"

    @extend_schema(request=SessionEndInput, responses={200: SessionEndedOutput, **error_responses(404, 413, 415, 429)},
                   summary="End a session (write key)",
                   description="Stores an event `$session_end` (with `duration_seconds`) for the session's distinct "
                               "id. Ending an ended session answers the same again and stores nothing. Also at "
                               "`/api/analytics/session/{session_id}/end`.")
    def post(self, request: Request, session_id: str) -> Response:
        data = self.validate(SessionEndInput, request.data)  # no body: end now
        session = sessions.session_end(tenant=request.auth.tenant, api_key=request.auth, session_id=session_id, **data)
        return Response(sessions.session_output(session))

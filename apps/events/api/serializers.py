from __future__ import annotations

from rest_framework import serializers

from apps.events.models import Event


class EventOutput(serializers.ModelSerializer):
    class Meta:
        model = Event
        fields = ["id", "timestamp", "received_at", "event_type", "event", "distinct_id", "user_id", "anonymous_id",
                  "session_id", "message_id", "properties", "context"]


class PersonOutput(serializers.Serializer):
    id = serializers.IntegerField()
    distinct_ids = serializers.ListField(child=serializers.CharField())
    traits = serializers.DictField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class PrivacyJobOutput(serializers.Serializer):
    id = serializers.IntegerField()
    distinct_id = serializers.CharField()
    status = serializers.CharField()
    requested_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    distinct_ids = serializers.ListField(child=serializers.CharField())
    events_deleted = serializers.IntegerField()
    error = serializers.CharField(allow_blank=True)

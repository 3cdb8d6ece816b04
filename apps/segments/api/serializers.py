from __future__ import annotations

from rest_framework import serializers

from apps.segments.models import Segment


class SegmentOutput(serializers.ModelSerializer):
    class Meta:
        model = Segment
        fields = ["id", "name", "display_name", "description", "entity_type", "rules", "size", "refreshed_at",
                  "refresh_error", "created_at", "updated_at"]


class SegmentInput(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    display_name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")
    entity_type = serializers.CharField(required=False, default="person")
    rules = serializers.JSONField(required=False, default=None, help_text="The rule tree (a group).")


class SegmentPatch(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    display_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    entity_type = serializers.CharField(required=False)
    rules = serializers.JSONField(required=False)


class PreviewInput(serializers.Serializer):
    rules = serializers.JSONField(help_text="The rule tree (a group) to evaluate.")


class RuleOutput(serializers.Serializer):
    rule = serializers.JSONField()
    segment = SegmentOutput()


class ContainsOutput(serializers.Serializer):
    segment = serializers.CharField()
    distinct_id = serializers.CharField()
    person_id = serializers.IntegerField()
    member = serializers.BooleanField()
    refreshed_at = serializers.DateTimeField(allow_null=True)

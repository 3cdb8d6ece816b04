from __future__ import annotations

from rest_framework import serializers

from apps.governance.models import EventDefinition, PropertyDefinition, TrackingPlan, ViolationKind
from apps.governance.tracking.plan import TYPE_CHECKS


class TrackingPlanOutput(serializers.ModelSerializer):
    event_count = serializers.SerializerMethodField()
    updated_at = serializers.DateTimeField(allow_null=True, read_only=True,
                                           help_text="When the settings last changed; null before they ever were.")

    class Meta:
        model = TrackingPlan
        fields = ["mode", "enabled", "flag_unplanned_properties", "version", "event_count", "updated_at"]

    def get_event_count(self, plan: TrackingPlan) -> int:
        return EventDefinition.objects.count()


class TrackingPlanInput(serializers.Serializer):
    mode = serializers.ChoiceField(choices=TrackingPlan.Mode.values, required=False,
                                   help_text="allow: store and record; warn: also answer `warnings`; "
                                             "block: reject offending events by index.")
    enabled = serializers.BooleanField(required=False)
    flag_unplanned_properties = serializers.BooleanField(required=False)


class PropertyDefinitionIO(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    type = serializers.ChoiceField(choices=list(TYPE_CHECKS))
    required = serializers.BooleanField(default=False)
    description = serializers.CharField(max_length=5000, allow_blank=True, default="")
    allowed_values = serializers.ListField(child=serializers.JSONField(), allow_null=True, required=False,
                                           default=None, help_text="The values allowed (string, number, "
                                                                   "integer or boolean properties), or null.")


class EventDefinitionInput(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=5000, allow_blank=True, default="")
    properties = PropertyDefinitionIO(many=True, default=list)


class PropertyDefinitionOutput(serializers.ModelSerializer):
    class Meta:
        model = PropertyDefinition
        fields = ["name", "type", "required", "description", "allowed_values"]


class EventDefinitionOutput(serializers.ModelSerializer):
    properties = PropertyDefinitionOutput(many=True)

    class Meta:
        model = EventDefinition
        fields = ["id", "name", "description", "properties", "created_at", "updated_at"]


class ViolationSampleOutput(serializers.Serializer):
    message = serializers.CharField()
    received_at = serializers.DateTimeField()
    payload = serializers.JSONField(help_text="The event, trimmed: name, type, ids, time, properties.")


class ViolationSummaryOutput(serializers.Serializer):
    event = serializers.CharField()
    kind = serializers.ChoiceField(choices=ViolationKind.values)
    count = serializers.IntegerField()
    first_day = serializers.DateField()
    last_day = serializers.DateField()
    samples = ViolationSampleOutput(many=True)

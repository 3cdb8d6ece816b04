from __future__ import annotations

from rest_framework import serializers

from apps.metrics.models import Metric


class MetricOutput(serializers.ModelSerializer):
    class Meta:
        model = Metric
        fields = ["name", "display_name", "metric_type", "unit", "description", "dimensions", "tags",
                  "created_at", "updated_at"]


class MetricInput(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    metric_type = serializers.ChoiceField(choices=Metric.Type.choices)
    display_name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    unit = serializers.CharField(max_length=50, required=False, allow_blank=True, default="")
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")
    dimensions = serializers.ListField(child=serializers.CharField(max_length=64), required=False, default=list)
    tags = serializers.ListField(child=serializers.CharField(max_length=50), required=False, default=list)


class MetricPatch(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    metric_type = serializers.ChoiceField(choices=Metric.Type.choices, required=False)
    display_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    unit = serializers.CharField(max_length=50, required=False, allow_blank=True)
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    dimensions = serializers.ListField(child=serializers.CharField(max_length=64), required=False)
    tags = serializers.ListField(child=serializers.CharField(max_length=50), required=False)


class ValueInput(serializers.Serializer):
    """For the OpenAPI document; values are decoded by apps.metrics.ingestion."""

    value = serializers.FloatField()
    timestamp = serializers.DateTimeField(required=False)
    dimensions = serializers.DictField(child=serializers.CharField(), required=False)


class BatchItemInput(ValueInput):
    metric = serializers.CharField()


class BatchInput(serializers.Serializer):
    values = BatchItemInput(many=True)
    batch_id = serializers.RegexField(
        r"^[A-Za-z0-9_-]{1,64}$", required=False,
        help_text="Made by the sender: the same batch sent again (within 7 days) stores nothing.")


class RejectedOutput(serializers.Serializer):
    index = serializers.IntegerField()
    error = serializers.CharField()


class AcceptedOutput(serializers.Serializer):
    accepted = serializers.IntegerField()
    rejected = RejectedOutput(many=True)
    duplicate = serializers.BooleanField(required=False, help_text="The batch_id was seen: the first answer.")

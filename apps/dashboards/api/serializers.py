from __future__ import annotations

from rest_framework import serializers

from apps.dashboards.models import Dashboard, Widget


class WidgetOutput(serializers.ModelSerializer):
    class Meta:
        model = Widget
        fields = ["id", "name", "title", "widget_type", "query_config", "options", "position", "created_at",
                  "updated_at"]


class DashboardOutput(serializers.ModelSerializer):
    widgets = WidgetOutput(many=True, read_only=True)

    class Meta:
        model = Dashboard
        fields = ["id", "name", "display_name", "category", "description", "layout", "is_public", "owner",
                  "widgets", "created_at", "updated_at"]


class DashboardInput(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    display_name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    category = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")
    layout = serializers.JSONField(required=False, default=dict)
    is_public = serializers.BooleanField(required=False, default=False)
    owner = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class DashboardPatch(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    display_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    category = serializers.CharField(max_length=100, required=False, allow_blank=True)
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    layout = serializers.JSONField(required=False)
    is_public = serializers.BooleanField(required=False)
    owner = serializers.CharField(max_length=200, required=False, allow_blank=True)


class DuplicateInput(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    display_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    owner = serializers.CharField(max_length=200, required=False, allow_blank=True)


class FromTemplateInput(serializers.Serializer):
    template = serializers.CharField(max_length=100, help_text="A template's name (GET /api/v1/dashboards/templates).")
    name = serializers.CharField(max_length=100, required=False, help_text="Default: the template's name.")
    display_name = serializers.CharField(max_length=200, required=False, allow_blank=True)


class TemplateOutput(serializers.Serializer):
    name = serializers.CharField()
    display_name = serializers.CharField()
    description = serializers.CharField()
    category = serializers.CharField()


class WidgetInput(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    widget_type = serializers.CharField(max_length=20)
    query_config = serializers.JSONField()
    options = serializers.JSONField(required=False, default=dict)
    position = serializers.IntegerField(required=False, min_value=0, max_value=10**6)


class WidgetPatch(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    title = serializers.CharField(max_length=200, required=False, allow_blank=True)
    widget_type = serializers.CharField(max_length=20, required=False)
    query_config = serializers.JSONField(required=False)
    options = serializers.JSONField(required=False)
    position = serializers.IntegerField(required=False, min_value=0, max_value=10**6)


class DataParams(serializers.Serializer):
    refresh = serializers.BooleanField(required=False, default=False)
    date_from = serializers.CharField(required=False, max_length=64)
    date_to = serializers.CharField(required=False, max_length=64)


class ShareOutput(serializers.Serializer):
    id = serializers.IntegerField()
    prefix = serializers.CharField()
    created_at = serializers.DateTimeField()
    revoked_at = serializers.DateTimeField(allow_null=True)

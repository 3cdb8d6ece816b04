from __future__ import annotations

from rest_framework import serializers

from apps.alerts.models import AlertDelivery, AlertFiring, AlertRule

CHANNELS_HELP = ('A list of channels: {"type": "email", "address": "ops@example.com"} or {"type": "webhook", "url": '
                 '"https://hooks.example.com/analytics"}. A webhook URL must be https and resolve to public addresses '
                 "(an operator may allow hosts); a refused one is a 400 `invalid_webhook` naming why.")
DURATION_HELP = 'A number and a unit (s, m, h, d, w), e.g. "1h"'


class DurationField(serializers.JSONField):
    """Text like "30m", or a number of seconds; checked by the service."""


class AlertPatch(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    display_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    query = serializers.JSONField(required=False, help_text="A query spec of kind `trends` or `metric`, without "
                                                            "date_from/date_to (the period sets the range).")
    condition = serializers.ChoiceField(choices=AlertRule.Condition.choices, required=False)
    threshold = serializers.FloatField(required=False, allow_null=True,
                                       help_text="above/below: the bound; anomaly: the z-score (default 3) or the "
                                                 "IQR multiplier (default 1.5).")
    method = serializers.ChoiceField(choices=["zscore", "iqr"], required=False,
                                     help_text="anomaly rules only (default zscore).")
    period = DurationField(required=False, help_text=f"How far back a check looks. {DURATION_HELP}.")
    cooldown = DurationField(required=False, help_text=f"After a notified breach, how long a new breach is not "
                                                       f"notified. {DURATION_HELP}, or seconds; default 0.")
    channels = serializers.JSONField(required=False, help_text=CHANNELS_HELP)
    enabled = serializers.BooleanField(required=False)
    rotate_secret = serializers.BooleanField(required=False, default=False,
                                             help_text="Draw a new webhook signing secret (answered once, as "
                                                       "`webhook_secret`).")


class AlertInput(AlertPatch):
    name = serializers.CharField(max_length=100)
    query = serializers.JSONField(help_text="A query spec of kind `trends` or `metric`, without date_from/date_to.")
    condition = serializers.ChoiceField(choices=AlertRule.Condition.choices)
    period = DurationField(help_text=f"How far back a check looks. {DURATION_HELP}.")
    channels = serializers.JSONField(help_text=CHANNELS_HELP)
    rotate_secret = None


class AlertOutput(serializers.ModelSerializer):
    method = serializers.CharField(help_text="anomaly rules: zscore or iqr; empty otherwise.")

    class Meta:
        model = AlertRule
        fields = ["id", "name", "display_name", "query", "condition", "threshold", "method", "period", "cooldown",
                  "channels", "enabled", "state", "last_checked_at", "last_value", "last_error", "breach_since",
                  "created_at", "updated_at"]
        extra_kwargs = {"cooldown": {"help_text": "Seconds."}}


class AlertWithSecretOutput(AlertOutput):
    webhook_secret = serializers.CharField(source="secret", help_text=(
        "The key webhook bodies are signed with; answered only when the rule is created or its secret rotated."))

    class Meta(AlertOutput.Meta):
        fields = [*AlertOutput.Meta.fields, "webhook_secret"]


class AlertPatchOutput(AlertOutput):
    webhook_secret = serializers.CharField(source="secret", required=False, help_text=(
        "The new signing key: only in the answer to `rotate_secret: true`."))

    class Meta(AlertOutput.Meta):
        fields = [*AlertOutput.Meta.fields, "webhook_secret"]


class AlertDeliveryOutput(serializers.ModelSerializer):
    class Meta:
        model = AlertDelivery
        fields = ["channel", "channel_type", "target", "status", "attempts", "delivered_at", "response_status",
                  "last_error"]


class AlertFiringOutput(serializers.ModelSerializer):
    deliveries = AlertDeliveryOutput(many=True, read_only=True)

    class Meta:
        model = AlertFiring
        fields = ["id", "rule", "kind", "value", "threshold", "lower", "upper", "message", "notified", "fired_at",
                  "deliveries"]

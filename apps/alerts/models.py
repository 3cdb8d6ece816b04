"""Alerts (docs/alerts.md): a rule watches one trends or metric query; beat checks it; a breach and
its recovery are recorded as firings, each delivered once to each of the rule's channels.

Once per channel, by construction: one delivery row per (firing, channel), claimed by a conditional
UPDATE before anything is sent, marked `sent` when the mail server or the webhook accepted it.
"""

from __future__ import annotations

import secrets

from django.db import models


def webhook_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


class AlertRule(models.Model):
    class Condition(models.TextChoices):
        ABOVE = "above"
        BELOW = "below"
        ANOMALY = "anomaly"

    class Method(models.TextChoices):
        NONE = "", "none"
        ZSCORE = "zscore"
        IQR = "iqr"

    class State(models.TextChoices):
        UNKNOWN = "unknown"  # never checked yet
        OK = "ok"
        FIRING = "firing"
        ERROR = "error"  # the last check could not compute the value (last_error says why)

    name = models.CharField(max_length=100, unique=True)
    display_name = models.CharField(max_length=200, blank=True)
    # A query spec of kind trends or metric, without date_from/date_to (the period sets the range).
    query = models.JSONField()
    condition = models.CharField(max_length=10, choices=Condition.choices)
    # above/below: the bound; anomaly: the z-score (default 3) or the IQR multiplier (default 1.5).
    threshold = models.FloatField()
    method = models.CharField(max_length=10, choices=Method.choices, blank=True, default="")
    # How far back a check looks: a number and a unit (s, m, h, d, w), e.g. "1h".
    period = models.CharField(max_length=10)
    # Seconds after a notified breach during which a new breach is recorded but not notified.
    cooldown = models.PositiveIntegerField(default=0)
    # [{"type": "email", "address": ...} | {"type": "webhook", "url": ...}]
    channels = models.JSONField(default=list)
    enabled = models.BooleanField(default=True)
    # The key webhook bodies are signed with (HMAC-SHA256); shown once, when the rule is created.
    secret = models.CharField(max_length=100, default=webhook_secret, editable=False)

    # Written by the checks only (through update(), never by the API).
    state = models.CharField(max_length=10, choices=State.choices, default=State.UNKNOWN)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_value = models.FloatField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # Since when the value is in breach (null when it is not); whether that breach was notified
    # (a breach inside the cooldown is not, and neither is its recovery).
    breach_since = models.DateTimeField(null=True, blank=True)
    breach_notified = models.BooleanField(default=False)
    last_notified_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "alert_rules"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.display_name or self.name


class AlertFiring(models.Model):
    class Kind(models.TextChoices):
        BREACH = "breach"
        RECOVERY = "recovery"
        TEST = "test"

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="firings")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    value = models.FloatField(null=True, blank=True)
    threshold = models.FloatField(null=True, blank=True)
    # anomaly: the band the value was compared with.
    lower = models.FloatField(null=True, blank=True)
    upper = models.FloatField(null=True, blank=True)
    message = models.TextField()
    # False for a breach inside the cooldown (and its recovery): recorded, nothing sent.
    notified = models.BooleanField(default=True)
    fired_at = models.DateTimeField()

    class Meta:
        db_table = "alert_firings"
        ordering = ["-fired_at", "-id"]

    def __str__(self) -> str:
        return f"{self.rule}: {self.kind} @ {self.fired_at:%Y-%m-%d %H:%M}"


class AlertDelivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        SENDING = "sending"
        RETRYING = "retrying"
        SENT = "sent"
        FAILED = "failed"

    firing = models.ForeignKey(AlertFiring, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.PositiveSmallIntegerField()  # the index in the rule's channels when it fired
    channel_type = models.CharField(max_length=10)
    target = models.CharField(max_length=2048)  # the address or the URL
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    # When the current attempt claimed the delivery: one `sending` past the lease is taken over.
    started_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        db_table = "alert_deliveries"
        ordering = ["channel"]
        constraints = [models.UniqueConstraint(fields=["firing", "channel"], name="alert_delivery_per_channel")]

    def __str__(self) -> str:
        return f"{self.channel_type} {self.target}: {self.status}"

"""Dashboards (DESIGN §8): widgets, each holding a query spec of the engine."""

from __future__ import annotations

from django.db import models


class Dashboard(models.Model):
    name = models.CharField(max_length=100, unique=True)
    display_name = models.CharField(max_length=200, blank=True)
    category = models.CharField(max_length=100, blank=True)
    description = models.TextField(blank=True)
    # Free-form for clients (a grid of widget positions); the share page orders widgets by position.
    layout = models.JSONField(default=dict, blank=True)
    # A template: listed for everyone to duplicate (the API does not restrict reads by owner).
    is_public = models.BooleanField(default=False)
    owner = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "dashboards"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.display_name or self.name


class Widget(models.Model):
    class Type(models.TextChoices):
        NUMBER = "number"
        LINE = "line"
        BAR = "bar"
        TABLE = "table"
        FUNNEL = "funnel"
        RETENTION = "retention"
        GAUGE = "gauge"

    dashboard = models.ForeignKey(Dashboard, on_delete=models.CASCADE, related_name="widgets")
    name = models.CharField(max_length=100)
    title = models.CharField(max_length=200, blank=True)
    widget_type = models.CharField(max_length=20, choices=Type.choices)
    query_config = models.JSONField()
    # Per type: gauge {min, max}; number {unit}.
    options = models.JSONField(default=dict, blank=True)
    position = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "dashboard_widgets"
        ordering = ["position", "id"]
        constraints = [models.UniqueConstraint(fields=["dashboard", "name"], name="widget_name_per_dashboard")]

    def __str__(self) -> str:
        return self.title or self.name

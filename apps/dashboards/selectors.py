from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from apps.core.exceptions import NotFound
from apps.core.names import object_get, object_id
from apps.dashboards.models import Dashboard, Widget


def dashboard_list(*, category: str | None = None) -> QuerySet[Dashboard]:
    dashboards = Dashboard.objects.prefetch_related("widgets")
    return dashboards.filter(category=category) if category else dashboards


def dashboard_get(*, dashboard_id: Any) -> Dashboard:
    return object_get(Dashboard.objects.prefetch_related("widgets"), dashboard_id, "dashboard")


def widget_get(*, dashboard_id: Any, widget_id: Any) -> Widget:
    widget = Widget.objects.filter(dashboard_id=object_id(dashboard_id), pk=object_id(widget_id)).first()
    if widget is None:
        raise NotFound(f"No widget {widget_id!r} on dashboard {dashboard_id!r}.")
    return widget

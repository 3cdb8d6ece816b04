"""The insight explorer's reads and writes: run a spec through the query engine (the same call as
POST /api/v1/query) and shape what the page draws, and save a spec as a dashboard widget through
apps.dashboards.services. Nothing here computes a number: the engine does."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.text import slugify

from apps.core.exceptions import ValidationFailed
from apps.core.names import object_get
from apps.dashboards import services as dashboard_services
from apps.dashboards.models import Dashboard, Widget
from apps.events.types import FIXED_EVENT_NAMES, STORED_TYPES
from apps.insights.engine import query_run
from apps.metrics.selectors import metric_list
from apps.segments.selectors import segment_list

# The query kinds the explorer builds, and the widget types each may be drawn and saved as (a
# subset of apps.dashboards.services.KINDS; the first is the default).
EXPLORER_KINDS = ("trends", "funnel", "retention", "sessions", "metric")
WIDGET_TYPES = {
    "trends": ("line", "bar", "number", "gauge", "table"),
    "sessions": ("line", "bar", "number", "table"),
    "metric": ("line", "bar", "number", "gauge", "table"),
    "funnel": ("funnel", "table"),
    "retention": ("retention", "table"),
}
PICK_LIMIT = 500  # dashboards, metrics and segments offered in the page's pickers
# The event types a series or a step may name instead of an event (apps/insights/spec.py `event_type`,
# apps/events/types.py), as the event picker offers them; `event` is the stored name of the type's
# events where it is fixed (the property pickers then offer that event's keys).
EVENT_TYPE_LABELS = {
    "track": "any tracked event", "page": "any page view", "screen": "any screen view",
    "identify": "any identify", "alias": "any alias", "group": "any group call", "click": "any click",
    "conversion": "any conversion", "custom": "any custom event",
}
# Columns of shares (0..1) the table writes as percentages: the funnel's conversions, the sessions'
# bounce rate.
PERCENT_MEASURES = ("bounce_rate",)


def explorer_run(*, spec: Any, widget_type: Any, tenant: Any) -> dict[str, Any]:
    """The engine's answer for `spec`, the chart view apps.dashboards.services.widget_view builds
    for it as a `widget_type` widget, and a table of the same numbers (display strings). Reads
    events / metrics (cached by the engine); raises the engine's DomainError as is."""
    kind = spec.get("kind") if isinstance(spec, dict) else None
    if kind not in WIDGET_TYPES:
        raise ValidationFailed(f"The explorer builds {', '.join(EXPLORER_KINDS)} queries.",
                               details={"kind": kind})
    if widget_type not in WIDGET_TYPES[kind]:
        raise ValidationFailed(f"A {kind} query is drawn as one of {', '.join(WIDGET_TYPES[kind])}.",
                               details={"widget_type": widget_type})
    answer = query_run(data=spec, tenant=tenant)
    title = _title(spec)
    view = dashboard_services.widget_view(
        {"title": title, "widget_type": widget_type, "options": {}, "result": answer})
    return {"answer": answer, "view": view, "table": explorer_table(answer, title)}


def explorer_table(answer: dict[str, Any], title: str = "") -> dict[str, Any]:
    """The answer's numbers as rows of display strings (what the page's table shows); shares
    (funnel conversions, the sessions' bounce rate) as percentages. `percent` lists the indexes of
    the columns written so."""
    percent: list[int] = []
    if answer["kind"] == "funnel":
        columns = ["step", "event", "count", "conversion from start", "conversion from previous",
                   "median seconds from previous"]
        rows = [[i, s["event"], s["count"], s["conversion_from_start"], s["conversion_from_previous"],
                 s["median_seconds_from_previous"]] for i, s in enumerate(answer["steps"], start=1)]
        percent = [3, 4]
    else:
        grid = dashboard_services.widget_view(
            {"title": title, "widget_type": "table", "options": {}, "result": answer})
        columns, rows = grid["columns"], [list(row) for row in grid["rows"]]
        if answer["kind"] in ("trends", "sessions"):
            rows.append(["total", *[s["total"] for s in answer["series"]]])
        if answer["kind"] == "sessions":  # column 0 is the bucket, then one per series
            percent = [i + 1 for i, s in enumerate(answer["series"]) if s.get("measure") in PERCENT_MEASURES]
    return {"columns": columns, "percent": percent,
            "rows": [[percent_text(value) if i in percent else cell_text(value) for i, value in enumerate(row)]
                     for row in rows]}


def percent_text(value: Any) -> str:
    """A share (0..1) as a percentage to 2 decimals, trailing zeros dropped (0.5 -> `50%`,
    0.33333 -> `33.33%`); nothing as an en dash; a value that is not a number as cell_text writes it."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return cell_text(value)
    return f"{value * 100:.2f}".rstrip("0").rstrip(".") + "%"


def cell_text(value: Any) -> str:
    """How the table writes a value: integers whole, other numbers to 4 decimals (trailing zeros
    dropped), ISO instants as `YYYY-MM-DD HH:MM`, nothing as an en dash."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return f"{value:.4f}".rstrip("0").rstrip(".")
    text = str(value)
    if len(text) >= 16 and text[4:5] == "-" and text[10:11] == "T":
        return text[:16].replace("T", " ")
    return text


def _title(spec: dict[str, Any]) -> str:
    kind = spec.get("kind")
    if kind == "trends":
        return ", ".join(str(s.get("event") or s.get("event_type")) for s in spec.get("series", [])
                         if isinstance(s, dict))[:200] or "Trends"
    if kind == "funnel":
        return " → ".join(str(s.get("event") or s.get("event_type")) for s in spec.get("steps", [])
                          if isinstance(s, dict))[:200] or "Funnel"
    if kind == "retention":
        return f"Retention: {spec.get('start_event')} → {spec.get('return_event')}"[:200]
    if kind == "metric":
        return f"{spec.get('metric')} ({spec.get('aggregation', 'sum')})"[:200]
    return "Sessions"


# --- pickers and the saved widget -------------------------------------------------------------------


def explorer_dashboards() -> list[dict[str, Any]]:
    return [{"id": d.pk, "name": d.name, "label": str(d)}
            for d in Dashboard.objects.order_by("name")[:PICK_LIMIT]]


def explorer_metrics() -> list[dict[str, Any]]:
    return [{"name": m.name, "label": m.display_name or m.name, "type": m.metric_type, "unit": m.unit,
             "dimensions": [d for d in m.dimensions if isinstance(d, str)] if isinstance(m.dimensions, list) else []}
            for m in metric_list()[:PICK_LIMIT]]


def explorer_segments() -> list[dict[str, Any]]:
    """The tenant's segments for the segment picker: the key a query names (`segment`), a label."""
    return [{"name": s.name, "label": s.display_name or s.name, "size": s.size}
            for s in segment_list().order_by("name")[:PICK_LIMIT]]


def explorer_event_types() -> list[dict[str, Any]]:
    return [{"value": t, "label": f"{EVENT_TYPE_LABELS.get(t, t)} ({t})", "event": FIXED_EVENT_NAMES.get(t, "")}
            for t in STORED_TYPES]


def explorer_widget_get(*, widget_id: Any) -> Widget:
    return object_get(Widget.objects.select_related("dashboard"), widget_id, "widget")


def explorer_dashboard_get(*, dashboard_id: Any) -> Dashboard:
    return object_get(Dashboard.objects.all(), dashboard_id, "dashboard")


def explorer_widget_save(*, tenant: Any, spec: Any, widget_type: Any, title: Any = "", name: Any = "",
                         dashboard_id: Any = None, new_dashboard: Any = "", widget_id: Any = None) -> Widget:
    """Save `spec` as a widget: update the widget `widget_id`, or add one to the dashboard
    `dashboard_id`, or to a new dashboard called `new_dashboard` (its name the slug of that text).
    Writes the dashboard and the widget at once (a refused widget leaves no new dashboard); the
    services check the spec against the engine and the type against the kind."""
    title = title.strip()[:200] if isinstance(title, str) else ""
    name = name.strip() if isinstance(name, str) and name.strip() else slugify(title or _title(spec if isinstance(
        spec, dict) else {}))[:100]
    fields = {"name": name, "title": title, "widget_type": widget_type, "query_config": spec}
    with transaction.atomic():
        if widget_id not in (None, ""):
            widget = explorer_widget_get(widget_id=widget_id)
            return dashboard_services.widget_update(widget=widget, tenant=tenant, changes=fields)
        if dashboard_id not in (None, ""):
            dashboard = explorer_dashboard_get(dashboard_id=dashboard_id)
        else:
            label = new_dashboard.strip() if isinstance(new_dashboard, str) else ""
            if not label:
                raise ValidationFailed("Choose a dashboard or name a new one.", details={"dashboard": "missing"})
            dashboard = dashboard_services.dashboard_create(name=slugify(label)[:100] or "dashboard",
                                                            display_name=label[:200])
        return dashboard_services.widget_create(dashboard=dashboard, tenant=tenant, **fields)

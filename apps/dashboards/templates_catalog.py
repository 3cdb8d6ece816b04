"""Dashboard templates (seed 003's "executive" and "technical" dashboards): a named recipe that
looks at the tenant's own events and metrics and answers the widgets of a new dashboard, as the
same widget specs a client would send (services.dashboard_from_template checks each of them like
`widget_create` does).

What a template reads (apps/insights/queries/catalog.py, apps/metrics/queries/catalog.py): the
tenant's event names ranked by their volume over the last 30 days, whether well-known names were
seen (`$pageview`, `$error`, `$api_error`, `$request_error`), and which metrics have values in the
last 30 days, with their types and dimensions. Every read is bounded (index probes, capped counts).

Rules:
- "Product events" are the names not starting with `$`, plus `$pageview` and `$screen`; `$identify`,
  `$create_alias`, `$group` and error events are plumbing, not activity.
- Activity (active persons) is page views when the tenant has any, else its most frequent product
  event.
- The funnel's steps: page views (when there are any), then the most frequent product events in
  order of volume, 2 to 4 steps. Funnels narrow, so the more frequent event is taken to come first
  (visit, sign up, purchase).
- Retention: weekly, of the most frequent product event (start and return).
- Latency: `http.server.duration` (request tracking, by `route`) and `api_request.duration` (typed
  tracking, by `endpoint`), whichever have values; errors per hour: `$error`, `$api_error` and
  `$request_error`, those seen (all three when none was); system gauges: the `system.*` metrics
  with values. A tenant with none of those metrics gets its other metrics, the most recorded first.
- A tenant with no data yet gets widgets over event types and the well-known names: they validate,
  answer zeros, and fill in as data arrives (create the dashboard again for widgets over its own
  events).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import Any

from apps.insights.queries.catalog import EventVolume, event_volumes, events_seen
from apps.metrics.models import Metric
from apps.metrics.queries.catalog import metric_value_counts

LOOKBACK = timedelta(days=30)
ERROR_EVENTS = ("$error", "$api_error", "$request_error")
PAGE_EVENTS = ("$pageview", "$screen")
# Request latency histograms and the dimension holding the route in each.
LATENCY_METRICS = (("http.server.duration", "route"), ("api_request.duration", "endpoint"))
SYSTEM_PREFIX = "system."
MAX_SYSTEM = 6
MAX_OTHER_METRICS = 5
TOP_EVENTS = 5
MAX_FUNNEL_STEPS = 4


@dataclass
class TenantFacts:
    """What the templates know of the tenant: read on first use, at most once per build."""

    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    @cached_property
    def volumes(self) -> list[EventVolume]:
        return event_volumes(start=self.now - LOOKBACK, end=self.now, limit=20)

    @cached_property
    def seen(self) -> set[str]:
        return events_seen(names=[*PAGE_EVENTS, *ERROR_EVENTS], start=self.now - LOOKBACK, end=self.now)

    @cached_property
    def metric_counts(self) -> dict[str, int]:
        return metric_value_counts(start=self.now - LOOKBACK, end=self.now)

    @cached_property
    def metrics(self) -> dict[str, Metric]:
        return {m.name: m for m in Metric.objects.filter(name__in=list(self.metric_counts))}

    @property
    def product_events(self) -> list[EventVolume]:
        return [v for v in self.volumes if not v.event.startswith("$") or v.event in PAGE_EVENTS]

    @property
    def has_pages(self) -> bool:
        return "$pageview" in self.seen or any(v.event_type == "page" for v in self.volumes)


@dataclass(frozen=True)
class Template:
    name: str
    display_name: str
    description: str
    category: str
    build: Callable[[TenantFacts], list[dict[str, Any]]]


def _widget(name: str, title: str, widget_type: str, query: dict[str, Any], **options: Any) -> dict[str, Any]:
    return {"name": name, "title": title, "widget_type": widget_type, "query_config": query, "options": options}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "x"


def _event(name: str) -> dict[str, Any]:
    return {"event": name}


# --- executive --------------------------------------------------------------------------------------


def executive(facts: TenantFacts) -> list[dict[str, Any]]:
    """KPIs over the last 30 days: active persons, sessions (per day, bounce rate, median duration),
    events per day by type, page views, the top events, a funnel and weekly retention."""
    month = {"date_from": "-30d", "interval": "day"}
    product = facts.product_events
    if facts.has_pages:
        activity, label = {"event_type": "page_view"}, "page views"
    elif product:
        activity, label = _event(product[0].event), product[0].event
    else:
        activity, label = {"event_type": "page_view"}, "page views"
    active = {"kind": "trends", **month, "series": [{**activity, "math": "unique_persons"}]}
    widgets = [
        _widget("active-persons", f"Active persons, last 30 days ({label})", "number", active),
        _widget("active-persons-daily", f"Active persons per day ({label})", "line", active),
        _widget("sessions-daily", "Sessions per day", "line", {"kind": "sessions", **month, "measures": ["sessions"]}),
        _widget("bounce-rate", "Bounce rate, last 30 days (sessions of one event)", "number",
                {"kind": "sessions", **month, "measures": ["bounce_rate"]}),
        _widget("session-duration", "Median session duration, last 30 days", "number",
                {"kind": "sessions", **month, "measures": ["median_duration"]}, unit="s"),
    ]
    types: list[str] = []
    for volume in facts.volumes:
        if volume.event_type not in types:
            types.append(volume.event_type)
    series = [{"event_type": t} for t in types[:10]] or [{"event_type": "page_view"}, {"event_type": "track"}]
    widgets.append(_widget("events-daily", "Events per day, by type", "bar", {"kind": "trends", **month,
                                                                             "series": series}))
    if facts.has_pages:
        widgets.append(_widget("page-views", "Page views and visitors per day", "line", {
            "kind": "trends", **month,
            "series": [{"event_type": "page_view"}, {"event_type": "page_view", "math": "unique_persons"}]}))
    top = [v.event for v in product if v.event not in PAGE_EVENTS][:TOP_EVENTS] or [v.event for v in product][:1]
    if top:
        widgets.append(_widget("top-events", f"Top {len(top)} events per day", "line", {
            "kind": "trends", **month, "series": [_event(name) for name in top]}))
    steps = ([{"event_type": "page_view"}] if facts.has_pages else []) + [
        _event(v.event) for v in product if v.event not in PAGE_EVENTS]
    steps = steps[:MAX_FUNNEL_STEPS]
    if len(steps) < 2:
        steps = [{"event_type": "page_view"}, {"event_type": "conversion"}]
    widgets.append(_widget("funnel", "Conversion funnel (most frequent events first)", "funnel", {
        "kind": "funnel", "date_from": "-30d", "steps": steps, "window": "14d"}))
    retained = product[0].event if product else "$pageview"
    widgets.append(_widget("retention", f"Weekly retention ({retained})", "retention", {
        "kind": "retention", "date_from": "-8w", "start_event": retained, "return_event": retained,
        "period": "week", "periods": 8}))
    return widgets


# --- technical --------------------------------------------------------------------------------------


def _group(metric: Metric, dimension: str) -> list[str]:
    """Group by `dimension` when the metric allows it (a metric declared without dimensions takes any)."""
    return [dimension] if not metric.dimensions or dimension in metric.dimensions else []


def _metric_widgets(metric: Metric) -> list[dict[str, Any]]:
    """A metric with no template of its own: by its type, per hour over the last 7 days."""
    query = {"kind": "metric", "metric": metric.name, "date_from": "-7d", "granularity": "hour"}
    unit = f" ({metric.unit})" if metric.unit else ""
    slug = _slug(metric.name)
    if metric.metric_type == Metric.Type.HISTOGRAM:
        return [_widget(f"{slug}-p95", f"{metric.name}: p95 per hour{unit}", "line", {**query, "aggregation": "p95"})]
    if metric.metric_type == Metric.Type.COUNTER:
        return [_widget(f"{slug}-sum", f"{metric.name}: total per hour{unit}", "bar", {**query, "aggregation": "sum"})]
    return [_widget(f"{slug}-avg", f"{metric.name}: average per hour{unit}", "line", {**query, "aggregation": "avg"})]


def technical(facts: TenantFacts) -> list[dict[str, Any]]:
    """Performance over the last 7 days: request latency p50/p95 by route, requests by status, error
    events per hour and the latest errors, system gauges; else the tenant's other metrics."""
    week = {"date_from": "-7d", "granularity": "hour"}
    widgets: list[dict[str, Any]] = []
    known = False
    for name, dimension in LATENCY_METRICS:
        metric = facts.metrics.get(name)
        if metric is None:
            continue
        known = True
        slug, by_route = _slug(name), _group(metric, dimension)
        base = {"kind": "metric", "metric": name, **week, "group_by": by_route, "limit": 10}
        suffix = f" by {dimension}" if by_route else ""
        widgets += [
            _widget(f"{slug}-p50", f"Request latency p50{suffix} ({name}, ms)", "line", {**base, "aggregation": "p50"}),
            _widget(f"{slug}-p95", f"Request latency p95{suffix} ({name}, ms)", "line", {**base, "aggregation": "p95"}),
        ]
        by_status = _group(metric, "status")
        widgets.append(_widget(f"{slug}-status", f"Requests per hour{' by status' if by_status else ''} ({name})",
                               "bar", {"kind": "metric", "metric": name, **week, "aggregation": "count",
                                       "group_by": by_status}))
    errors = [name for name in ERROR_EVENTS if name in facts.seen] or list(ERROR_EVENTS)
    widgets.append(_widget("errors-hourly", "Error events per hour", "line", {
        "kind": "trends", "date_from": "-7d", "interval": "hour", "series": [_event(name) for name in errors]}))
    for name in [name for name in ERROR_EVENTS if name in facts.seen][:2]:
        widgets.append(_widget(f"latest-{_slug(name)}", f"Latest {name} events", "table", {
            "kind": "events", "date_from": "-7d", "event": name, "limit": 20}))
    system = sorted((n for n in facts.metrics if n.startswith(SYSTEM_PREFIX)),
                    key=lambda n: (-facts.metric_counts[n], n))[:MAX_SYSTEM]
    for name in system:
        known = True
        metric, slug = facts.metrics[name], _slug(name)
        widgets.append(_widget(f"{slug}-avg", f"{name}: average per hour", "line",
                               {"kind": "metric", "metric": name, **week, "aggregation": "avg"}))
        gauge = {"min": 0, "max": 100} if name.endswith("_percent") else {}
        widgets.append(_widget(f"{slug}-last", f"{name}: latest", "gauge", {
            "kind": "metric", "metric": name, "date_from": "-1d", "granularity": "hour", "aggregation": "last"},
            **gauge))
    if not known:
        others = sorted(facts.metrics, key=lambda n: (-facts.metric_counts[n], n))[:MAX_OTHER_METRICS]
        for name in others:
            widgets += _metric_widgets(facts.metrics[name])
    return widgets


TEMPLATES: dict[str, Template] = {
    template.name: template for template in (
        Template("executive", "Executive summary", "KPIs over the last 30 days: active persons, sessions, events per "
                 "day, page views, the top events, a conversion funnel and weekly retention.", "executive", executive),
        Template("technical", "Technical report", "Performance over the last 7 days: request latency by route, "
                 "requests by status, errors per hour, system gauges (or the metrics the tenant records).",
                 "technical", technical),
    )
}

"""The console's home: the tenant console's index page (`/admin/`) with the tenant's figures above
Django's app list.

- Summary: the engine's `summary` query kind (apps/insights/queries/summary.py) through
  `apps.insights.engine.query_run`, exactly as `GET /api/v1/summary` runs it (same cache), over the
  chosen range (today, 7, 30 or 90 days; 7 by default) against the previous period of the same
  length, with the top events and pages.
- Live view: apps.events.realtime's figures, drawn once here and refreshed by console/home.js from
  the events app's `/admin/realtime/data` (a 404 realtime_disabled or 503 is said in place).
- Dashboards: each one's change page and widget count, and the "Explore" link.

A user who may not view events sees none of it: only what Django shows them.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import Count
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

from apps.core.admin_sites import tenant_admin_site
from apps.core.exceptions import DomainError
from apps.dashboards.models import Dashboard
from apps.events import realtime
from apps.insights.engine import query_run

logger = logging.getLogger(__name__)

RANGES = {"today": "Today", "7d": "7 days", "30d": "30 days", "90d": "90 days"}
DEFAULT_RANGE = "7d"
REFRESH_SECONDS = 5  # how often the live view fetches /admin/realtime/data again
TOP = 5
FIGURES = (("events", "Events"), ("persons", "Persons"), ("sessions", "Sessions"), ("new_persons", "New persons"))


def range_spec(choice: str, *, zone: ZoneInfo, now: datetime | None = None) -> dict[str, str]:
    """The summary's date_from for a range choice: `today` starts at local midnight in the tenant's
    zone; the others count days back from now (as `GET /api/v1/summary?date_from=-7d`)."""
    if choice == "today":
        return {"date_from": (now or datetime.now(zone)).astimezone(zone).date().isoformat()}
    return {"date_from": f"-{choice}"}


def summary_get(*, tenant: Any, choice: str) -> dict[str, Any]:
    """The summary answer (cached by the engine), or `{"error": message}` when the engine refuses
    or cannot answer just now (busy, timed out)."""
    spec = {"kind": "summary", "top": TOP, **range_spec(choice, zone=ZoneInfo(tenant.timezone))}
    try:
        return query_run(data=spec, tenant=tenant)
    except DomainError as exc:
        return {"error": exc.message}


def change_text(change: float | None) -> str:
    """`+12.5%`, `-3%`, `0%`; `–` when there is no previous value to compare with."""
    if change is None:
        return "–"
    percent = round(change * 100, 1)
    text = f"{percent:+.1f}".rstrip("0").rstrip(".")
    return ("0" if text in ("+0", "-0") else text) + "%"


def with_change(figure: dict[str, Any]) -> dict[str, Any]:
    change = figure.get("change")
    trend = "none" if change is None else "up" if change > 0 else "down" if change < 0 else "flat"
    return {**figure, "change_text": change_text(change), "trend": trend}


def live_view(figures: dict[str, Any] | None) -> dict[str, Any]:
    """The events-per-minute chart as a chart view (the shape AnalyticsCharts.draw takes)."""
    rows = (figures or {}).get("events_per_minute") or []
    return {"title": "Events per minute", "type": "bar", "interval": "minute", "labels": [row["minute"] for row in rows],
            "series": [{"name": "events", "values": [row["events"] for row in rows]}]}


def realtime_figures() -> tuple[dict[str, Any] | None, DomainError | None]:
    try:
        return realtime.realtime_get(schema=connection.schema_name).as_dict(), None
    except DomainError as exc:  # RealtimeUnavailable (Redis down) or NotFound (ENABLE_REAL_TIME=false)
        return None, exc


def dashboards_list() -> list[dict[str, Any]]:
    dashboards = Dashboard.objects.annotate(widget_count=Count("widgets")).order_by("name")
    return [{"title": str(d), "name": d.name, "widgets": d.widget_count,
             "url": reverse("admin:dashboards_dashboard_change", args=[d.pk], current_app=tenant_admin_site.name)}
            for d in dashboards]


def explore_url() -> str:
    # The explorer is another module of this app; linked by path while its URL name is not there.
    try:
        return reverse("admin:console_explore", current_app=tenant_admin_site.name)
    except NoReverseMatch:
        return "/admin/explore/"


def home_context(request: HttpRequest) -> dict[str, Any]:
    """What the index adds to Django's context (nothing for a user who may not view events)."""
    if not request.user.has_perm("events.view_event"):
        return {}
    tenant = request.tenant
    choice = request.GET.get("range", DEFAULT_RANGE)
    if choice not in RANGES:
        choice = DEFAULT_RANGE
    summary = summary_get(tenant=tenant, choice=choice)
    figures, tops = [], {}
    if "error" not in summary:
        figures = [{"key": key, "label": label, **with_change(summary[key])} for key, label in FIGURES]
        tops = {"events": [with_change(row) for row in summary["top_events"]],
                "pages": [with_change(row) for row in summary["top_pages"]]}
    live, live_error = realtime_figures()
    return {
        "home": True,
        "home_range": choice,
        "home_ranges": list(RANGES.items()),
        "home_summary": summary,
        "home_figures": figures,
        "home_top": tops,
        "home_timezone": tenant.timezone,
        "home_live": live,
        "home_live_error": live_error.message if live_error else None,
        # Switched off on this server: the page does not ask again (Redis down: it does).
        "home_live_disabled": live_error is not None and live_error.code == "realtime_disabled",
        "home_live_view": live_view(live),
        "home_live_source": reverse("admin:events_realtime_data", current_app=tenant_admin_site.name),
        "home_refresh_seconds": REFRESH_SECONDS,
        "home_dashboards": dashboards_list() if request.user.has_perm("dashboards.view_dashboard") else None,
        "home_explore_url": explore_url(),
    }


tenant_admin_site.register_index(template="console/home.html", context=home_context)

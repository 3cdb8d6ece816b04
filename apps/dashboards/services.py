"""Dashboards (DESIGN §8): definitions, widgets checked against the query engine, their data, share
links and duplicates."""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from apps.core.exceptions import Conflict, DomainError, NotFound, ValidationFailed
from apps.core.names import check_name, object_id
from apps.dashboards.models import Dashboard, Widget
from apps.dashboards.templates_catalog import TEMPLATES, TenantFacts
from apps.insights.engine import query_check, query_run
from apps.tenancy.models import ShareLink
from apps.tenancy.selectors import tenant_current

logger = logging.getLogger(__name__)
DASHBOARD_FIELDS = ("name", "display_name", "category", "description", "layout", "is_public", "owner")
WIDGET_FIELDS = ("name", "title", "widget_type", "query_config", "options", "position")
# The query kinds each widget type can draw.
KINDS = {
    "number": {"trends", "metric", "segment_size", "sessions"},
    "line": {"trends", "metric", "segment_size", "sessions"},
    "bar": {"trends", "metric", "segment_size", "sessions"},
    "gauge": {"trends", "metric", "segment_size"},
    "table": {"trends", "metric", "segment_size", "funnel", "retention", "events", "sessions"},
    "funnel": {"funnel"},
    "retention": {"retention"},
}
MAX_WIDGETS = 50


def dashboard_create(*, name: str, **fields: Any) -> Dashboard:
    check_name(name)
    dashboard = Dashboard(name=name, **{k: v for k, v in fields.items() if k in DASHBOARD_FIELDS})
    _save(dashboard, f"A dashboard {name!r} already exists.", "dashboard_exists")
    return dashboard


def dashboard_update(*, dashboard: Dashboard, changes: dict[str, Any]) -> Dashboard:
    if "name" in changes:
        check_name(changes["name"])
    for field, value in changes.items():
        setattr(dashboard, field, value)
    _save(dashboard, f"A dashboard {dashboard.name!r} already exists.", "dashboard_exists")
    return dashboard


def dashboard_delete(*, dashboard: Dashboard) -> None:
    with transaction.atomic():
        ShareLink.objects.filter(tenant_id=tenant_current().pk, dashboard_id=dashboard.pk).delete()
        dashboard.delete()


def dashboard_duplicate(*, dashboard: Dashboard, name: str | None = None, **fields: Any) -> Dashboard:
    """A copy with copies of every widget (a template cloned); share links are not copied."""
    name = name or _free_name(f"{dashboard.name}-copy")
    with transaction.atomic():
        copied = {field: getattr(dashboard, field) for field in DASHBOARD_FIELDS if field != "name"}
        copy = dashboard_create(name=name, **{**copied, "is_public": False, **fields})
        Widget.objects.bulk_create([
            Widget(dashboard=copy, **{field: getattr(widget, field) for field in WIDGET_FIELDS})
            for widget in dashboard.widgets.all()])
    return copy


def dashboard_from_template(*, template: str, tenant: Any, name: str | None = None,
                            display_name: str | None = None, now: Any = None) -> Dashboard:
    """A new dashboard built by the template `template` (templates_catalog.TEMPLATES) over the
    current tenant's own events and metrics, its widgets checked like widget_create's; named after
    the template unless `name` is given (a taken name is a Conflict, as for any dashboard). Reads
    the tenant's event and metric catalog (bounded), writes the dashboard and its widgets at once."""
    recipe = TEMPLATES.get(template) if isinstance(template, str) else None
    if recipe is None:
        raise ValidationFailed(f"Unknown template {template!r}; the templates are {sorted(TEMPLATES)}.",
                               details={"template": template, "known": sorted(TEMPLATES)})
    name = recipe.name if name is None else name
    check_name(name)
    widgets = recipe.build(TenantFacts(now=now) if now is not None else TenantFacts())
    with transaction.atomic():
        dashboard = dashboard_create(name=name, display_name=recipe.display_name if display_name is None
                                     else display_name, category=recipe.category, description=recipe.description)
        for position, widget in enumerate(widgets, start=1):
            widget_create(dashboard=dashboard, tenant=tenant, position=position, **widget)
    return dashboard


def _free_name(base: str) -> str:
    base = base[:90]
    taken = set(Dashboard.objects.filter(name__startswith=base).values_list("name", flat=True))
    if base not in taken:
        return base
    return next(f"{base}-{n}" for n in range(2, 10**6) if f"{base}-{n}" not in taken)


def _save(obj: Any, message: str, code: str) -> None:
    try:
        with transaction.atomic():
            obj.save()
    except IntegrityError:
        raise Conflict(message, code=code) from None


def widget_check(*, widget_type: Any, query_config: Any, options: Any, tenant: Any) -> None:
    """ValidationFailed naming the field, for a widget the engine could not answer or draw."""
    if widget_type not in KINDS:
        raise ValidationFailed(f"`widget_type` must be one of {sorted(KINDS)}.", details={"widget_type": widget_type})
    if not isinstance(query_config, dict):
        raise ValidationFailed("`query_config` must be a query spec (an object).", details={"query_config": "object"})
    try:
        spec, _ = query_check(data=query_config, tenant=tenant)
    except ValidationFailed as exc:
        raise ValidationFailed(f"`query_config` is not a valid query: {exc.message}",
                               details={"query_config": exc.details}) from None
    kind = spec.__struct_config__.tag
    if kind not in KINDS[widget_type]:
        raise ValidationFailed(f"A {widget_type} widget draws {sorted(KINDS[widget_type])} queries, not {kind}.",
                               details={"query_config": {"kind": kind}})
    if not isinstance(options, dict):
        raise ValidationFailed("`options` must be an object.", details={"options": options})
    for bound in ("min", "max"):
        if bound in options and (isinstance(options[bound], bool) or not isinstance(options[bound], (int, float))):
            raise ValidationFailed(f"`options.{bound}` must be a number.", details={"options": {bound: options[bound]}})
    if isinstance(options.get("min"), (int, float)) and isinstance(options.get("max"), (int, float)) \
            and options["min"] >= options["max"]:
        raise ValidationFailed("`options.min` must be below `options.max`.", details={"options": options})


def widget_create(*, dashboard: Dashboard, tenant: Any, name: str, widget_type: str, query_config: Any,
                  title: str = "", options: Any = None, position: int | None = None) -> Widget:
    check_name(name)
    options = {} if options is None else options
    widget_check(widget_type=widget_type, query_config=query_config, options=options, tenant=tenant)
    if dashboard.widgets.count() >= MAX_WIDGETS:
        raise ValidationFailed(f"A dashboard holds at most {MAX_WIDGETS} widgets.", details={"widgets": MAX_WIDGETS})
    if position is None:
        position = (dashboard.widgets.order_by("-position").values_list("position", flat=True).first() or 0) + 1
    widget = Widget(dashboard=dashboard, name=name, title=title, widget_type=widget_type, query_config=query_config,
                    options=options, position=position)
    _save(widget, f"The dashboard already has a widget {name!r}.", "widget_exists")
    return widget


def widget_update(*, widget: Widget, tenant: Any, changes: dict[str, Any]) -> Widget:
    if "name" in changes:
        check_name(changes["name"])
    for field, value in changes.items():
        setattr(widget, field, value)
    widget_check(widget_type=widget.widget_type, query_config=widget.query_config, options=widget.options,
                 tenant=tenant)
    _save(widget, f"The dashboard already has a widget {widget.name!r}.", "widget_exists")
    return widget


def widget_delete(*, widget: Widget) -> None:
    widget.delete()


def widgets_arrange(*, dashboard: Dashboard, order: Any) -> list[Widget]:
    """Positions 1..n for the dashboard's widgets in `order` (a list of every widget id, once each);
    a ValidationFailed naming what is missing or foreign otherwise. Writes only the moved rows."""
    widgets = {w.pk: w for w in dashboard.widgets.all()}
    if (not isinstance(order, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in order)
            or sorted(order) != sorted(widgets)):
        raise ValidationFailed("`order` must list each of the dashboard's widget ids once.",
                               details={"order": order if isinstance(order, list) else None,
                                        "widgets": sorted(widgets)})
    with transaction.atomic():
        for position, widget_id in enumerate(order, start=1):
            widget = widgets[widget_id]
            if widget.position != position:
                widget.position = position
                widget.save(update_fields=["position", "updated_at"])
    return [widgets[i] for i in order]


# --- data -------------------------------------------------------------------------------------------


def dashboard_data(*, dashboard: Dashboard, tenant: Any, refresh: bool = False, date_from: str | None = None,
                   date_to: str | None = None) -> dict[str, Any]:
    """Every widget's answer from the query engine (cached there), each with `computed_at`, or its
    error: one widget failing does not fail the others. `date_from` / `date_to` override every
    widget's range; `refresh` recomputes."""
    widgets = []
    for widget in dashboard.widgets.all():
        spec = dict(widget.query_config)
        if date_from is not None:
            spec["date_from"] = date_from
        if date_to is not None:
            spec["date_to"] = date_to
        if refresh:
            spec["refresh"] = True
        entry: dict[str, Any] = {"id": widget.pk, "name": widget.name, "title": widget.title or widget.name,
                                 "widget_type": widget.widget_type, "options": widget.options}
        try:
            answer = query_run(data=spec, tenant=tenant)
            entry.update(computed_at=answer["computed_at"], cached=answer["cached"], result=answer)
        except DomainError as exc:
            entry["error"] = {"code": exc.code, "message": exc.message, "details": exc.details}
        except Exception:  # noqa: BLE001 - one widget's bug must not blank the dashboard; it is logged
            logger.exception("dashboard %s widget %s failed", dashboard.pk, widget.pk)
            entry["error"] = {"code": "error", "message": "The widget could not be computed.", "details": None}
        widgets.append(entry)
    return {"dashboard": dashboard.pk, "name": dashboard.name, "widgets": widgets}


# Sessions measures that are shares of 0..1: their views say `percent`, and the charts write them
# as percentages (the values stay the engine's).
SHARE_MEASURES = ("bounce_rate",)


def widget_view(entry: dict[str, Any]) -> dict[str, Any]:
    """What the charts (static/core/charts.js) draw for one widget entry of dashboard_data, in
    a shape per chart: series {labels, series: [{name, values}], interval, timezone} (trends,
    sessions, metric and segment_size answers), number {value, unit}, gauge {value, min, max},
    funnel {steps: [{name, count, conversion}]}, grid {periods, rows: [{label, size, cells}]},
    table {columns, rows} (with interval and timezone when its first column holds buckets)."""
    view = {"title": entry["title"], "type": entry["widget_type"]}
    if "error" in entry:
        return {**view, "error": entry["error"]["message"]}
    answer, kind = entry["result"], entry["result"]["kind"]
    widget_type = entry["widget_type"]
    if kind == "funnel":
        steps = [{"name": s["event"], "count": s["count"], "conversion": s["conversion_from_start"]}
                 for s in answer["steps"]]
        if widget_type == "funnel":
            return {**view, "steps": steps}
        return {**view, "columns": ["step", "count", "conversion"],
                "rows": [[s["name"], s["count"], s["conversion"]] for s in steps]}
    if kind == "retention":
        rows = [{"label": c["start"][:10], "size": c["size"], "cells": c["retained"]} for c in answer["cohorts"]]
        if widget_type == "retention":
            return {**view, "periods": answer["periods"], "rows": rows}
        return {**view, "columns": ["cohort", "size", *[f"+{k}" for k in range(1, answer["periods"] + 1)]],
                "rows": [[r["label"], r["size"], *r["cells"][1:]] for r in rows]}
    if kind == "events":
        return {**view, "columns": ["timestamp", "event", "distinct_id"],
                "rows": [[e["timestamp"], e["event"], e["distinct_id"]] for e in answer["results"]]}
    labels, series = _series(answer)
    # Buckets are ISO strings with their offset: the charts label them in `timezone` by `interval`.
    buckets = {"interval": answer.get("interval") or answer.get("granularity") or "day",
               "timezone": answer.get("timezone", "UTC")}
    if widget_type in ("line", "bar"):
        return {**view, **buckets, "labels": labels, "series": series}
    if widget_type == "table":
        return {**view, **buckets, "columns": ["bucket", *[s["name"] for s in series]],
                "rows": [[label, *[s["values"][i] for s in series]] for i, label in enumerate(labels)]}
    value = _number(answer, series)
    share = {"percent": True} if series and series[0].get("percent") else {}
    if widget_type == "number":
        return {**view, **share, "value": value, "unit": entry["options"].get("unit", "")}
    low = entry["options"].get("min", 0)
    high = entry["options"].get("max", value * 1.25 if value is not None and value > low else low + 1)
    return {**view, "value": value, "min": low, "max": high}


def _series(answer: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    if answer["kind"] == "segment_size":
        return answer["buckets"], [{"name": answer["segment"], "values": answer["values"]}]
    series = answer["series"]
    labels = series[0]["buckets"] if series else []
    named = []
    for s in series:
        if answer["kind"] == "metric":
            name = ", ".join(f"{k}={v}" for k, v in s["group"].items()) or answer["metric"]
        elif answer["kind"] == "sessions":
            name = s["measure"] + ("" if s.get("breakdown_value") is None else f": {s['breakdown_value']}")
        else:
            name = s["event"] + ("" if s["math"] == "total" else f" ({s['math']})")
            if s.get("breakdown_value") is not None:
                name += f": {s['breakdown_value']}"
        entry = {"name": name, "values": s["values"]}
        if answer["kind"] == "sessions" and s["measure"] in SHARE_MEASURES:
            entry["percent"] = True  # a share (0..1): the charts write it as a percentage
        named.append(entry)
    return labels, named


def _number(answer: dict[str, Any], series: list[dict[str, Any]]) -> float | int | None:
    """A trends or sessions widget's total over the range (its first series); a metric's or a
    segment's latest value."""
    if answer["kind"] in ("trends", "sessions"):
        return answer["series"][0]["total"] if answer["series"] else 0
    values = [v for v in (series[0]["values"] if series else []) if v is not None]
    return values[-1] if values else None


# --- share links ------------------------------------------------------------------------------------


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def share_create(*, dashboard: Dashboard) -> tuple[ShareLink, str]:
    """A new link; the token is returned once and only its hash is kept."""
    token = "sh_" + secrets.token_urlsafe(24)
    link = ShareLink.objects.create(tenant_id=tenant_current().pk, dashboard_id=dashboard.pk, token_hash=_hash(token),
                                    prefix=token[:10])
    return link, token


def share_list(*, dashboard: Dashboard) -> list[ShareLink]:
    return list(ShareLink.objects.filter(tenant_id=tenant_current().pk, dashboard_id=dashboard.pk))


def share_revoke(*, dashboard: Dashboard, share_id: Any) -> ShareLink:
    link = ShareLink.objects.filter(tenant_id=tenant_current().pk, dashboard_id=dashboard.pk,
                                    pk=object_id(share_id)).first()
    if link is None:
        raise NotFound(f"No share link {share_id!r} on this dashboard.")
    if link.revoked_at is None:
        link.revoked_at = timezone.now()
        link.save(update_fields=["revoked_at"])
    return link


def share_resolve(token: str) -> ShareLink | None:
    """The live link of `token` (public schema), or None."""
    if not isinstance(token, str) or not token.startswith("sh_") or len(token) > 100:
        return None
    return ShareLink.objects.select_related("tenant").filter(token_hash=_hash(token), revoked_at__isnull=True).first()


# --- the share page: served from cache while it refreshes ------------------------------------------


def _share_cache_key(dashboard: Dashboard) -> str:
    """Changes when the dashboard's widgets change, so an edit is never hidden behind old data."""
    widgets = sorted((w.pk, w.updated_at.isoformat()) for w in dashboard.widgets.all())
    version = hashlib.sha256(repr((dashboard.updated_at.isoformat(), widgets)).encode()).hexdigest()[:16]
    return f"share:data:{connection.schema_name}:{dashboard.pk}:{version}"


def share_page_data(*, dashboard: Dashboard, tenant: Any) -> dict[str, Any]:
    """The share page's data. The page is public, so its cost must not follow its visitors: the
    last computed data is served from the cache; when it is older than SHARE_PAGE_REFRESH_SECONDS
    one refresh is queued (one at a time per dashboard) and this visitor still gets the cached
    data. Only a first visit (nothing cached yet) computes, within the request's query budget."""
    key = _share_cache_key(dashboard)
    now = time.time()
    try:
        entry = cache.get(key)
    except Exception:  # noqa: BLE001 - without the cache, compute (the throttles still hold)
        logger.warning("share page cache unavailable", exc_info=True)
        entry = None
    if entry is None:
        data = dashboard_data(dashboard=dashboard, tenant=tenant)
        _share_cache_store(key, data)
        return data
    if now - entry["at"] > settings.SHARE_PAGE_REFRESH_SECONDS:
        try:
            queue = cache.add(f"{key}:refreshing", 1, timeout=max(60, settings.QUERY_TIMEOUT_MS // 1000 * 2))
        except Exception:  # noqa: BLE001
            queue = False
        if queue:
            from apps.dashboards.tasks import share_page_refresh

            share_page_refresh.delay(dashboard.pk)
    return entry["data"]


def _share_cache_store(key: str, data: dict[str, Any]) -> None:
    try:
        cache.set(key, {"at": time.time(), "data": data}, timeout=7 * 86400)
    except Exception:  # noqa: BLE001
        logger.warning("share page cache unavailable", exc_info=True)


def share_page_refresh(*, dashboard_id: int) -> bool:
    """Recompute a shared dashboard's cached data (a worker, in the tenant's schema)."""
    dashboard = Dashboard.objects.prefetch_related("widgets").filter(pk=dashboard_id).first()
    if dashboard is None:
        return False
    key = _share_cache_key(dashboard)
    try:
        _share_cache_store(key, dashboard_data(dashboard=dashboard, tenant=tenant_current(), refresh=True))
    finally:
        try:
            cache.delete(f"{key}:refreshing")
        except Exception:  # noqa: BLE001
            pass
    return True

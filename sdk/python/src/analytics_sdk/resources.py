"""The client's resources: ingestion through the batcher (`events`, the recording half of
`metrics`), and the secret-key APIs as plain requests with typed results."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from analytics_sdk import models
from analytics_sdk._batcher import Batcher
from analytics_sdk._transport import Transport

LIBRARY = {"library": {"name": "analytics-sdk-python", "version": "0.1.0"}}


def _time(value: datetime | str | None) -> str:
    if value is None:
        return datetime.now(timezone.utc).isoformat()
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware datetimes")
        return value.isoformat()
    return value


def _seg(value: Any) -> str:
    return quote(str(value), safe="")


class _Api:
    """Requests with the secret key (or the only key). Reads are retried like batches; writes are
    not, since sending one twice could do it twice."""

    def __init__(self, transport: Transport, key: str) -> None:
        self._transport, self._key = transport, key

    async def _get(self, path: str, **params: Any) -> Any:
        return await self._transport.request("GET", path, key=self._key, params=params, retry=True)

    async def _post(self, path: str, body: Any = None, **params: Any) -> Any:
        return await self._transport.request("POST", path, key=self._key, body={} if body is None else body,
                                             params=params)


class Events:
    """Events, queued and sent in batches (`/api/v1/events/batch`). Each method returns the
    messageId it gave the event; one of `distinct_id` (a known user) or `anonymous_id` is needed."""

    def __init__(self, batcher: Batcher) -> None:
        self._batcher = batcher

    async def _put(self, event_type: str, name: str, distinct_id: str | None, anonymous_id: str | None, *,
                   properties: dict[str, Any] | None = None, timestamp: datetime | str | None = None,
                   context: dict[str, Any] | None = None, message_id: str | None = None,
                   **extra: Any) -> str:
        if not distinct_id and not anonymous_id:
            raise ValueError("distinct_id or anonymous_id is required")
        message_id = message_id or str(uuid.uuid4())
        event = {"event_type": event_type, "event_name": name, "message_id": message_id,
                 "timestamp": _time(timestamp), "properties": properties or {}, "context": {**LIBRARY, **(context or {})},
                 **{k: v for k, v in (("user_id", distinct_id), ("anonymous_id", anonymous_id)) if v}, **extra}
        await self._batcher.put("events", event)
        return message_id

    async def track(self, event: str, *, distinct_id: str | None = None, anonymous_id: str | None = None,
                    properties: dict[str, Any] | None = None, timestamp: datetime | str | None = None,
                    context: dict[str, Any] | None = None, message_id: str | None = None) -> str:
        return await self._put("track", event, distinct_id, anonymous_id, properties=properties, timestamp=timestamp,
                               context=context, message_id=message_id)

    async def track_page_view(self, url: str, *, distinct_id: str | None = None, anonymous_id: str | None = None,
                              title: str | None = None, referrer: str | None = None,
                              properties: dict[str, Any] | None = None, timestamp: datetime | str | None = None) -> str:
        """A `page` event named `$pageview`, with `url`, `title` and `referrer` as properties."""
        page = {k: v for k, v in (("url", url), ("title", title), ("referrer", referrer)) if v is not None}
        return await self._put("page", "$pageview", distinct_id, anonymous_id, properties={**(properties or {}), **page},
                               timestamp=timestamp)

    async def track_click(self, element: str, *, distinct_id: str | None = None, anonymous_id: str | None = None,
                          properties: dict[str, Any] | None = None, timestamp: datetime | str | None = None) -> str:
        """A `click` event named `$click`, with the element (a selector or a name) as `element`."""
        return await self._put("click", "$click", distinct_id, anonymous_id,
                               properties={**(properties or {}), "element": element}, timestamp=timestamp)

    async def track_conversion(self, name: str, *, distinct_id: str | None = None, anonymous_id: str | None = None,
                               value: float | None = None, currency: str | None = None,
                               properties: dict[str, Any] | None = None,
                               timestamp: datetime | str | None = None) -> str:
        """A `conversion` event named `name`, with `value` and `currency` as properties."""
        money = {k: v for k, v in (("value", value), ("currency", currency)) if v is not None}
        return await self._put("conversion", name, distinct_id, anonymous_id,
                               properties={**(properties or {}), **money}, timestamp=timestamp)

    async def identify(self, distinct_id: str, traits: dict[str, Any] | None = None, *,
                       anonymous_id: str | None = None, timestamp: datetime | str | None = None) -> str:
        """Sets the person's traits; with `anonymous_id`, that visitor becomes this person."""
        return await self._put("identify", "$identify", distinct_id, anonymous_id, timestamp=timestamp,
                               traits=traits or {})

    async def alias(self, previous_id: str, distinct_id: str, *, timestamp: datetime | str | None = None) -> str:
        """`previous_id` and `distinct_id` become one person."""
        return await self._put("alias", "$create_alias", distinct_id, None, timestamp=timestamp,
                               previous_id=previous_id)


class Metrics(_Api):
    """Recording values (batched, write key) and defining and aggregating metrics (secret key)."""

    def __init__(self, transport: Transport, key: str, batcher: Batcher) -> None:
        super().__init__(transport, key)
        self._batcher = batcher

    async def record_value(self, metric: str, value: float, *, timestamp: datetime | str | None = None,
                           dimensions: dict[str, str] | None = None) -> None:
        item: dict[str, Any] = {"metric": metric, "value": value, "timestamp": _time(timestamp)}
        if dimensions:
            item["dimensions"] = dimensions
        await self._batcher.put("metrics", item)

    async def record_values(self, values: list[dict[str, Any]]) -> None:
        """Each {metric, value, timestamp?, dimensions?}."""
        for value in values:
            await self.record_value(value["metric"], value["value"], timestamp=value.get("timestamp"),
                                    dimensions=value.get("dimensions"))

    async def increment(self, metric: str, by: float = 1, *, dimensions: dict[str, str] | None = None) -> None:
        """Adds `by` to a counter (a value of `by`; the server sums them)."""
        await self.record_value(metric, by, dimensions=dimensions)

    async def set_gauge(self, metric: str, value: float, *, dimensions: dict[str, str] | None = None) -> None:
        await self.record_value(metric, value, dimensions=dimensions)

    async def record_timing(self, metric: str, milliseconds: float, *, dimensions: dict[str, str] | None = None) -> None:
        await self.record_value(metric, milliseconds, dimensions=dimensions)

    async def create_metric(self, name: str, metric_type: str = "gauge", **fields: Any) -> models.Metric:
        """`fields`: unit, description, dimensions, tags (see the API)."""
        return models.parse(models.Metric, await self._post("/api/v1/metrics",
                                                            {"name": name, "metric_type": metric_type, **fields}))

    async def get_metric(self, name: str) -> models.Metric:
        return models.parse(models.Metric, await self._get(f"/api/v1/metrics/{_seg(name)}"))

    async def aggregate(self, name: str, *, aggregation: str = "sum", granularity: str = "hour",
                        date_from: str | None = None, date_to: str | None = None, group_by: list[str] | None = None,
                        timezone: str | None = None, **params: Any) -> models.MetricAggregate:
        answer = await self._get(f"/api/v1/metrics/{_seg(name)}/aggregate", aggregation=aggregation,
                                 granularity=granularity, date_from=date_from, date_to=date_to, timezone=timezone,
                                 group_by=",".join(group_by) if group_by else None, **params)
        return models.parse(models.MetricAggregate, answer)


class Query(_Api):
    """The query engine (`POST /api/v1/query`); answers are cached by the server."""

    async def run(self, spec: dict[str, Any]) -> models.QueryResult:
        return models.parse(models.QueryResult, await self._post("/api/v1/query", spec))

    async def trends(self, series: list[dict[str, Any]], **spec: Any) -> models.QueryResult:
        return await self.run({"kind": "trends", "series": series, **spec})

    async def funnel(self, steps: list[dict[str, Any]], **spec: Any) -> models.QueryResult:
        return await self.run({"kind": "funnel", "steps": steps, **spec})

    async def retention(self, start_event: str, return_event: str, **spec: Any) -> models.QueryResult:
        return await self.run({"kind": "retention", "start_event": start_event, "return_event": return_event, **spec})


class Dashboards(_Api):
    async def create_dashboard(self, name: str, **fields: Any) -> models.Dashboard:
        return models.parse(models.Dashboard, await self._post("/api/v1/dashboards", {"name": name, **fields}))

    async def get_dashboard(self, dashboard_id: int) -> models.Dashboard:
        return models.parse(models.Dashboard, await self._get(f"/api/v1/dashboards/{_seg(dashboard_id)}"))

    async def create_widget(self, dashboard_id: int, name: str, widget_type: str, query_config: dict[str, Any],
                            **fields: Any) -> models.Widget:
        body = {"name": name, "widget_type": widget_type, "query_config": query_config, **fields}
        return models.parse(models.Widget, await self._post(f"/api/v1/dashboards/{_seg(dashboard_id)}/widgets", body))

    async def data(self, dashboard_id: int, *, refresh: bool = False, date_from: str | None = None,
                   date_to: str | None = None) -> models.DashboardData:
        answer = await self._get(f"/api/v1/dashboards/{_seg(dashboard_id)}/data", refresh="true" if refresh else None,
                                 date_from=date_from, date_to=date_to)
        return models.parse(models.DashboardData, answer)


class Reports(_Api):
    async def create_report(self, name: str, report_type: str, *, display_name: str | None = None,
                            query_config: dict[str, Any] | None = None, time_range: str | None = None,
                            formats: list[str] | None = None, **fields: Any) -> models.Report:
        """`fields`: dashboard, frequency, hour, minute, weekday, day_of_month, cron, timezone, ..."""
        body = {"name": name, "report_type": report_type, **fields}
        body.update({k: v for k, v in (("display_name", display_name), ("query_config", query_config),
                                        ("time_range", time_range), ("formats", formats)) if v is not None})
        return models.parse(models.Report, await self._post("/api/v1/reports", body))

    async def subscribe_to_report(self, report_id: int, email: str, *, user_id: str | None = None
                                  ) -> models.Subscription:
        body = {"email": email, **({"user_id": user_id} if user_id else {})}
        return models.parse(models.Subscription,
                            await self._post(f"/api/v1/reports/{_seg(report_id)}/subscriptions", body))

    async def run(self, report_id: int, *, send: bool = False) -> models.ReportRun:
        """Generates the report now (and emails the subscribers if `send`); the run starts `pending`."""
        return models.parse(models.ReportRun, await self._post(f"/api/v1/reports/{_seg(report_id)}/run",
                                                               {"send": send}))

    async def runs(self, report_id: int) -> list[models.ReportRun]:
        answer = await self._get(f"/api/v1/reports/{_seg(report_id)}/runs")
        return [models.parse(models.ReportRun, run) for run in answer["results"]]

    async def get_run(self, run_id: int) -> models.ReportRun:
        return models.parse(models.ReportRun, await self._get(f"/api/v1/reports/runs/{_seg(run_id)}"))


class Segments(_Api):
    async def create_segment(self, name: str, rules: dict[str, Any] | None = None, **fields: Any) -> models.Segment:
        body = {"name": name, **fields, **({"rules": rules} if rules is not None else {})}
        return models.parse(models.Segment, await self._post("/api/v1/segments", body))

    async def add_segment_rule(self, segment_id: int, rule: dict[str, Any], *, parent: str | None = None
                               ) -> models.Segment:
        """Adds a rule (or a group) under the top group or `parent`; returns the segment, refreshed."""
        answer = await self._post(f"/api/v1/segments/{_seg(segment_id)}/rules", rule, parent=parent)
        return models.parse(models.Segment, answer["segment"])

    async def members(self, segment_id: int, *, limit: int = 100, cursor: str | None = None
                      ) -> models.Page[models.Person]:
        """One page of members; pass the previous page's `next` as `cursor` for the following one."""
        if cursor is not None:
            answer = await self._transport.request("GET", cursor, key=self._key, retry=True)
        else:
            answer = await self._get(f"/api/v1/segments/{_seg(segment_id)}/members", limit=limit)
        return models.Page([models.parse(models.Person, p) for p in answer["results"]], answer.get("next"))


class TenantApi(_Api):
    async def get(self) -> models.Tenant:
        return models.parse(models.Tenant, await self._get("/api/v1/tenant"))

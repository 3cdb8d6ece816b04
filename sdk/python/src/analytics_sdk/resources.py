"""The client's resources. Ingestion (`events`, and the recording half of `metrics`) goes through
the batcher; the secret-key APIs are plain requests with typed results.

Only requests that are safe to repeat are retried: reads, and `query.run`, which is a POST that
only reads. Creating, subscribing and running a report are not, since a request that reached the
server before its answer was lost would be done twice."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from analytics_sdk import models
from analytics_sdk._batcher import Batcher
from analytics_sdk._transport import VERSION, Transport

Timestamp = datetime | str | None
Properties = Mapping[str, Any] | None
Dimensions = Mapping[str, str | int | float | bool] | None
LIBRARY = {"name": "analytics-sdk-python", "version": VERSION}
CLICK_EVENT = "$click"


def _time(value: Timestamp) -> str:
    """ISO 8601. Naive datetimes are refused: the server would read them as UTC, which is
    silently wrong anywhere else."""
    if value is None:
        return datetime.now(UTC).isoformat()
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware datetimes (or ISO 8601 strings)")
        return value.isoformat()
    return value


def _seg(value: Any) -> str:
    """A path segment: ids and names are quoted, so `a/b` cannot reach another route."""
    return quote(str(value), safe="")


def _given(**fields: Any) -> dict[str, Any]:
    """The fields that were given: the server's defaults stay the server's."""
    return {name: value for name, value in fields.items() if value is not None}


def _list(values: Sequence[Any] | None) -> list[Any] | None:
    return list(values) if values is not None else None


def _dict(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return dict(values) if values is not None else None


class _Api:
    """Requests with the secret key (or the only key)."""

    def __init__(self, transport: Transport, key: str) -> None:
        self._transport, self._key = transport, key

    async def _get(self, path: str, **params: Any) -> Any:
        return await self._transport.request("GET", path, key=self._key, params=params, retry=True)

    async def _post(self, path: str, body: Any, *, retry: bool = False, **params: Any) -> Any:
        return await self._transport.request("POST", path, key=self._key, body=body, params=params,
                                             retry=retry)


class Events:
    """Events, queued and sent in batches as Segment messages (`POST /v1/batch`). Each method returns
    the messageId it gave the event, and needs `distinct_id` (a known user) or `anonymous_id`."""

    def __init__(self, batcher: Batcher) -> None:
        self._batcher = batcher

    async def _queue(self, message: dict[str, Any], distinct_id: str | None, anonymous_id: str | None,
                     timestamp: Timestamp, context: Properties = None, message_id: str | None = None) -> str:
        if not distinct_id and not anonymous_id:
            raise ValueError("distinct_id or anonymous_id is required")
        message_id = message_id or str(uuid.uuid4())
        message.update(_given(userId=distinct_id or None, anonymousId=anonymous_id or None),
                       timestamp=_time(timestamp), context={"library": LIBRARY, **(context or {})},
                       messageId=message_id)
        await self._batcher.put("events", message)
        return message_id

    async def track(self, event: str, *, distinct_id: str | None = None, anonymous_id: str | None = None,
                    properties: Properties = None, timestamp: Timestamp = None, context: Properties = None,
                    message_id: str | None = None) -> str:
        """`message_id`: your own id, to make re-sending the same event (from your own retries) harmless."""
        if not isinstance(event, str) or not event.strip():
            raise ValueError("event must be a non-empty string")
        return await self._queue({"type": "track", "event": event, "properties": dict(properties or {})},
                                 distinct_id, anonymous_id, timestamp, context, message_id)

    async def track_page_view(self, url: str, *, distinct_id: str | None = None,
                              anonymous_id: str | None = None, title: str | None = None,
                              referrer: str | None = None, properties: Properties = None,
                              timestamp: Timestamp = None) -> str:
        """A Segment `page` message: stored as `$pageview`, with `url`, `title` and `referrer` properties."""
        page = {**(properties or {}), **_given(url=url, title=title, referrer=referrer)}
        return await self._queue({"type": "page", "properties": page}, distinct_id, anonymous_id, timestamp)

    async def track_click(self, element: str, *, distinct_id: str | None = None,
                          anonymous_id: str | None = None, properties: Properties = None,
                          timestamp: Timestamp = None) -> str:
        """A track event named `$click` with the element (a selector or a name of yours) as `element`.
        The `$` marks it as the SDK's, like the server's `$pageview`, so it never mixes with an
        event of your own called "Click"."""
        return await self.track(CLICK_EVENT, distinct_id=distinct_id, anonymous_id=anonymous_id,
                                properties={**(properties or {}), "element": element}, timestamp=timestamp)

    async def track_conversion(self, name: str, *, distinct_id: str | None = None,
                               anonymous_id: str | None = None, value: float | None = None,
                               currency: str | None = None, properties: Properties = None,
                               timestamp: Timestamp = None) -> str:
        """A track event named `name` with `value` and `currency` properties, so queries can sum the
        value (`math: "sum", property: "value"`) and funnels can end on it."""
        money = _given(value=value, currency=currency)
        return await self.track(name, distinct_id=distinct_id, anonymous_id=anonymous_id, timestamp=timestamp,
                                properties={**(properties or {}), **money})

    async def identify(self, distinct_id: str, traits: Properties = None, *,
                       anonymous_id: str | None = None, timestamp: Timestamp = None) -> str:
        """Merges `traits` into the person's. With `anonymous_id`, that visitor's person (and past
        events) becomes this user's."""
        message = {"type": "identify", "traits": dict(traits or {})}
        return await self._queue(message, distinct_id, anonymous_id, timestamp)

    async def alias(self, previous_id: str, distinct_id: str, *, timestamp: Timestamp = None) -> str:
        """Makes `previous_id` and `distinct_id` one person (`distinct_id` wins on traits)."""
        if not previous_id:
            raise ValueError("previous_id is required")
        return await self._queue({"type": "alias", "previousId": previous_id}, distinct_id, None, timestamp)


class Metrics(_Api):
    """Recording values (queued and batched; a write key is enough) and defining and aggregating
    metrics (secret key). A value of a metric that does not exist is refused by the server."""

    def __init__(self, transport: Transport, key: str, batcher: Batcher) -> None:
        super().__init__(transport, key)
        self._batcher = batcher

    async def record_value(self, metric: str, value: float, *, timestamp: Timestamp = None,
                           dimensions: Dimensions = None) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"value must be a number, not {type(value).__name__}")
        item: dict[str, Any] = {"metric": metric, "value": value, "timestamp": _time(timestamp)}
        if dimensions:
            item["dimensions"] = dict(dimensions)
        await self._batcher.put("metrics", item)

    async def record_values(self, values: Iterable[Mapping[str, Any] | Sequence[Any]]) -> None:
        """Each value a dict `{metric, value, timestamp?, dimensions?}` or a tuple
        `(metric, value[, timestamp[, dimensions]])`."""
        for value in values:
            if isinstance(value, Mapping):
                await self.record_value(value["metric"], value["value"], timestamp=value.get("timestamp"),
                                        dimensions=value.get("dimensions"))
            else:
                await self.record_value(*value[:2], timestamp=value[2] if len(value) > 2 else None,
                                        dimensions=value[3] if len(value) > 3 else None)

    async def increment(self, metric: str, by: float = 1, *, dimensions: Dimensions = None) -> None:
        """For a counter: the value is the increment, and aggregations sum them."""
        await self.record_value(metric, by, dimensions=dimensions)

    async def set_gauge(self, metric: str, value: float, *, dimensions: Dimensions = None) -> None:
        await self.record_value(metric, value, dimensions=dimensions)

    async def record_timing(self, metric: str, milliseconds: float, *, dimensions: Dimensions = None) -> None:
        """A duration in milliseconds, best recorded in a `histogram` metric (for percentiles)."""
        await self.record_value(metric, milliseconds, dimensions=dimensions)

    async def create_metric(self, name: str, metric_type: str = "gauge", *, display_name: str | None = None,
                            unit: str | None = None, description: str | None = None,
                            dimensions: Sequence[str] | None = None,
                            tags: Sequence[str] | None = None) -> models.Metric:
        """`metric_type`: counter, gauge or histogram; `dimensions`: the names values may carry."""
        body = {"name": name, "metric_type": metric_type, **_given(
            display_name=display_name, unit=unit, description=description,
            dimensions=_list(dimensions), tags=_list(tags))}
        return models.parse(models.Metric, await self._post("/api/v1/metrics", body))

    async def get_metric(self, name: str) -> models.Metric:
        return models.parse(models.Metric, await self._get(f"/api/v1/metrics/{_seg(name)}"))

    async def aggregate(self, name: str, *, aggregation: str = "sum", date_from: str | None = None,
                        date_to: str | None = None, granularity: str = "hour",
                        group_by: Sequence[str] | None = None,
                        dimensions: Mapping[str, str | Sequence[str]] | None = None,
                        timezone: str | None = None, limit: int | None = None,
                        refresh: bool = False) -> models.MetricAggregate:
        """`aggregation`: count sum avg min max last p50 p90 p95 p99, or rate (counters).
        `dimensions`: only values whose dimension equals the value (or any of the values)."""
        filters = {f"dimensions.{key}": [value] if isinstance(value, str) else list(value)
                   for key, value in (dimensions or {}).items()}
        answer = await self._get(f"/api/v1/metrics/{_seg(name)}/aggregate", aggregation=aggregation,
                                 granularity=granularity, date_from=date_from, date_to=date_to,
                                 timezone=timezone, group_by=",".join(group_by) if group_by else None,
                                 limit=limit, refresh="true" if refresh else None, **filters)
        return models.parse(models.MetricAggregate, answer)


class Query(_Api):
    """The query engine (`POST /api/v1/query`). `spec` fields common to every kind: date_from,
    date_to, timezone, filters, segment, refresh. The server caches answers."""

    async def run(self, spec: Mapping[str, Any]) -> models.QueryResult:
        """Any kind (`spec["kind"]`). Retried like a read, since a query changes nothing."""
        return models.parse(models.QueryResult, await self._post("/api/v1/query", dict(spec), retry=True))

    async def trends(self, series: Sequence[Mapping[str, Any]], **spec: Any) -> models.QueryResult:
        return await self.run({"kind": "trends", "series": list(series), **spec})

    async def funnel(self, steps: Sequence[Mapping[str, Any]], **spec: Any) -> models.QueryResult:
        return await self.run({"kind": "funnel", "steps": list(steps), **spec})

    async def retention(self, start_event: str, return_event: str, **spec: Any) -> models.QueryResult:
        return await self.run({"kind": "retention", "start_event": start_event, "return_event": return_event,
                               **spec})


class Dashboards(_Api):
    async def create_dashboard(self, name: str, **fields: Any) -> models.Dashboard:
        """`fields`: display_name, category, description, layout, is_public, owner."""
        answer = await self._post("/api/v1/dashboards", {"name": name, **fields})
        return models.parse(models.Dashboard, answer)

    async def get_dashboard(self, dashboard_id: int) -> models.Dashboard:
        return models.parse(models.Dashboard, await self._get(f"/api/v1/dashboards/{_seg(dashboard_id)}"))

    async def create_widget(self, dashboard_id: int, name: str, widget_type: str,
                            query_config: Mapping[str, Any], **fields: Any) -> models.Widget:
        """`widget_type`: number line bar table funnel retention gauge; `query_config`: a query spec
        the type can draw (the server checks both). `fields`: title, options, position."""
        body = {"name": name, "widget_type": widget_type, "query_config": dict(query_config), **fields}
        answer = await self._post(f"/api/v1/dashboards/{_seg(dashboard_id)}/widgets", body)
        return models.parse(models.Widget, answer)

    async def data(self, dashboard_id: int, *, refresh: bool = False, date_from: str | None = None,
                   date_to: str | None = None) -> models.DashboardData:
        """Every widget's answer (or its error); `date_from`/`date_to` override every widget's range."""
        answer = await self._get(f"/api/v1/dashboards/{_seg(dashboard_id)}/data",
                                 refresh="true" if refresh else None, date_from=date_from, date_to=date_to)
        return models.parse(models.DashboardData, answer)


class Reports(_Api):
    async def create_report(self, name: str, report_type: str, *, display_name: str | None = None,
                            query_config: Mapping[str, Any] | None = None, time_range: str | None = None,
                            formats: Sequence[str] | None = None, **fields: Any) -> models.Report:
        """`report_type`: dashboard (with `dashboard=<id>`), widgets or queries. `time_range`: 1d 7d
        30d last_week last_month; None keeps the server's default (7d, or the `time_range` of a
        metrics `query_config`). `fields`: the schedule (frequency, hour, minute, weekday,
        day_of_month, cron, timezone), description, enabled, owner."""
        body = {"name": name, "report_type": report_type, **fields, **_given(
            display_name=display_name, query_config=_dict(query_config), time_range=time_range,
            formats=_list(formats))}
        return models.parse(models.Report, await self._post("/api/v1/reports", body))

    async def subscribe_to_report(self, report_id: int, email: str, *, user_id: str | None = None
                                  ) -> models.Subscription:
        """Subscribes `email` (again, if it had unsubscribed)."""
        body = {"email": email, **_given(user_id=user_id)}
        return models.parse(models.Subscription,
                            await self._post(f"/api/v1/reports/{_seg(report_id)}/subscriptions", body))

    async def run(self, report_id: int, *, send: bool = False) -> models.ReportRun:
        """Generates the report now, and emails the subscribers if `send`. A worker does the work:
        poll `get_run` until the status is succeeded or failed."""
        answer = await self._post(f"/api/v1/reports/{_seg(report_id)}/run", {"send": send})
        return models.parse(models.ReportRun, answer)

    async def runs(self, report_id: int, *, limit: int = 50) -> list[models.ReportRun]:
        """The newest `limit` runs, newest first."""
        answer = await self._get(f"/api/v1/reports/{_seg(report_id)}/runs", limit=limit)
        return [models.parse(models.ReportRun, run) for run in answer["results"]]

    async def get_run(self, run_id: int) -> models.ReportRun:
        return models.parse(models.ReportRun, await self._get(f"/api/v1/reports/runs/{_seg(run_id)}"))


class Segments(_Api):
    async def create_segment(self, name: str, rules: Mapping[str, Any] | None = None,
                             **fields: Any) -> models.Segment:
        """`rules`: the rule tree (a group); none means everyone. Members are computed at once.
        `fields`: display_name, description."""
        body = {"name": name, **fields, **_given(rules=_dict(rules))}
        return models.parse(models.Segment, await self._post("/api/v1/segments", body))

    async def add_segment_rule(self, segment_id: int, rule: Mapping[str, Any], *, parent: str | None = None
                               ) -> models.Segment:
        """Adds a rule or a group under the top group, or under the group `parent` (a node id from
        `segment.rules`). Returns the segment with its recomputed size."""
        answer = await self._post(f"/api/v1/segments/{_seg(segment_id)}/rules", dict(rule), parent=parent)
        return models.parse(models.Segment, answer["segment"])

    async def members(self, segment_id: int, *, limit: int = 100, cursor: str | None = None
                      ) -> models.Page[models.Person]:
        """One page of members. `cursor`: the `next` of the previous page."""
        if cursor:  # only the path and query: the server's idea of its own host may not be ours
            parts = urlsplit(cursor)
            answer = await self._get(f"{parts.path}?{parts.query}")
        else:
            answer = await self._get(f"/api/v1/segments/{_seg(segment_id)}/members", limit=limit)
        people = [models.parse(models.Person, person) for person in answer["results"]]
        return models.Page(people, answer.get("next"))

    async def iter_members(self, segment_id: int, *, limit: int = 100) -> AsyncIterator[models.Person]:
        """Every member, page after page."""
        page = await self.members(segment_id, limit=limit)
        while True:
            for person in page.results:
                yield person
            if not page.next:
                return
            page = await self.members(segment_id, cursor=page.next)


class TenantApi(_Api):
    async def get(self) -> models.Tenant:
        """The key's tenant."""
        return models.parse(models.Tenant, await self._get("/api/v1/tenant"))

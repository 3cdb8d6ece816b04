"""The client's resources. Ingestion (`events`, and the recording half of `metrics`) goes through
the batcher; the secret-key APIs are plain requests with typed results.

Only requests that are safe to repeat are retried: reads, and `query.run`, which is a POST that
only reads. Creating, subscribing and running a report are not, since a request that reached the
server before its answer was lost would be done twice."""

from __future__ import annotations

import uuid
import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from analytics_sdk import errors, models
from analytics_sdk._batcher import Batcher
from analytics_sdk._transport import VERSION, Transport
from analytics_sdk.models.enums import EventType, plain, to_report_type, to_rule_operator

Timestamp = datetime | str | None
Properties = Mapping[str, Any] | None
Dimensions = Mapping[str, str | int | float | bool] | None
LIBRARY = {"name": "analytics-sdk-python", "version": VERSION}
CLICK_EVENT = "$click"
Guard = Callable[[], Awaitable[None]]
# A seed event type the server stores under another (the server's own names pass through): the
# type sent, and the event name it gets. The seed's event_name then goes in properties.name, as
# Segment's page and screen calls do.
_TYPE_ALIASES = {"page_view": ("page", "$pageview"), "screen_view": ("screen", "$screen")}
# The names the SDK gives events of a type when the caller gives none.
_DEFAULT_NAMES = {"page": "$pageview", "screen": "$screen", "click": CLICK_EVENT, "conversion": "$conversion",
                  "identify": "$identify", "alias": "$create_alias", "group": "$group"}
# What a metric convenience call implies, for creating a metric that does not exist yet.
IMPLIED = {"increment": ("counter", None), "set_gauge": ("gauge", None), "record_timing": ("histogram", "ms")}


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
    return quote(str(plain(value)), safe="")


def _when(value: Timestamp) -> str | None:
    """A range bound as the server takes it: an aware datetime as ISO 8601, text as it is."""
    return None if value is None else _time(value)


def _user(distinct_id: str | None, user_id: str | None) -> str | None:
    return _pick("distinct_id", distinct_id, user_id, "user_id")


def _pick(name: str, ours: Any, seeds: Any, seed_name: str) -> Any:
    """One value given under our name or the seed API's, not both."""
    if ours is not None and seeds is not None:
        raise TypeError(f"give {name} or {seed_name}, not both")
    return ours if ours is not None else seeds


def _given(**fields: Any) -> dict[str, Any]:
    """The fields that were given: the server's defaults stay the server's."""
    return {name: value for name, value in fields.items() if value is not None}


def _list(values: Sequence[Any] | None) -> list[Any] | None:
    return list(values) if values is not None else None


def _dict(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return dict(values) if values is not None else None


class _Api:
    """Requests with the secret key (or the only key). `guard` runs before each request: the
    client's check that the key belongs to the tenant it was given."""

    def __init__(self, transport: Transport, key: str, guard: Guard | None = None) -> None:
        self._transport, self._key, self._guard = transport, key, guard

    async def _get(self, path: str, **params: Any) -> Any:
        if self._guard is not None:
            await self._guard()
        params = {name: plain(value) for name, value in params.items()}
        return await self._transport.request("GET", path, key=self._key, params=params, retry=True)

    async def _post(self, path: str, body: Any, *, retry: bool = False, **params: Any) -> Any:
        if self._guard is not None:
            await self._guard()
        return await self._transport.request("POST", path, key=self._key, body=body, params=params,
                                             retry=retry)


class Events(_Api):
    """Events, queued and sent in batches to the native endpoint (`POST /api/v1/events/batch`), which
    stores each event's type. Each method returns the message id it gave the event.

    The user is `distinct_id` (or the seed API's `user_id`, the same) or `anonymous_id`. With
    neither, the event is the client's own anonymous visitor: an id made once per client
    (`client.events.anonymous_id`)."""

    def __init__(self, batcher: Batcher, transport: Transport, key: str, guard: Guard | None = None) -> None:
        super().__init__(transport, key, guard)
        self._batcher = batcher
        self.anonymous_id = f"anon-{uuid.uuid4()}"

    async def _queue(self, event_type: str, name: str, *, distinct_id: str | None, anonymous_id: str | None,
                     timestamp: Timestamp, properties: Properties = None, context: Properties = None,
                     message_id: str | None = None, session_id: str | None = None,
                     **extra: Any) -> str:
        if not distinct_id and not anonymous_id:
            anonymous_id = self.anonymous_id
        message_id = message_id or str(uuid.uuid4())
        event = {"event_type": event_type, "event_name": name, **_given(
            user_id=distinct_id or None, anonymous_id=anonymous_id or None, session_id=session_id or None),
            "properties": dict(properties or {}), "context": {"library": LIBRARY, **(context or {})},
            "timestamp": _time(timestamp), "message_id": message_id, **extra}
        await self._batcher.put("events", event)
        return message_id

    async def track(self, event: str | None = None, *, distinct_id: str | None = None,
                    anonymous_id: str | None = None, properties: Properties = None,
                    timestamp: Timestamp = None,
                    context: Properties = None, message_id: str | None = None,
                    event_type: EventType | str | None = None, event_name: str | None = None,
                    user_id: str | None = None, session_id: str | None = None) -> str:
        """An event named `event` (or `event_name`), of type `event_type` (default track; see
        EventType: page_view and screen_view are stored as the server's page and screen, named
        $pageview and $screen, with the name in `properties.name`). `message_id`: your own id, to
        make re-sending the same event (from your own retries) harmless."""
        name = _pick("event", event, event_name, "event_name")
        kind = plain(event_type) or "track"
        if not isinstance(kind, str):
            raise ValueError("event_type must be a string or an EventType")
        properties = dict(properties or {})
        if kind in _TYPE_ALIASES:
            kind, stored = _TYPE_ALIASES[kind]
            if name is not None:
                properties.setdefault("name", name)
            name = stored
        elif name is None:
            name = _DEFAULT_NAMES.get(kind)
        if not isinstance(name, str) or not name.strip():
            raise ValueError("event (or event_name) must be a non-empty string")
        return await self._queue(kind, name, distinct_id=_user(distinct_id, user_id),
                                 anonymous_id=anonymous_id, timestamp=timestamp, properties=properties,
                                 context=context, message_id=message_id, session_id=session_id)

    async def track_page_view(self, url: str | None = None, *, distinct_id: str | None = None,
                              anonymous_id: str | None = None, title: str | None = None,
                              referrer: str | None = None, properties: Properties = None,
                              timestamp: Timestamp = None, page_url: str | None = None,
                              user_id: str | None = None, session_id: str | None = None,
                              context: Properties = None) -> str:
        """A page view: type page, stored as `$pageview`, with `url`, `title` and `referrer` properties.
        `page_url` is the seed API's name for `url`."""
        url = _pick("url", url, page_url, "page_url")
        if not url:
            raise ValueError("url (or page_url) is required")
        page = {**(properties or {}), **_given(url=url, title=title, referrer=referrer)}
        return await self._queue("page", "$pageview", distinct_id=_user(distinct_id, user_id),
                                 anonymous_id=anonymous_id, timestamp=timestamp, properties=page,
                                 context=context, session_id=session_id)

    async def track_click(self, element: str, *, distinct_id: str | None = None,
                          anonymous_id: str | None = None, properties: Properties = None,
                          timestamp: Timestamp = None, user_id: str | None = None,
                          session_id: str | None = None, context: Properties = None) -> str:
        """A click: type click, named `$click`, with the element (a selector or a name of yours) as
        `element`. The `$` marks it as the SDK's, like the server's `$pageview`, so it never mixes
        with an event of your own called "Click"."""
        return await self._queue("click", CLICK_EVENT, distinct_id=_user(distinct_id, user_id),
                                 anonymous_id=anonymous_id, timestamp=timestamp,
                                 properties={**(properties or {}), "element": element}, context=context,
                                 session_id=session_id)

    async def track_conversion(self, name: str, *, distinct_id: str | None = None,
                               anonymous_id: str | None = None, value: float | None = None,
                               currency: str | None = None, properties: Properties = None,
                               timestamp: Timestamp = None, user_id: str | None = None,
                               session_id: str | None = None, context: Properties = None) -> str:
        """A conversion: type conversion, named `name`, with `value` and `currency` properties, so
        queries can sum the value (`math: "sum", property: "value"`) and funnels can end on it."""
        if not isinstance(name, str) or not name.strip():
            raise ValueError("name must be a non-empty string")
        money = _given(value=value, currency=currency)
        return await self._queue("conversion", name, distinct_id=_user(distinct_id, user_id),
                                 anonymous_id=anonymous_id, timestamp=timestamp,
                                 properties={**(properties or {}), **money}, context=context,
                                 session_id=session_id)

    async def identify(self, distinct_id: str | None = None, traits: Properties = None, *,
                       anonymous_id: str | None = None, timestamp: Timestamp = None,
                       user_id: str | None = None) -> str:
        """Merges `traits` into the person's. With `anonymous_id`, that visitor's person (and past
        events) becomes this user's."""
        distinct_id = _user(distinct_id, user_id)
        if not distinct_id:
            raise ValueError("distinct_id (or user_id) is required")
        return await self._queue("identify", "$identify", distinct_id=distinct_id, anonymous_id=anonymous_id,
                                 timestamp=timestamp, traits=dict(traits or {}))

    async def alias(self, previous_id: str, distinct_id: str, *, timestamp: Timestamp = None) -> str:
        """Makes `previous_id` and `distinct_id` one person (`distinct_id` wins on traits)."""
        if not previous_id or not distinct_id:
            raise ValueError("previous_id and distinct_id are required")
        return await self._queue("alias", "$create_alias", distinct_id=distinct_id, anonymous_id=None,
                                 timestamp=timestamp, previous_id=previous_id)

    async def get_events(self, *, event_type: EventType | str | None = None, event_name: str | None = None,
                         user_id: str | None = None, start_time: Timestamp = None, end_time: Timestamp = None,
                         properties: Mapping[str, str] | None = None, limit: int = 100) -> list[models.Event]:
        """Stored events, newest first, at most `limit` (secret key; `GET /api/v1/events`).
        `event_type` is a seed type or the server's (page_view reads the server's page events);
        `user_id` is any of the person's distinct ids; `start_time` and `end_time` bound the time
        ([start, end)); `properties`: property equals value."""
        await self._batcher.wait(("events",))  # read your own writes: what this client queued is sent
        kind = plain(event_type)
        kind = _TYPE_ALIASES.get(kind, (kind,))[0]
        params: dict[str, Any] = {"event_type": kind, "event": event_name, "distinct_id": user_id,
                                  "date_from": _when(start_time), "date_to": _when(end_time),
                                  "limit": min(limit, 1000),
                                  **{f"properties.{k}": v for k, v in (properties or {}).items()}}
        answer = await self._get("/api/v1/events", **params)
        found = [models.parse(models.Event, event) for event in answer["results"]]
        while answer.get("next") and len(found) < limit:
            parts = urlsplit(answer["next"])
            answer = await self._get(f"{parts.path}?{parts.query}")
            found += [models.parse(models.Event, event) for event in answer["results"]]
        return found[:limit]

    async def funnel_analysis(self, funnel_steps: Sequence[EventType | str | Mapping[str, Any]], *,
                              start_time: Timestamp = None, end_time: Timestamp = None,
                              window: str | None = None, **spec: Any) -> models.QueryResult:
        """A funnel (`POST /api/v1/query`, kind funnel) over [start_time, end_time). A step that is an
        EventType value (page_view, click, ...) is an event of that type (`{"event_type": ...}`);
        any other text is an event name; a mapping is a step as the query API takes it."""
        await self._batcher.wait(("events",))  # read your own writes
        types = {member.value for member in EventType}
        steps = [dict(step) if isinstance(step, Mapping) else
                 {"event_type": plain(step)} if plain(step) in types else {"event": plain(step)}
                 for step in funnel_steps]
        body = {"kind": "funnel", "steps": steps,
                **_given(date_from=_when(start_time), date_to=_when(end_time), window=window), **spec}
        return models.parse(models.QueryResult, await self._post("/api/v1/query", body, retry=True))


class Metrics(_Api):
    """Recording values (queued and batched; a write key is enough) and defining and aggregating
    metrics (secret key). A value of a metric that does not exist is refused by the server; the
    convenience calls (`increment`, `set_gauge`, `record_timing`) then create the metric once, with
    the type they imply, and send the value again (this needs a secret key)."""

    def __init__(self, transport: Transport, key: str, batcher: Batcher, guard: Guard | None = None) -> None:
        super().__init__(transport, key, guard)
        self._batcher = batcher
        self._implied: dict[str, tuple[str, str | None]] = {}
        self._created: dict[str, bool] = {}  # metric name -> created (or found); False: could not
        self._why: dict[str, str] = {}  # metric name -> why it could not be created
        self._lock = asyncio.Lock()
        batcher.recover = self._recover

    async def record_value(self, metric: str | None = None, value: float | None = None, *,
                           timestamp: Timestamp = None, dimensions: Dimensions = None,
                           metric_id: str | None = None) -> None:
        """`metric_id` is the seed API's name for `metric`."""
        metric = _pick("metric", metric, metric_id, "metric_id")
        if not isinstance(metric, str) or not metric:
            raise ValueError("metric (or metric_id) is required")
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

    async def increment(self, metric: str, by: float | None = None, *, value: float | None = None,
                        dimensions: Dimensions = None, timestamp: Timestamp = None) -> None:
        """For a counter: the value (`by`, or the seed API's `value`; default 1) is the increment,
        and aggregations sum them."""
        self._implied.setdefault(metric, IMPLIED["increment"])
        amount = _pick("by", by, value, "value")
        await self.record_value(metric, 1 if amount is None else amount, dimensions=dimensions,
                                timestamp=timestamp)

    async def set_gauge(self, metric: str, value: float, *, dimensions: Dimensions = None,
                        timestamp: Timestamp = None) -> None:
        self._implied.setdefault(metric, IMPLIED["set_gauge"])
        await self.record_value(metric, value, dimensions=dimensions, timestamp=timestamp)

    async def record_timing(self, metric: str, milliseconds: float | None = None, *,
                            duration_ms: float | None = None, dimensions: Dimensions = None,
                            timestamp: Timestamp = None) -> None:
        """A duration in milliseconds (`milliseconds`, or the seed API's `duration_ms`), best
        recorded in a `histogram` metric (for percentiles)."""
        self._implied.setdefault(metric, IMPLIED["record_timing"])
        await self.record_value(metric, _pick("milliseconds", milliseconds, duration_ms, "duration_ms"),
                                dimensions=dimensions, timestamp=timestamp)

    async def _recover(self, channel: str, items: list[bytes], rejected: list[dict[str, Any]]) -> set[int]:
        """The batcher's hook: values refused because their metric does not exist, of a metric a
        convenience call implied, are sent again once the metric is created. Returns their indexes.
        A metric that cannot be created (a write key: 403) is tried once per client; its values stay
        refused, and their reason says why."""
        if channel != "metrics":
            return set()
        again: set[int] = set()
        for refusal in rejected:
            index = refusal.get("index")
            if not isinstance(index, int) or not 0 <= index < len(items) \
                    or not str(refusal.get("error", "")).startswith("No metric "):
                continue
            name = json.loads(items[index]).get("metric")
            if name not in self._implied:
                continue
            created = await self._ensure(name)
            if created is True:
                again.add(index)
            else:
                refusal["error"] = f"{refusal.get('error')} The SDK could not create it: {created}"
        return again

    async def _ensure(self, name: str) -> bool | str:
        """True once the metric exists; else why it could not be created."""
        async with self._lock:
            if name not in self._created:
                metric_type, unit = self._implied[name]
                try:
                    await self.create_metric(name, metric_type, unit=unit)
                    self._created[name] = True
                except errors.ConflictError:
                    self._created[name] = True  # made meanwhile, by us or someone else
                except errors.AnalyticsError as error:
                    self._created[name] = False
                    self._why[name] = str(error)
            return True if self._created[name] else self._why[name]

    async def create_metric(self, name: str, metric_type: str = "gauge", *, display_name: str | None = None,
                            unit: str | None = None, description: str | None = None,
                            dimensions: Sequence[str] | None = None,
                            tags: Sequence[str] | None = None) -> models.Metric:
        """`metric_type`: counter, gauge or histogram (or a MetricType); `dimensions`: the names
        values may carry."""
        body = {"name": name, "metric_type": plain(metric_type), **_given(
            display_name=display_name, unit=unit, description=description,
            dimensions=_list(dimensions), tags=_list(tags))}
        return models.parse(models.Metric, await self._post("/api/v1/metrics", body))

    async def get_metric(self, name: str) -> models.Metric:
        return models.parse(models.Metric, await self._get(f"/api/v1/metrics/{_seg(name)}"))

    async def aggregate(self, name: str | None = None, *, aggregation: str | None = None,
                        date_from: str | None = None, date_to: str | None = None, granularity: str = "hour",
                        group_by: Sequence[str] | None = None,
                        dimensions: Mapping[str, str | Sequence[str]] | None = None,
                        timezone: str | None = None, limit: int | None = None,
                        refresh: bool = False, metric_id: str | None = None,
                        aggregation_method: str | None = None, start_time: Timestamp = None,
                        end_time: Timestamp = None) -> models.MetricAggregate:
        """`aggregation` (or the seed API's `aggregation_method`, an AggregationMethod): count sum
        avg min max last p50 p90 p95 p99, or rate (counters); default sum. `date_from`/`date_to`
        (relative like "-1d", or ISO 8601), or the seed API's `start_time`/`end_time` (datetimes).
        `dimensions`: only values whose dimension equals the value (or any of the values)."""
        name = _pick("name", name, metric_id, "metric_id")
        if not name:
            raise ValueError("name (or metric_id) is required")
        aggregation = _pick("aggregation", aggregation, aggregation_method, "aggregation_method") or "sum"
        date_from = _pick("date_from", date_from, _when(start_time), "start_time")
        date_to = _pick("date_to", date_to, _when(end_time), "end_time")
        filters = {f"dimensions.{key}": [value] if isinstance(value, str) else list(value)
                   for key, value in (dimensions or {}).items()}
        await self._batcher.wait(("metrics",))  # read your own writes: what this client queued is sent
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
        the type can draw (the server checks both), or the seed API's metric shorthand
        `{"metric": name, "aggregation": ...}` (a `metric` query). `fields`: title, options, position."""
        config = dict(query_config)
        if "kind" not in config and "metric" in config:
            config = {"kind": "metric", **{key: plain(value) for key, value in config.items()}}
        body = {"name": name, "widget_type": plain(widget_type), "query_config": config, **fields}
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
        """`report_type`: dashboard (with `dashboard=<id>`), widgets or queries; a ReportType's
        analytics and custom are queries. `query_config` of a queries report: `{"queries": [...]}`
        or the seed API's `{"metrics": [names], "time_range": "7d"}`. `time_range`: 1d 7d
        30d last_week last_month; None keeps the server's default (7d, or the `time_range` of a
        metrics `query_config`). `fields`: the schedule (frequency, hour, minute, weekday,
        day_of_month, cron, timezone), description, enabled, owner."""
        body = {"name": name, "report_type": to_report_type(report_type), **fields, **_given(
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

    async def generate_report(self, report_id: int, *, send: bool = True, wait: bool = True,
                              timeout: float = 60.0) -> models.ReportRun:
        """The seed API's "generate now": runs the report and, with `send` (the default), emails
        its subscribers. With `wait`, polls until the run has succeeded or failed (or `timeout`
        seconds passed) and returns it in that state; else returns the pending run."""
        run = await self.run(report_id, send=send)
        deadline = asyncio.get_running_loop().time() + timeout
        delay = 0.1
        while wait and run.status not in ("succeeded", "failed"):
            if asyncio.get_running_loop().time() >= deadline:
                break
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
            run = await self.get_run(run.id)
        return run


class Segments(_Api):
    async def create_segment(self, name: str, rules: Mapping[str, Any] | None = None,
                             **fields: Any) -> models.Segment:
        """`rules`: the rule tree (a group); none means everyone. Members are computed at once.
        `fields`: display_name, description, entity_type. The server segments persons (your users
        or customers), so the seed API's entity types customer and user are sent as person."""
        if plain(fields.get("entity_type")) in ("customer", "user", "person"):
            fields["entity_type"] = "person"
        body = {"name": name, **fields, **_given(rules=_dict(rules))}
        return models.parse(models.Segment, await self._post("/api/v1/segments", body))

    async def add_segment_rule(self, segment_id: int, rule: Mapping[str, Any] | None = None, *,
                               parent: str | None = None, field_name: str | None = None,
                               operator: str | None = None, value: Any = None) -> models.Segment:
        """Adds a rule or a group under the top group, or under the group `parent` (a node id from
        `segment.rules`). Returns the segment with its recomputed size. Instead of `rule`, the seed
        API's trait rule: `field_name`, `operator` (a SegmentOperator, or the server's eq, gt, ...)
        and `value`."""
        if rule is None:
            if field_name is None or operator is None:
                raise TypeError("give rule, or field_name and operator (and value)")
            rule = {"field": field_name, "operator": operator, **_given(value=value)}
        elif field_name is not None:
            raise TypeError("give rule or field_name, not both")
        rule = dict(rule)
        if "operator" in rule:
            rule["operator"] = to_rule_operator(rule["operator"])
        answer = await self._post(f"/api/v1/segments/{_seg(segment_id)}/rules", rule, parent=parent)
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

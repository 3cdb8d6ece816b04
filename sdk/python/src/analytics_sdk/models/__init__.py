"""Typed results: frozen dataclasses with the fields most callers use, plus `raw`, the whole JSON
answer. Parsing is lenient (unknown fields are ignored, missing ones are None) so that fields the
server adds, or drops, later never break an installed client. Times are kept as the ISO 8601 strings
the server sent.

Results are also read-only mappings, as in the seed API: `dashboard["dashboard_id"]`,
`report["report_id"]`, `metric["metric_id"]` (the name), `result["id"]`, and any key of the
server's answer (`raw`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

T = TypeVar("T")


def parse(cls: type[T], data: dict[str, Any]) -> T:
    """`cls` built from a JSON object, keeping the object itself as `raw`."""
    names = [f.name for f in dataclasses.fields(cls) if f.name != "raw"]  # type: ignore[arg-type]
    return cls(**{name: data.get(name) for name in names}, raw=data)  # type: ignore[call-arg]


class _Result(Mapping[str, Any]):
    """The mapping face of a result: the server's answer (`raw`) plus the seed API's `<thing>_id`
    names. A key is looked up as an alias first, then in `raw`, then as a field."""

    _aliases: ClassVar[dict[str, str]] = {}
    raw: dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        name = self._aliases.get(key, key)
        if name in self.raw:
            return self.raw[name]
        if name in {f.name for f in dataclasses.fields(self)}:  # type: ignore[arg-type]
            return getattr(self, name)
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        yield from self._aliases
        yield from (key for key in self.raw if key not in self._aliases)

    def __len__(self) -> int:
        return len(self._aliases) + len(set(self.raw) - set(self._aliases))


@dataclass(frozen=True)
class Tenant(_Result):
    _aliases: ClassVar[dict[str, str]] = {"tenant_id": "slug"}

    slug: str
    name: str
    timezone: str
    retention_days: int
    monthly_event_quota: int
    created_at: str
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Metric(_Result):
    """A metric definition. Metrics are addressed by `name`; the API gives them no other id."""

    _aliases: ClassVar[dict[str, str]] = {"metric_id": "name"}

    name: str
    display_name: str
    metric_type: str
    unit: str
    description: str
    dimensions: list[str]
    tags: list[str]
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class MetricAggregate(_Result):
    """`series`: one `{"group", "buckets", "values"}` per combination of the `group_by` dimensions."""

    metric: str
    aggregation: str
    granularity: str
    timezone: str
    from_rollups: bool
    series: list[dict[str, Any]]
    computed_at: str
    cached: bool
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class QueryResult(_Result):
    """An answer of the query engine. `series` (trends), `steps` (funnel) and `cohorts`
    (retention) are None for the kinds that do not have them; `raw` holds every kind's full answer."""

    kind: str
    timezone: str
    date_from: str
    date_to: str
    computed_at: str
    cached: bool
    series: list[dict[str, Any]] | None
    steps: list[dict[str, Any]] | None
    cohorts: list[dict[str, Any]] | None
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Widget(_Result):
    _aliases: ClassVar[dict[str, str]] = {"widget_id": "id"}
    id: int
    name: str
    title: str
    widget_type: str
    query_config: dict[str, Any]
    options: dict[str, Any]
    position: int
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Dashboard(_Result):
    """`widgets` are the widget objects as the server sent them (`id`, `name`, `widget_type`, ...)."""

    _aliases: ClassVar[dict[str, str]] = {"dashboard_id": "id"}

    id: int
    name: str
    display_name: str
    category: str
    description: str
    is_public: bool
    widgets: list[dict[str, Any]]
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class DashboardData(_Result):
    """`widgets`: per widget `{id, name, title, widget_type, options}` plus either `result` (the
    query engine's answer, with `computed_at` and `cached`) or `error` (`{code, message, details}`)."""

    dashboard: int
    name: str
    widgets: list[dict[str, Any]]
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Report(_Result):
    """`schedule` is the server's description of the schedule (None when run on demand only)."""

    _aliases: ClassVar[dict[str, str]] = {"report_id": "id"}

    id: int
    name: str
    display_name: str
    report_type: str
    time_range: str
    formats: list[str]
    frequency: str
    timezone: str
    enabled: bool
    schedule: str | None
    next_run_at: str | None
    subscriptions: list[dict[str, Any]]
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Subscription(_Result):
    _aliases: ClassVar[dict[str, str]] = {"subscription_id": "id"}
    id: int
    email: str
    user_id: str
    created_at: str
    unsubscribed_at: str | None
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class ReportRun(_Result):
    """`status`: pending, running, succeeded, failed or retrying. `formats`: the files ready to
    download. `recipients`: per address `{email, status, sent_at, error}`."""

    _aliases: ClassVar[dict[str, str]] = {"run_id": "id"}

    id: int
    report: int
    status: str
    attempts: int
    created_at: str
    finished_at: str | None
    error: str
    formats: list[str]
    recipients: list[dict[str, Any]]
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Segment(_Result):
    """`rules` is the rule tree with the id the server gave each node; `size` is the member count
    at `refreshed_at`."""

    _aliases: ClassVar[dict[str, str]] = {"segment_id": "id"}

    id: int
    name: str
    display_name: str
    rules: dict[str, Any]
    size: int | None
    refreshed_at: str | None
    refresh_error: str | None
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Person(_Result):
    _aliases: ClassVar[dict[str, str]] = {"person_id": "id"}
    id: int
    distinct_ids: list[str]
    traits: dict[str, Any]
    created_at: str
    updated_at: str
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Event(_Result):
    """A stored event (`GET /api/v1/events`). `event_type` is the server's (page, screen, track,
    click, conversion, custom, identify, alias, group); `event` is the name."""

    _aliases: ClassVar[dict[str, str]] = {"event_id": "id", "event_name": "event"}
    id: int
    timestamp: str
    event_type: str
    event: str
    distinct_id: str
    user_id: str | None
    anonymous_id: str | None
    session_id: str | None
    message_id: str
    properties: dict[str, Any]
    context: dict[str, Any]
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list. `next` is the server's URL of the following page (None on the last);
    pass it back as `cursor` to get that page."""

    results: list[T]
    next: str | None

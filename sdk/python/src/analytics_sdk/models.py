"""Typed results: frozen dataclasses with the fields most callers use, plus `raw`, the whole JSON
answer. Parsing is lenient (unknown fields are ignored, missing ones are None) so that fields the
server adds, or drops, later never break an installed client. Times are kept as the ISO 8601 strings
the server sent."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")


def parse(cls: type[T], data: dict[str, Any]) -> T:
    """`cls` built from a JSON object, keeping the object itself as `raw`."""
    names = [f.name for f in dataclasses.fields(cls) if f.name != "raw"]  # type: ignore[arg-type]
    return cls(**{name: data.get(name) for name in names}, raw=data)  # type: ignore[call-arg]


@dataclass(frozen=True)
class Tenant:
    slug: str
    name: str
    timezone: str
    retention_days: int
    monthly_event_quota: int
    created_at: str
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Metric:
    """A metric definition. Metrics are addressed by `name`; the API gives them no other id."""

    name: str
    display_name: str
    metric_type: str
    unit: str
    description: str
    dimensions: list[str]
    tags: list[str]
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class MetricAggregate:
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
class QueryResult:
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
class Widget:
    id: int
    name: str
    title: str
    widget_type: str
    query_config: dict[str, Any]
    options: dict[str, Any]
    position: int
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Dashboard:
    """`widgets` are the widget objects as the server sent them (`id`, `name`, `widget_type`, ...)."""

    id: int
    name: str
    display_name: str
    category: str
    description: str
    is_public: bool
    widgets: list[dict[str, Any]]
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class DashboardData:
    """`widgets`: per widget `{id, name, title, widget_type, options}` plus either `result` (the
    query engine's answer, with `computed_at` and `cached`) or `error` (`{code, message, details}`)."""

    dashboard: int
    name: str
    widgets: list[dict[str, Any]]
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Report:
    """`schedule` is the server's description of the schedule (None when run on demand only)."""

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
class Subscription:
    id: int
    email: str
    user_id: str
    created_at: str
    unsubscribed_at: str | None
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class ReportRun:
    """`status`: pending, running, succeeded, failed or retrying. `formats`: the files ready to
    download. `recipients`: per address `{email, status, sent_at, error}`."""

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
class Segment:
    """`rules` is the rule tree with the id the server gave each node; `size` is the member count
    at `refreshed_at`."""

    id: int
    name: str
    display_name: str
    rules: dict[str, Any]
    size: int | None
    refreshed_at: str | None
    refresh_error: str | None
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Person:
    id: int
    distinct_ids: list[str]
    traits: dict[str, Any]
    created_at: str
    updated_at: str
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list. `next` is the server's URL of the following page (None on the last);
    pass it back as `cursor` to get that page."""

    results: list[T]
    next: str | None

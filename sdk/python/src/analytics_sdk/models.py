"""Typed results: the fields most callers use, plus `raw`, the whole JSON answer. Parsing is
lenient, so fields the server adds later do not break older clients."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")


def parse(cls: type[T], data: dict[str, Any]) -> T:
    names = {f.name for f in dataclasses.fields(cls)} - {"raw"}  # type: ignore[arg-type]
    return cls(**{name: data.get(name) for name in names}, raw=data)  # type: ignore[call-arg]


@dataclass(frozen=True)
class Tenant:
    slug: str
    name: str
    timezone: str
    retention_days: int
    monthly_event_quota: int
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Metric:
    id: int
    name: str
    metric_type: str
    unit: str
    dimensions: list[str]
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class MetricAggregate:
    metric: str
    aggregation: str
    granularity: str
    series: list[dict[str, Any]]
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class QueryResult:
    kind: str
    computed_at: str
    cached: bool
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Widget:
    id: int
    name: str
    title: str
    widget_type: str
    query_config: dict[str, Any]
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Dashboard:
    id: int
    name: str
    display_name: str
    widgets: list[dict[str, Any]]
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class DashboardData:
    dashboard: int
    name: str
    widgets: list[dict[str, Any]]
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Report:
    id: int
    name: str
    display_name: str
    report_type: str
    schedule: str | None
    next_run_at: str | None
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Subscription:
    id: int
    email: str
    user_id: str
    unsubscribed_at: str | None
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class ReportRun:
    id: int
    status: str
    attempts: int
    error: str
    recipients: list[dict[str, Any]]
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Segment:
    id: int
    name: str
    size: int | None
    rules: dict[str, Any] | None
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Person:
    distinct_ids: list[str]
    traits: dict[str, Any]
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list; `next` is the URL of the following page, or None."""

    results: list[T]
    next: str | None

"""The query spec (DESIGN §5), decoded strictly: unknown fields, wrong types and out-of-range values
are refused with the path of the offending field."""

from __future__ import annotations

from typing import Annotated, Literal, Union

import msgspec

from apps.events.types import ACCEPTED_TYPES

Interval = Literal["minute", "hour", "day", "week", "month"]
Operator = Literal["eq", "neq", "gt", "gte", "lt", "lte", "contains", "not_contains", "in", "not_in", "is_set",
                   "is_not_set"]
Math = Literal["total", "unique_persons", "sum", "avg", "min", "max", "p50", "p90", "p95", "p99"]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Scalar = Union[str, int, float, bool, None]
# An event type, in our names or the seed API's (apps.events.types): `page_view` matches every page.
EventType = Literal[tuple(sorted(ACCEPTED_TYPES))]  # type: ignore[valid-type]


class _ByEvent:
    """A series or step names an event, or an event type (`{"event_type": "conversion"}`), not both."""

    event: str | None
    event_type: str | None

    def __post_init__(self) -> None:
        if (self.event is None) == (self.event_type is None):
            raise ValueError("give either `event` or `event_type`")

    @property
    def label(self) -> str:
        return self.event if self.event is not None else str(self.event_type)


# The properties of a session (apps/insights/sessionize.py) that filters and breakdowns may name.
SESSION_PROPERTIES = ("$entry_page", "$exit_page", "$session_duration", "$event_count", "$page_count")
SESSION_BREAKDOWNS = ("$entry_page", "$exit_page")


class PropertyFilter(msgspec.Struct, forbid_unknown_fields=True):
    property: Name
    operator: Operator
    value: Union[Scalar, list[Scalar]] = None
    # `event`: the event's properties; `person`: the person's traits; `session`: the properties of
    # the event's session (trends, funnels and the sessions kind).
    type: Literal["event", "person", "session"] = "event"

    def __post_init__(self) -> None:
        if self.type == "session" and self.property not in SESSION_PROPERTIES:
            raise ValueError(f"a session filter names one of {', '.join(SESSION_PROPERTIES)}")


class Series(_ByEvent, msgspec.Struct, forbid_unknown_fields=True):
    event: Name | None = None
    event_type: EventType | None = None
    math: Math = "total"
    property: Name | None = None  # the numeric property for sum/avg/min/max/pXX
    filters: list[PropertyFilter] = []


class Breakdown(msgspec.Struct, forbid_unknown_fields=True):
    property: Name
    # `session` (the sessions kind only): $entry_page or $exit_page.
    type: Literal["event", "person", "session"] = "event"
    limit: Annotated[int, msgspec.Meta(ge=1, le=100)] = 10

    def __post_init__(self) -> None:
        if self.type == "session" and self.property not in SESSION_BREAKDOWNS:
            raise ValueError(f"a session breakdown names one of {', '.join(SESSION_BREAKDOWNS)}")


class Common(msgspec.Struct, forbid_unknown_fields=True, tag_field="kind", kw_only=True):
    date_from: str | None = None
    date_to: str | None = None
    timezone: str | None = None
    filters: list[PropertyFilter] = []
    segment: str | None = None
    refresh: bool = False


class TrendsSpec(Common, tag="trends"):
    series: Annotated[list[Series], msgspec.Meta(min_length=1, max_length=10)]
    interval: Interval = "day"
    breakdown: Breakdown | None = None


class FunnelStep(_ByEvent, msgspec.Struct, forbid_unknown_fields=True):
    event: Name | None = None
    event_type: EventType | None = None
    filters: list[PropertyFilter] = []


_WINDOW_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class FunnelSpec(Common, tag="funnel"):
    steps: Annotated[list[FunnelStep], msgspec.Meta(min_length=2, max_length=10)]
    # How long after the entry the last step may happen: a number and a unit (s, m, h, d, w).
    window: Annotated[str, msgspec.Meta(pattern=r"^[1-9][0-9]{0,4}[smhdw]$")] = "14d"

    @property
    def window_seconds(self) -> int:
        return int(self.window[:-1]) * _WINDOW_UNITS[self.window[-1]]


class RetentionSpec(Common, tag="retention"):
    start_event: Name
    return_event: Name
    period: Literal["day", "week", "month"] = "week"
    periods: Annotated[int, msgspec.Meta(ge=1, le=104)] = 8


class EventsSpec(Common, tag="events"):
    event: Name | None = None
    distinct_id: Name | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 100


Dimension = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}$")]
DimensionValue = Annotated[str, msgspec.Meta(max_length=200)]


class MetricSpec(Common, tag="metric"):
    """A metric aggregation (apps/metrics/queries/aggregate.py); `filters` and `segment` do not
    apply to metrics: dimension filters are `dimensions`."""

    metric: Name
    aggregation: Literal["count", "sum", "avg", "min", "max", "last", "p50", "p90", "p95", "p99", "rate"] = "sum"
    granularity: Interval = "hour"
    group_by: Annotated[list[Dimension], msgspec.Meta(max_length=5)] = []
    dimensions: dict[Dimension, Union[DimensionValue, Annotated[list[DimensionValue], msgspec.Meta(
        min_length=1, max_length=100)]]] = {}
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 100


class SegmentSizeSpec(Common, tag="segment_size"):
    """A segment's size over time (apps/segments/selectors.segment_sizes): `segment` names the
    segment measured; `filters` do not apply."""

    interval: Interval = "day"


SessionMeasure = Literal["sessions", "median_duration", "mean_duration", "bounce_rate", "events_per_session",
                         "pages_per_session"]
SESSION_MEASURES: tuple[str, ...] = SessionMeasure.__args__  # type: ignore[attr-defined]


class SessionsSpec(Common, tag="sessions"):
    """Sessions (apps/insights/queries/sessions.py): the measures per interval bucket and breakdown."""

    interval: Interval = "day"
    measures: Annotated[list[SessionMeasure], msgspec.Meta(min_length=1, max_length=6)] = msgspec.field(
        default_factory=lambda: list(SESSION_MEASURES))
    breakdown: Breakdown | None = None

    def __post_init__(self) -> None:
        if len(set(self.measures)) != len(self.measures):
            raise ValueError("each measure at most once")


class SummarySpec(Common, tag="summary"):
    """Headline figures against the previous period (apps/insights/queries/summary.py)."""

    top: Annotated[int, msgspec.Meta(ge=1, le=50)] = 5


QuerySpec = Union[TrendsSpec, FunnelSpec, RetentionSpec, EventsSpec, MetricSpec, SegmentSizeSpec, SessionsSpec,
                  SummarySpec]

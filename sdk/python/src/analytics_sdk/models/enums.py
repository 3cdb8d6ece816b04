"""The seed API's enums (`analytics_sdk.models.enums`). Each is a `str` enum, so a member and its
plain string are interchangeable: `EventType.CLICK == "click"`. Where the server names a value
differently, the SDK translates it when it sends (the `to_*` helpers below), so the enums keep the
seed's values."""

from __future__ import annotations

from enum import Enum
from typing import Any


class EventType(str, Enum):
    PAGE_VIEW = "page_view"
    SCREEN_VIEW = "screen_view"
    CLICK = "click"
    CONVERSION = "conversion"
    CUSTOM = "custom"
    TRACK = "track"
    IDENTIFY = "identify"
    ALIAS = "alias"
    GROUP = "group"


class MetricType(str, Enum):
    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"


class AggregationMethod(str, Enum):
    COUNT = "count"
    SUM = "sum"
    AVG = "avg"
    AVERAGE = "avg"  # the same member as AVG
    MIN = "min"
    MAX = "max"
    LAST = "last"
    MEDIAN = "p50"  # the same member as P50
    P50 = "p50"
    P90 = "p90"
    P95 = "p95"
    P99 = "p99"
    RATE = "rate"


class TimeGranularity(str, Enum):
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class SegmentOperator(str, Enum):
    EQUALS = "equals"
    NOT_EQUALS = "not_equals"
    GREATER_THAN = "greater_than"
    GREATER_THAN_OR_EQUAL = "greater_than_or_equal"
    LESS_THAN = "less_than"
    LESS_THAN_OR_EQUAL = "less_than_or_equal"
    CONTAINS = "contains"
    NOT_CONTAINS = "not_contains"
    IN = "in"
    NOT_IN = "not_in"
    IS_SET = "is_set"
    IS_NOT_SET = "is_not_set"


class ReportType(str, Enum):
    """`analytics` and `custom` are the server's `queries` reports (query specs, or the
    `query_config.metrics` shorthand); `dashboard` and `widgets` are the server's own."""

    ANALYTICS = "analytics"
    CUSTOM = "custom"
    DASHBOARD = "dashboard"
    WIDGETS = "widgets"
    QUERIES = "queries"


# The server's rule operators (apps/segments/rules.py), by the seed's name.
SEGMENT_OPERATORS = {"equals": "eq", "not_equals": "neq", "greater_than": "gt",
                     "greater_than_or_equal": "gte", "less_than": "lt", "less_than_or_equal": "lte"}
REPORT_TYPES = {"analytics": "queries", "custom": "queries"}


def plain(value: Any) -> Any:
    """An enum member as its value (the text the server knows); anything else unchanged. Needed
    where str() would give "EventType.CLICK": URLs and query parameters."""
    return value.value if isinstance(value, Enum) else value


def to_rule_operator(operator: Any) -> str:
    """A seed operator (`greater_than`) as the server's (`gt`); the server's own pass through."""
    operator = plain(operator)
    return SEGMENT_OPERATORS.get(operator, operator)


def to_report_type(report_type: Any) -> str:
    report_type = plain(report_type)
    return REPORT_TYPES.get(report_type, report_type)

"""Metric values in: decoding and validating one value against its metric (DESIGN §6).

A value is `{value, timestamp?, dimensions?}` (a batch item also names its `metric`). It is refused,
with a reason, when:
- `value` is not a finite number, or a counter's increment is negative;
- `timestamp` is not ISO 8601 with a zone, or lies more than METRIC_MAX_FUTURE_SECONDS ahead;
- `dimensions` has a name the metric does not allow, or a value that is not a string, number or
  boolean (numbers and booleans are stored as their JSON text: 3 -> "3", true -> "true"), or a
  value longer than 200 characters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Union

import msgspec
from django.conf import settings

from apps.metrics.models import Metric

Scalar = Union[str, int, float, bool]
MAX_DIMENSION_VALUE = 200


class ValueIn(msgspec.Struct, forbid_unknown_fields=True):
    value: Any = None
    timestamp: Any = None
    dimensions: Any = None


class BatchItem(ValueIn, forbid_unknown_fields=True):
    metric: Any = None


class BatchIn(msgspec.Struct, forbid_unknown_fields=True):
    values: list[Any]


@dataclass(frozen=True)
class ValueRow:
    metric_id: int
    timestamp: datetime
    value: float
    dimensions: dict[str, str]


class Refused(Exception):
    """One value cannot be stored; the message says why."""


def value_row(metric: Metric, item: ValueIn, now: datetime) -> ValueRow:
    value = item.value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise Refused("`value` must be a finite number.")
    if metric.metric_type == Metric.Type.COUNTER and value < 0:
        raise Refused("A counter only goes up: its value is an increment and cannot be negative.")
    timestamp = now
    if item.timestamp is not None:
        if not isinstance(item.timestamp, str):
            raise Refused("`timestamp` must be an ISO 8601 string.")
        try:
            timestamp = datetime.fromisoformat(item.timestamp.replace("Z", "+00:00"))
        except ValueError:
            raise Refused("`timestamp` is not ISO 8601.") from None
        if timestamp.tzinfo is None:
            raise Refused("`timestamp` needs a time zone (Z or an offset).")
        if timestamp > now + timedelta(seconds=settings.METRIC_MAX_FUTURE_SECONDS):
            raise Refused("`timestamp` is too far in the future.")
    dimensions: dict[str, str] = {}
    if item.dimensions is not None:
        if not isinstance(item.dimensions, dict):
            raise Refused("`dimensions` must be an object.")
        allowed = set(metric.dimensions)
        for name, raw in item.dimensions.items():
            if name not in allowed:
                raise Refused(f"Dimension {name!r} is not allowed for metric {metric.name!r} "
                              f"(allowed: {sorted(allowed)}).")
            if isinstance(raw, bool):
                text = "true" if raw else "false"
            elif isinstance(raw, (int, float)) and math.isfinite(raw):
                text = msgspec.json.encode(raw).decode()
            elif isinstance(raw, str):
                text = raw
            else:
                raise Refused(f"Dimension {name!r} must be a string, a number or a boolean.")
            if len(text) > MAX_DIMENSION_VALUE:
                raise Refused(f"Dimension {name!r} is longer than {MAX_DIMENSION_VALUE} characters.")
            dimensions[name] = text
    return ValueRow(metric_id=metric.id, timestamp=timestamp, value=float(value), dimensions=dimensions)

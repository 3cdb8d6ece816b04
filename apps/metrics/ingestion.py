"""Metric values in: decoding and validating one value against its metric (DESIGN §6).

A value is `{value, timestamp?, dimensions?}` (a batch item also names its `metric`). It is refused,
with a reason, when:
- `value` is not a finite number, or a counter's increment is negative;
- `timestamp` is not ISO 8601 with a zone, lies more than METRIC_MAX_FUTURE_SECONDS ahead, or is
  not a time in the years 1-9999 once in UTC;
- `dimensions` has a name the metric does not allow (a metric declared without a dimension list
  allows any name of letters, digits and `_ . -`, at most 20 of them), or a value that is not a
  string, number or boolean (numbers and booleans are stored as their JSON text: 3 -> "3",
  true -> "true"), or a value longer than 200 characters;
- it would start a new series (a new combination of dimension values) of a metric that already
  has METRIC_MAX_SERIES of them (services.py checks this against the stored series).
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Union

import msgspec
from django.conf import settings

from apps.metrics.models import Metric

Scalar = Union[str, int, float, bool]
MAX_DIMENSION_VALUE = 200
DIMENSION = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}$")
MAX_DIMENSIONS = 20


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


@dataclass(frozen=True)
class Rules:
    """What a metric accepts, read once per request rather than once per value."""

    metric_id: int
    name: str
    counter: bool
    allowed: frozenset[str] | None  # None: any dimension name (the metric declared none)

    @classmethod
    def of(cls, metric: Metric) -> Rules:
        return cls(metric_id=metric.id, name=metric.name, counter=metric.metric_type == Metric.Type.COUNTER,
                   allowed=frozenset(metric.dimensions) if metric.dimensions else None)


def _finite(number: int | float) -> bool:
    try:
        return math.isfinite(number)
    except OverflowError:  # an integer beyond any float
        return False


def series_of(encoded_dimensions: bytes) -> int:
    """The series id of a set of dimensions given as JSON with sorted keys (msgspec's
    `order="sorted"`): the first 8 bytes of its BLAKE2b hash as a signed integer, never 0 (the id
    of the rollups over all values). Stored with every value and in `metric_series`; it must never
    change."""
    return int.from_bytes(hashlib.blake2b(encoded_dimensions, digest_size=8).digest(), "little", signed=True) or 1


def latest_allowed(now: datetime) -> datetime:
    return now + timedelta(seconds=settings.METRIC_MAX_FUTURE_SECONDS)


def value_row(rules: Rules, item: ValueIn, now: datetime, latest: datetime) -> ValueRow:
    value = item.value
    if type(value) not in (int, float) or not _finite(value):  # bool is not a number here
        raise Refused("`value` must be a finite number.")
    if rules.counter and value < 0:
        raise Refused("A counter only goes up: its value is an increment and cannot be negative.")
    timestamp = now
    if item.timestamp is not None:
        if not isinstance(item.timestamp, str):
            raise Refused("`timestamp` must be an ISO 8601 string.")
        try:
            timestamp = datetime.fromisoformat(item.timestamp)
        except ValueError:
            raise Refused("`timestamp` is not ISO 8601.") from None
        if timestamp.tzinfo is None:
            raise Refused("`timestamp` needs a time zone (Z or an offset).")
        try:
            timestamp.astimezone(timezone.utc)  # how it is written and rolled up
        except OverflowError:  # its UTC time is before year 1 or after 9999
            raise Refused("`timestamp` is out of range.") from None
        if timestamp > latest:
            raise Refused("`timestamp` is too far in the future.")
    dimensions: dict[str, str] = {}
    if item.dimensions is not None:
        if not isinstance(item.dimensions, dict):
            raise Refused("`dimensions` must be an object.")
        if rules.allowed is None and len(item.dimensions) > MAX_DIMENSIONS:
            raise Refused(f"At most {MAX_DIMENSIONS} dimensions per value.")
        for name, raw in item.dimensions.items():
            if rules.allowed is None:
                if not DIMENSION.match(name):
                    raise Refused(f"Dimension {name[:64]!r} must be 1 to 64 letters, digits, `_ . -`.")
            elif name not in rules.allowed:
                raise Refused(f"Dimension {name!r} is not allowed for metric {rules.name!r} "
                              f"(allowed: {sorted(rules.allowed)}).")
            if type(raw) is str:
                text = raw
            elif isinstance(raw, bool):
                text = "true" if raw else "false"
            elif isinstance(raw, (int, float)) and _finite(raw):
                text = msgspec.json.encode(raw).decode()
            else:
                raise Refused(f"Dimension {name!r} must be a string, a number or a boolean.")
            if len(text) > MAX_DIMENSION_VALUE:
                raise Refused(f"Dimension {name!r} is longer than {MAX_DIMENSION_VALUE} characters.")
            dimensions[name] = text
    return ValueRow(metric_id=rules.metric_id, timestamp=timestamp, value=float(value), dimensions=dimensions)

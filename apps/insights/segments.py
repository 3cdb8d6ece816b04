"""The `segment` filter of every query: persons in a segment only.

The segments app (DESIGN §7) provides the membership. It registers a resolver that turns a segment
key into a SQL condition on `{person}` (replaced by the SQL of the event's person) with bound
parameters, and a version that changes when the membership does (it is part of cached answers'
keys). Until one is registered, or when the key is unknown, the query is refused with 400. A query
is never run as if the filter were absent.
"""

from __future__ import annotations

from typing import Any, Callable

from apps.core.exceptions import ValidationFailed
from apps.insights.filters import PERSON

Resolver = Callable[[str], tuple[str, list[Any], str] | None]
_resolver: Resolver | None = None


def segment_resolver_register(resolver: Resolver) -> None:
    global _resolver
    _resolver = resolver


def _resolve(segment: str) -> tuple[str, list[Any], str]:
    resolved = _resolver(segment) if _resolver is not None else None
    if resolved is None:
        raise ValidationFailed(f"No segment {segment!r}.", details={"segment": segment})
    return resolved


def segment_condition(segment: str | None, person: str = PERSON) -> tuple[str, list[Any]]:
    """`("true", [])` without a segment; the segment's condition on the event's person otherwise
    (the caller joins PERSON_JOIN), or on the SQL `person` given."""
    if segment is None:
        return "true", []
    sql, params, _ = _resolve(segment)
    return sql.replace("{person}", person), params


def segment_version(segment: str | None) -> str:
    return "" if segment is None else _resolve(segment)[2]

"""The `segment` filter of every query: persons in a segment only.

The segments app (DESIGN §7) provides the membership. It registers a resolver that turns a segment
key into a SQL condition on `{person}` (replaced by the SQL of the event's person) with bound
parameters. Until
one is registered, or when the key is unknown, the query is refused with 400. A query is never run
as if the filter were absent.
"""

from __future__ import annotations

from typing import Any, Callable

from apps.core.exceptions import ValidationFailed
from apps.insights.filters import PERSON

Resolver = Callable[[str], tuple[str, list[Any]] | None]
_resolver: Resolver | None = None


def segment_resolver_register(resolver: Resolver) -> None:
    global _resolver
    _resolver = resolver


def segment_condition(segment: str | None) -> tuple[str, list[Any]]:
    """`("true", [])` without a segment; the segment's condition on the event's person otherwise
    (the caller joins PERSON_JOIN)."""
    if segment is None:
        return "true", []
    resolved = _resolver(segment) if _resolver is not None else None
    if resolved is None:
        raise ValidationFailed(f"No segment {segment!r}.", details={"segment": segment})
    sql, params = resolved
    return sql.replace("{person}", PERSON), params

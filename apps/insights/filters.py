"""Property filters compiled to SQL. Property names and values are always bound parameters; the
operator picks a fragment from a fixed table. Event filters read `e.properties`, person filters
`p.traits` (the person after identity merges).

Semantics, per operator (value = the filter's value):
- eq / neq: JSON equality (type-aware: "5" is not 5; 5 equals 5.0). A missing property is not equal.
- gt / gte / lt / lte: numeric comparison; only numeric values match.
- contains / not_contains: case-insensitive substring of the text value; a missing property does
  not contain anything.
- in / not_in: JSON equality with any of the listed values.
- is_set / is_not_set: whether the key is present (a JSON null counts as set).
"""

from __future__ import annotations

from typing import Any

import msgspec

from apps.core.exceptions import ValidationFailed
from apps.events.types import canonical_type
from apps.insights.spec import PropertyFilter

_encode = msgspec.json.encode

# The person of an event `e`: the one it was stored with, or the one that person was merged into.
PERSON = "COALESCE(po.person_id, e.person_id)"
PERSON_JOIN = "LEFT JOIN person_overrides po ON po.old_person_id = e.person_id"
# Person filters and breakdowns read `p.traits` (after PERSON_JOIN).
TRAITS_JOIN = f"LEFT JOIN persons p ON p.id = {PERSON}"
_COLUMNS = {"event": "e.properties", "person": "p.traits"}
_NUMERIC = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def _json(value: Any) -> str:
    return _encode(value).decode()


def event_match_sql(step: Any) -> tuple[str, list[Any]]:
    """The events of a series or funnel step: by name (`e.event`), or by type (`e.event_type`, the
    seed's names mapped to the stored ones)."""
    if step.event_type is not None:
        return "e.event_type = %s", [canonical_type(step.event_type)]
    return "e.event = %s", [step.event]


def events_of_steps_sql(steps: list[Any]) -> tuple[str, list[Any]]:
    """Rows any of `steps` may match: one `= ANY` per kind of match (an index on event stays usable
    when no step is by type)."""
    names = sorted({step.event for step in steps if step.event is not None})
    types = sorted({canonical_type(step.event_type) for step in steps if step.event_type is not None})
    parts, params = [], []
    if names:
        parts.append("e.event = ANY(%s)")
        params.append(names)
    if types:
        parts.append("e.event_type = ANY(%s)")
        params.append(types)
    return "(" + " OR ".join(parts) + ")", params


def filter_sql(f: PropertyFilter, field: str, column: str | None = None) -> tuple[str, list[Any]]:
    """One filter on its JSON column (`column`, or the one its type reads)."""
    if column is None:
        if f.type not in _COLUMNS:
            raise ValidationFailed("Session filters apply to trends, funnels and sessions queries only.",
                                   details={field: f.type})
        column = _COLUMNS[f.type]
    op, value, key = f.operator, f.value, f.property
    listed = isinstance(value, list)
    if op in ("in", "not_in"):
        if not listed or not value:
            raise ValidationFailed(f"{op} needs a non-empty list.", details={field: value})
        values = [_json(v) for v in value]
        if op == "in":
            return f"(({column} -> %s) = ANY(%s::jsonb[]))", [key, values]
        return f"(NOT COALESCE(({column} -> %s) = ANY(%s::jsonb[]), false))", [key, values]
    if listed:
        raise ValidationFailed(f"{op} takes a single value, not a list.", details={field: value})
    if op == "eq":
        return f"(({column} -> %s) = %s::jsonb)", [key, _json(value)]
    if op == "neq":
        return f"(({column} -> %s) IS DISTINCT FROM %s::jsonb)", [key, _json(value)]
    if op in _NUMERIC:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValidationFailed(f"{op} needs a number.", details={field: value})
        return (f"((CASE WHEN jsonb_typeof({column} -> %s) = 'number' THEN ({column} ->> %s)::numeric END) "
                f"{_NUMERIC[op]} %s)", [key, key, value])
    if op in ("contains", "not_contains"):
        if not isinstance(value, str) or not value:
            raise ValidationFailed(f"{op} needs a non-empty string.", details={field: value})
        found = f"(strpos(lower({column} ->> %s), lower(%s)) > 0)"
        return (found if op == "contains" else f"(NOT COALESCE({found}, false))"), [key, value]
    if op == "is_set":
        return f"COALESCE({column} ? %s, false)", [key]
    if op == "is_not_set":
        return f"(NOT COALESCE({column} ? %s, false))", [key]
    raise ValidationFailed(f"Unknown operator {op!r}.", details={field: op})  # unreachable: the spec allow-lists


def filters_sql(filters: list[PropertyFilter], field: str, *, sessions: bool = False) -> tuple[str, list[Any], bool]:
    """AND of the filters, its parameters, and whether the person (p) must be joined. Session
    filters are left out when the caller applies them itself (`sessions`, apps/insights/sessionize.py);
    otherwise they are refused."""
    parts, params, needs_person = [], [], False
    for index, f in enumerate(filters):
        if sessions and f.type == "session":
            continue
        sql, values = filter_sql(f, f"{field}[{index}]")
        parts.append(sql)
        params.extend(values)
        needs_person |= f.type == "person"
    return (" AND ".join(parts) or "true"), params, needs_person

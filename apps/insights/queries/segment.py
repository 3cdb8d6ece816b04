"""A segment's rule tree (apps/segments/rules.py, already checked) compiled to one SQL query
returning the ids of the persons it holds (DESIGN §7).

Semantics, in order:
1. Persons are the rows of `persons`: a person merged into another is gone, and its events count
   for the person it was merged into (person_overrides), as in every query.
2. A trait leaf is the query engine's person property filter on `p.traits`, except gt/gte/lt/lte
   with a date (ISO 8601, or relative like -30d counted back from `now`): the trait is then read as
   a time where it is a string PostgreSQL accepts as timestamptz (no zone: UTC), and a person
   without such a trait does not match.
3. A behavioural leaf counts the person's events named `event` in its window matching its event
   property filters: `within` D is (now - D, now]; a fixed range is [date_from, date_to); otherwise
   all events up to now. A person without such events has count 0, so `eq 0` is "did not".
4. `and` / `or` groups combine their children; an empty `and` is true and an empty `or` false.

`now` is a parameter (the caller's clock), so evaluation is reproducible and testable.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from apps.insights.filters import PERSON, PERSON_JOIN, filter_sql
from apps.insights.spec import PropertyFilter

_COUNT = {"gte": ">=", "lte": "<=", "eq": "=", "gt": ">", "lt": "<"}
_DATE = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def members_sql(tree: dict[str, Any], now: datetime) -> tuple[str, list[Any]]:
    """SELECT p.id FROM persons p WHERE <tree>, and its parameters."""
    behaviours: list[tuple[str, list[Any]]] = []
    condition, params = _node(tree, now, behaviours)
    ctes = ", ".join(f"b{i} AS MATERIALIZED ({sql})" for i, (sql, _) in enumerate(behaviours))
    joins = " ".join(f"LEFT JOIN b{i} ON b{i}.person = p.id" for i in range(len(behaviours)))
    cte_params = [value for _, values in behaviours for value in values]
    sql = f"{'WITH ' + ctes if ctes else ''} SELECT p.id FROM persons p {joins} WHERE {condition}"
    return sql, [*cte_params, *params]


def _node(node: dict[str, Any], now: datetime, behaviours: list[tuple[str, list[Any]]]) -> tuple[str, list[Any]]:
    if "op" in node:
        parts, params = [], []
        for child in node["rules"]:
            sql, values = _node(child, now, behaviours)
            parts.append(f"({sql})")
            params += values
        if not parts:
            return ("true" if node["op"] == "and" else "false"), []
        return f" {node['op'].upper()} ".join(parts), params
    if "event" in node:
        index = len(behaviours)
        behaviours.append(_behaviour_sql(node, now))
        return f"COALESCE(b{index}.n, 0) {_COUNT[node['operator']]} %s", [node["value"]]
    return _trait_sql(node, now)


def _trait_sql(node: dict[str, Any], now: datetime) -> tuple[str, list[Any]]:
    from apps.segments.rules import parse_instant, relative_span

    operator, value = node["operator"], node.get("value")
    if operator in _DATE and isinstance(value, str):
        span = relative_span(value)
        instant = now - span if span is not None else parse_instant(value)
        text = "(p.traits ->> %s)"
        return (f"(CASE WHEN jsonb_typeof(p.traits -> %s) = 'string' AND pg_input_is_valid({text}, 'timestamptz') "
                f"THEN {text}::timestamptz END) {_DATE[operator]} %s",
                [node["field"], node["field"], node["field"], instant])
    spec = msgspec.convert({"type": "person", "property": node["field"], "operator": operator, "value": value},
                           PropertyFilter)
    sql, params = filter_sql(spec, "value")
    return f"COALESCE({sql}, false)", params


def _behaviour_sql(node: dict[str, Any], now: datetime) -> tuple[str, list[Any]]:
    from apps.segments.rules import parse_instant, relative_span

    where, params = ["e.event = %s"], [node["event"]]
    if "within" in node:
        where.append('e."timestamp" > %s AND e."timestamp" <= %s')
        params += [now - relative_span(node["within"]), now]
    elif "date_from" in node:
        where.append('e."timestamp" >= %s AND e."timestamp" < %s')
        params += [parse_instant(node["date_from"]), parse_instant(node["date_to"])]
    else:
        where.append('e."timestamp" <= %s')
        params.append(now)
    for item in node.get("filters", []):
        sql, values = filter_sql(msgspec.convert({"type": "event", **item}, PropertyFilter), "filters")
        where.append(sql)
        params += values
    return (f"SELECT {PERSON} AS person, count(*) AS n FROM events e {PERSON_JOIN} "
            f"WHERE {' AND '.join(where)} GROUP BY 1"), params

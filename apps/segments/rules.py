"""A segment's rule tree (DESIGN §7): checked, normalised and given node ids.

A node is a group `{"op": "and" | "or", "rules": [node, ...]}` or a leaf:
- trait: `{"field", "operator", "value"}` over the person's traits (`field_name` is accepted for
  `field`). Operators: eq neq (JSON equality), gt gte lt lte (a number compares numbers; an ISO 8601
  date or time, or a relative `-30d` / `-12h` / `-2w`, compares dates), contains not_contains (text,
  case-insensitive), in not_in (a list), is_set is_not_set (no value).
- behaviour: `{"event", "operator", "value", "within" | "date_from" + "date_to", "filters"}`: the
  person did `event` (after identity merges) `operator` `value` times: gte (at least), lte (at most),
  eq (exactly), gt, lt; "did not" is `eq 0`. `within` ("30d", "12h", "2w") counts back from now; a
  fixed range is [date_from, date_to); with neither, all time. `filters` are event property filters
  as in queries.
An empty `and` holds every person and an empty `or` none. Every node gets an `id` ("root" for the
top group), used to remove it. A bad node is refused with its path (`rules[1].rules[0].value`).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

import msgspec

from apps.core.exceptions import ValidationFailed
from apps.insights.filters import filter_sql
from apps.insights.spec import PropertyFilter

TRAIT_OPERATORS = ("eq", "neq", "gt", "gte", "lt", "lte", "contains", "not_contains", "in", "not_in", "is_set",
                   "is_not_set")
COUNT_OPERATORS = ("gte", "lte", "eq", "gt", "lt")
MAX_DEPTH = 6
MAX_NODES = 100
MAX_COUNT = 10**9
RELATIVE = re.compile(r"^-?(\d{1,5})([hdw])$")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
_GROUP_KEYS = {"id", "op", "rules"}
_TRAIT_KEYS = {"id", "field", "field_name", "operator", "value"}
_BEHAVIOUR_KEYS = {"id", "event", "operator", "value", "within", "date_from", "date_to", "filters"}


def _fail(path: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{path}: {message}", details={"path": path, "error": message})


def relative_span(text: str) -> timedelta | None:
    """"30d" or "-30d" as a duration; None if `text` is not one."""
    found = RELATIVE.match(text) if isinstance(text, str) else None
    return found and int(found.group(1)) * _UNITS[found.group(2)]


def parse_instant(text: Any) -> datetime | None:
    """An ISO 8601 date or time (UTC when it has no zone), or None."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


class _Ids:
    def __init__(self, next_id: int) -> None:
        self.next_id = next_id
        self.seen: set[str] = set()
        self.nodes = 0

    def take(self, node: dict[str, Any], path: str) -> str:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _fail(path, f"a tree holds at most {MAX_NODES} nodes")
        given = node.get("id")
        if isinstance(given, str) and given and given not in self.seen and len(given) <= 40:
            node_id = given
        else:
            node_id = f"r{self.next_id}"
            self.next_id += 1
        self.seen.add(node_id)
        return node_id


def tree_check(tree: Any, *, next_id: int = 1) -> tuple[dict[str, Any], int]:
    """The normalised tree, with ids on every node (kept where given and unique), and the next free
    id number."""
    if tree is None:
        tree = {"op": "and", "rules": []}
    ids = _Ids(next_id)
    root = _node(tree, "rules", 0, ids, root=True)
    return root, ids.next_id


def node_check(node: Any, *, next_id: int, taken: set[str], path: str = "rule") -> tuple[dict[str, Any], int]:
    """One node to add to an existing tree whose ids are `taken`: given ids are replaced by new ones."""
    ids = _Ids(next_id)
    ids.seen |= taken
    node = _strip_ids(node)
    return _node(node, path, 1, ids, root=False), ids.next_id


def _strip_ids(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: _strip_ids(value) for key, value in node.items() if key != "id"}
    if isinstance(node, list):
        return [_strip_ids(item) for item in node]
    return node


def _node(node: Any, path: str, depth: int, ids: _Ids, *, root: bool) -> dict[str, Any]:
    if not isinstance(node, dict):
        raise _fail(path, "a rule must be an object")
    if depth > MAX_DEPTH:
        raise _fail(path, f"groups nest at most {MAX_DEPTH} deep")
    if "op" in node or "rules" in node:
        unknown = sorted(set(node) - _GROUP_KEYS)
        if unknown:
            raise _fail(path, f"unknown fields {unknown} in a group")
        if node.get("op") not in ("and", "or"):
            raise _fail(f"{path}.op", "must be `and` or `or`")
        rules = node.get("rules", [])
        if not isinstance(rules, list):
            raise _fail(f"{path}.rules", "must be a list")
        node_id = "root" if root else ids.take(node, path)
        return {"id": node_id, "op": node["op"],
                "rules": [_node(child, f"{path}[{i}]" if root else f"{path}.rules[{i}]", depth + 1, ids, root=False)
                          for i, child in enumerate(rules)]}
    if root:
        raise _fail(path, "the top of a tree must be a group ({\"op\": \"and\", \"rules\": [...]})")
    if "event" in node:
        return _behaviour(node, path, ids)
    if "field" in node or "field_name" in node:
        return _trait(node, path, ids)
    raise _fail(path, "a rule is a group (op, rules), a trait rule (field, operator, value) or a behavioural "
                      "rule (event, operator, value)")


def _trait(node: dict[str, Any], path: str, ids: _Ids) -> dict[str, Any]:
    unknown = sorted(set(node) - _TRAIT_KEYS)
    if unknown:
        raise _fail(path, f"unknown fields {unknown} in a trait rule")
    field = node.get("field", node.get("field_name"))
    if not isinstance(field, str) or not 0 < len(field) <= 200:
        raise _fail(f"{path}.field", "must be a trait name of 1 to 200 characters")
    operator = node.get("operator")
    if operator not in TRAIT_OPERATORS:
        raise _fail(f"{path}.operator", f"must be one of {list(TRAIT_OPERATORS)}")
    value = node.get("value")
    leaf = {"id": ids.take(node, path), "field": field, "operator": operator}
    if operator in ("is_set", "is_not_set"):
        if value is not None:
            raise _fail(f"{path}.value", f"{operator} takes no value")
        return leaf
    if operator in ("gt", "gte", "lt", "lte") and isinstance(value, str):
        if relative_span(value) is None and parse_instant(value) is None:
            raise _fail(f"{path}.value", f"{operator} needs a number, an ISO 8601 date or a relative date like -30d")
        return {**leaf, "value": value}
    try:  # the query engine's own checks of a person property filter
        filter_sql(msgspec.convert({"type": "person", "property": field, "operator": operator, "value": value},
                                   PropertyFilter), f"{path}.value")
    except (ValidationFailed, msgspec.ValidationError) as exc:
        raise _fail(f"{path}.value", getattr(exc, "message", str(exc))) from None
    return {**leaf, "value": value}


def _behaviour(node: dict[str, Any], path: str, ids: _Ids) -> dict[str, Any]:
    unknown = sorted(set(node) - _BEHAVIOUR_KEYS)
    if unknown:
        raise _fail(path, f"unknown fields {unknown} in a behavioural rule")
    event = node["event"]
    if not isinstance(event, str) or not 0 < len(event) <= 200:
        raise _fail(f"{path}.event", "must be an event name of 1 to 200 characters")
    operator = node.get("operator", "gte")
    if operator not in COUNT_OPERATORS:
        raise _fail(f"{path}.operator", f"must be one of {list(COUNT_OPERATORS)} (a number of times)")
    value = node.get("value", 1)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        raise _fail(f"{path}.value", "must be a whole number of times, 0 or more")
    leaf: dict[str, Any] = {"id": ids.take(node, path), "event": event, "operator": operator, "value": value}
    within, date_from, date_to = node.get("within"), node.get("date_from"), node.get("date_to")
    if within is not None:
        if date_from is not None or date_to is not None:
            raise _fail(f"{path}.within", "use either `within` or `date_from` and `date_to`")
        span = relative_span(within) if isinstance(within, str) and not within.startswith("-") else None
        if span is None or span > timedelta(days=3660):
            raise _fail(f"{path}.within", "must be like 30d, 12h or 2w (at most 10 years)")
        leaf["within"] = within
    elif date_from is not None or date_to is not None:
        start, end = parse_instant(date_from), parse_instant(date_to)
        if start is None:
            raise _fail(f"{path}.date_from", "must be an ISO 8601 date or time")
        if end is None:
            raise _fail(f"{path}.date_to", "must be an ISO 8601 date or time")
        if end <= start:
            raise _fail(f"{path}.date_to", "must be after date_from")
        leaf["date_from"], leaf["date_to"] = date_from, date_to
    filters = node.get("filters", [])
    if not isinstance(filters, list):
        raise _fail(f"{path}.filters", "must be a list of event property filters")
    checked = []
    for index, item in enumerate(filters):
        where = f"{path}.filters[{index}]"
        if not isinstance(item, dict):
            raise _fail(where, "must be an object")
        try:
            spec = msgspec.convert({"type": "event", **item}, PropertyFilter)
            if spec.type != "event":
                raise _fail(f"{where}.type", "behavioural rules filter on event properties")
            filter_sql(spec, where)
        except msgspec.ValidationError as exc:
            raise _fail(where, str(exc)) from None
        except ValidationFailed as exc:
            raise _fail(where, exc.message) from None
        checked.append({"property": spec.property, "operator": spec.operator, "value": spec.value})
    if checked:
        leaf["filters"] = checked
    return leaf


def node_find(tree: dict[str, Any], node_id: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The node with `node_id` and the group holding it (None for the root)."""
    stack: list[tuple[dict[str, Any], dict[str, Any] | None]] = [(tree, None)]
    while stack:
        node, parent = stack.pop()
        if node.get("id") == node_id:
            return node, parent
        stack.extend((child, node) for child in node.get("rules", []))
    return None, None


def node_ids(tree: dict[str, Any]) -> set[str]:
    found, stack = set(), [tree]
    while stack:
        node = stack.pop()
        found.add(node["id"])
        stack.extend(node.get("rules", []))
    return found

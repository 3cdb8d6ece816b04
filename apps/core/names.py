"""The names tenants give to their metrics, segments, dashboards and reports (the key in API paths
and specs, so one shape everywhere), and the numeric ids other paths carry."""

from __future__ import annotations

import re
from typing import Any

from apps.core.exceptions import NotFound, ValidationFailed

NAME = re.compile(r"^[a-z0-9][a-z0-9_.\-]{0,99}$")


def check_name(name: Any) -> None:
    if not isinstance(name, str) or not NAME.match(name):
        raise ValidationFailed("`name` must be 1 to 100 lowercase letters, digits or `_ . -`, starting with a "
                               "letter or digit.", details={"name": name})


def object_id(value: Any) -> int:
    """A numeric id from a path or a body; -1, which matches no row, for anything else (so the
    lookup answers 404 instead of failing on a bad cast)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def object_get(queryset: Any, value: Any, what: str) -> Any:
    """The row of `queryset` whose id is `value` (from a path or a body), else NotFound saying
    "No <what> <value>." (a value that is no number finds nothing)."""
    found = queryset.filter(pk=object_id(value)).first()
    if found is None:
        raise NotFound(f"No {what} {value!r}.")
    return found

"""The tracking plan on the ingestion hot path: compiled once per process, checked per batch.

Cache: the compiled plan of each tenant is kept per process with the plan's token, a random value
in Redis (`tracking_plan:token:<schema>:<tenant id>`) replaced on every change of the plan (before
and after the change commits). Each batch reads the token (one Redis GET) and reloads the plan from
the database only when it moved, so a change reaches every process at the next batch. With Redis
unreachable, the plan's version column is read instead (one indexed database read per batch).
With no plan (the default) a batch costs that one GET and a dictionary lookup.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from django.db import connection, transaction
from redis.exceptions import RedisError

from apps.core.redis import get_redis
from apps.events.checks import CheckOutcome
from apps.events.ingestion import EventRow
from apps.governance.models import EventDefinition, PropertyDefinition, TrackingPlan, ViolationKind

logger = logging.getLogger(__name__)

# Events a client names itself: an unknown name of these types is an unplanned event. Events of
# fixed-name types ($pageview, $identify, ...) are checked only when the plan defines their name.
NAMED_TYPES = frozenset({"track", "click", "conversion", "custom"})
PLAN_SINGLETON = 1


def _is_datetime(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


TYPE_CHECKS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer()),
    "boolean": lambda v: isinstance(v, bool),
    "datetime": _is_datetime,
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
}


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object" if isinstance(value, dict) else "array" if isinstance(value, list) else type(value).__name__


@dataclass(slots=True)
class CompiledProperty:
    name: str
    type: str
    check: Callable[[Any], bool]
    allowed: frozenset | None


@dataclass(slots=True)
class CompiledEvent:
    name: str
    properties: dict[str, CompiledProperty]
    required: tuple[str, ...]


Violation = tuple[str, str]  # (kind, message)


@dataclass(slots=True)
class CompiledPlan:
    mode: str
    flag_unplanned_properties: bool
    events: dict[str, CompiledEvent] = field(default_factory=dict)

    def violations(self, row: EventRow) -> list[Violation] | None:
        definition = self.events.get(row.event)
        if definition is None:
            if row.event_type in NAMED_TYPES:
                return [(ViolationKind.UNPLANNED_EVENT, f"event {row.event!r} is not in the tracking plan")]
            return None
        found: list[Violation] | None = None
        properties = row.properties
        for name in definition.required:
            if properties.get(name) is None:
                found = found or []
                found.append((ViolationKind.MISSING_PROPERTY, f"required property {name!r} is missing"))
        for name, value in properties.items():
            spec = definition.properties.get(name)
            if spec is None:
                if self.flag_unplanned_properties:
                    found = found or []
                    found.append((ViolationKind.UNPLANNED_PROPERTY,
                                  f"property {name!r} is not planned for {row.event!r}"))
                continue
            if value is None:
                continue  # an optional property may be null; a required one was reported above
            if not spec.check(value):
                found = found or []
                found.append((ViolationKind.WRONG_TYPE,
                              f"property {name!r} must be {spec.type}, got {json_type(value)}"))
            elif spec.allowed is not None and value not in spec.allowed:
                found = found or []
                found.append((ViolationKind.VALUE_NOT_ALLOWED,
                              f"property {name!r}: value {str(value)[:100]!r} is not allowed"))
        return found


def plan_compile(plan: TrackingPlan | None) -> CompiledPlan | None:
    """The plan as the check uses it; None when it checks nothing (disabled, or no event defined)."""
    if plan is None or not plan.enabled:
        return None
    compiled = CompiledPlan(mode=plan.mode, flag_unplanned_properties=plan.flag_unplanned_properties)
    by_event: dict[int, list[PropertyDefinition]] = {}
    for prop in PropertyDefinition.objects.all():
        by_event.setdefault(prop.event_id, []).append(prop)
    for definition in EventDefinition.objects.all():
        props = by_event.get(definition.pk, [])
        compiled.events[definition.name] = CompiledEvent(
            name=definition.name,
            properties={p.name: CompiledProperty(p.name, p.type, TYPE_CHECKS[p.type],
                                                 frozenset(p.allowed_values) if p.allowed_values else None)
                        for p in props},
            required=tuple(p.name for p in props if p.required),
        )
    return compiled if compiled.events else None


# --- the per-process cache -------------------------------------------------------------------------

# "<schema>:<tenant id>" -> (token or None when read without Redis, the plan's version, the plan)
_cache: dict[str, tuple[bytes | None, int, CompiledPlan | None]] = {}


def _token_key(schema_name: str, tenant_id: Any) -> str:
    return f"tracking_plan:token:{schema_name}:{tenant_id}"


def _plan_version() -> int:
    return TrackingPlan.objects.filter(pk=PLAN_SINGLETON).values_list("version", flat=True).first() or 0


def _load() -> tuple[int, CompiledPlan | None]:
    plan = TrackingPlan.objects.filter(pk=PLAN_SINGLETON).first()
    return (plan.version if plan else 0), plan_compile(plan)


def plan_current(*, schema_name: str, tenant_id: Any) -> CompiledPlan | None:
    """The compiled plan of the current tenant schema, from this process' cache while its token
    has not moved."""
    key = f"{schema_name}:{tenant_id}"
    hit = _cache.get(key)
    try:
        redis = get_redis()
        token_key = _token_key(schema_name, tenant_id)
        token = redis.get(token_key)
        if token is None:
            # First use since Redis started: name the current state before reading it, so a change
            # made meanwhile replaces this token and the plan read below is never kept past it.
            redis.set(token_key, secrets.token_hex(8), nx=True)
            token = redis.get(token_key)
        if hit is not None and token is not None and hit[0] == token:
            return hit[2]
    except RedisError:
        logger.warning("tracking plan token unavailable (Redis); checking the plan's version", exc_info=True)
        token = None
        version = _plan_version()
        if hit is not None and hit[0] is None and hit[1] == version:
            return hit[2]
    version, plan = _load()
    if len(_cache) > 10_000:
        _cache.clear()
    _cache[key] = (token, version, plan)
    return plan


def plan_token_replace(*, schema_name: str, tenant_id: Any) -> None:
    """Make every process reload the plan: now, and again once the change commits (a process that
    reloaded between the two read the plan before the change)."""
    token_key = _token_key(schema_name, tenant_id)

    def replace() -> None:
        try:
            get_redis().set(token_key, secrets.token_hex(8))
        except RedisError:
            logger.warning("tracking plan token not replaced (Redis); processes compare versions", exc_info=True)

    replace()
    transaction.on_commit(replace)


# --- the check registered on every ingestion path ---------------------------------------------------


def tracking_plan_check(rows: list[EventRow], *, tenant: Any) -> CheckOutcome | None:
    """apps.events.checks hook: the batch's violations, answered per the plan's mode and recorded
    (counted and sampled) once the request is answered."""
    plan = plan_current(schema_name=connection.schema_name, tenant_id=tenant.pk)
    if plan is None:
        return None
    found: list[tuple[int, EventRow, list[Violation]]] = []
    for position, row in enumerate(rows):
        violations = plan.violations(row)
        if violations:
            found.append((position, row, violations))
    if not found:
        return None
    from apps.governance.tracking.violations import violations_record

    schema_name = connection.schema_name
    received_at = datetime.now(timezone.utc)
    outcome = CheckOutcome(after=lambda: violations_record(
        schema_name=schema_name, received_at=received_at,
        found=[(row, violations) for _, row, violations in found]))
    if plan.mode == TrackingPlan.Mode.BLOCK:
        outcome.rejected = {position: "Tracking plan: " + "; ".join(message for _, message in violations) + "."
                            for position, _, violations in found}
    elif plan.mode == TrackingPlan.Mode.WARN:
        outcome.warnings = {position: [message for _, message in violations] for position, _, violations in found}
    return outcome

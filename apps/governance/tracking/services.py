"""Changes to the tracking plan: its settings and its event definitions. Every change replaces the
plan's token (apps.governance.tracking.plan), through the model signals connected in
GovernanceConfig.ready(), so the console, the API and the shell all reach ingestion at once."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F

from apps.core.exceptions import Conflict, NotFound, ValidationFailed
from apps.governance.models import EventDefinition, PropertyDefinition, TrackingPlan
from apps.governance.tracking.plan import PLAN_SINGLETON, TYPE_CHECKS, plan_token_replace

MAX_PROPERTIES = 200
ENUM_TYPES = ("string", "number", "integer", "boolean")


def _name_check(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 200 or "\x00" in value:
        raise ValidationFailed(f"{where} must be a non-empty string of at most 200 characters.",
                               details={where: "invalid"})
    return value


def property_check(prop: dict[str, Any], where: str = "property") -> dict[str, Any]:
    """One property definition, checked: a known type, and allowed values (if any) a non-empty list
    of distinct values of that type (string, number, integer or boolean only)."""
    _name_check(prop.get("name"), f"{where}.name")
    kind = prop.get("type")
    if kind not in TYPE_CHECKS:
        raise ValidationFailed(f"{where}.type must be one of {', '.join(TYPE_CHECKS)}.",
                               details={f"{where}.type": "invalid"})
    allowed = prop.get("allowed_values")
    if allowed is not None:
        if kind not in ENUM_TYPES:
            raise ValidationFailed(f"{where}.allowed_values is only for {', '.join(ENUM_TYPES)} properties.",
                                   details={f"{where}.allowed_values": "invalid"})
        if not isinstance(allowed, list) or not allowed or len(allowed) > 1000:
            raise ValidationFailed(f"{where}.allowed_values must be a list of 1 to 1,000 values, or null.",
                                   details={f"{where}.allowed_values": "invalid"})
        for n, value in enumerate(allowed):
            if not TYPE_CHECKS[kind](value):
                raise ValidationFailed(f"{where}.allowed_values[{n}] is not a {kind}.",
                                       details={f"{where}.allowed_values[{n}]": "invalid"})
    return {"name": prop["name"], "type": kind, "required": bool(prop.get("required", False)),
            "description": prop.get("description") or "", "allowed_values": allowed}


def properties_check(properties: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if len(properties) > MAX_PROPERTIES:
        raise ValidationFailed(f"An event has at most {MAX_PROPERTIES} properties.", details={"properties": "too_many"})
    checked = [property_check(prop, f"properties[{n}]") for n, prop in enumerate(properties)]
    names = [prop["name"] for prop in checked]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValidationFailed(f"Property names must be unique: {', '.join(duplicates)}.",
                               details={"properties": "duplicate"})
    return checked


def tracking_plan_ensure() -> TrackingPlan:
    plan, _ = TrackingPlan.objects.get_or_create(pk=PLAN_SINGLETON)
    return plan


def tracking_plan_update(*, changes: dict[str, Any]) -> TrackingPlan:
    with transaction.atomic():
        plan = TrackingPlan.objects.select_for_update().filter(pk=PLAN_SINGLETON).first() or tracking_plan_ensure()
        for name, value in changes.items():
            setattr(plan, name, value)
        plan.save()
    plan.refresh_from_db()
    return plan


def event_definition_create(*, name: str, description: str = "", properties: list[dict[str, Any]]) -> EventDefinition:
    _name_check(name, "name")
    checked = properties_check(properties)
    if EventDefinition.objects.filter(name=name).exists():
        raise Conflict(f"An event named {name!r} is already planned.")
    try:
        with transaction.atomic():
            tracking_plan_ensure()
            definition = EventDefinition.objects.create(name=name, description=description)
            PropertyDefinition.objects.bulk_create(PropertyDefinition(event=definition, **prop) for prop in checked)
            plan_changed()  # bulk_create sends no signal
    except IntegrityError:
        raise Conflict(f"An event named {name!r} is already planned.") from None
    return definition


def event_definition_update(*, definition: EventDefinition, name: str, description: str = "",
                            properties: list[dict[str, Any]]) -> EventDefinition:
    """Replace a definition (PUT): its name, description and all its properties."""
    _name_check(name, "name")
    checked = properties_check(properties)
    if EventDefinition.objects.filter(name=name).exclude(pk=definition.pk).exists():
        raise Conflict(f"An event named {name!r} is already planned.")
    try:
        with transaction.atomic():
            definition.name, definition.description = name, description
            definition.save()
            definition.properties.all().delete()
            PropertyDefinition.objects.bulk_create(PropertyDefinition(event=definition, **prop) for prop in checked)
            plan_changed()
    except IntegrityError:
        raise Conflict(f"An event named {name!r} is already planned.") from None
    return definition


def event_definition_delete(*, definition: EventDefinition) -> None:
    definition.delete()


def event_definition_get(*, ref: str) -> EventDefinition:
    """By name, else by id given as digits."""
    found = EventDefinition.objects.filter(name=ref).first()
    if found is None and ref.isascii() and ref.isdigit() and len(ref) <= 18:  # fits a bigint
        found = EventDefinition.objects.filter(pk=int(ref)).first()
    if found is None:
        raise NotFound(f"No planned event {ref!r}.")
    return found


def plan_changed(**kwargs: Any) -> None:
    """A part of the plan changed (a model signal receiver, or called after bulk writes): bump the
    plan's version (read when Redis is down) and replace its token so every process reloads it."""
    from django.db import connection

    from apps.tenancy.selectors import tenant_current

    TrackingPlan.objects.filter(pk=PLAN_SINGLETON).update(version=F("version") + 1)
    plan_token_replace(schema_name=connection.schema_name, tenant_id=tenant_current().pk)

"""Reads of events and persons in the current tenant schema."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet

from apps.core.exceptions import NotFound
from apps.events.models import Event, Person, PersonDistinctId


class PersonNotFound(NotFound):
    code = "person_not_found"


@dataclass(frozen=True)
class PersonView:
    id: int
    distinct_ids: list[str]
    traits: dict[str, Any]
    created_at: datetime
    updated_at: datetime


def person_distinct_ids(*, distinct_id: str) -> list[str]:
    """Every distinct id of the person `distinct_id` belongs to (itself if it was never seen)."""
    owner = PersonDistinctId.objects.filter(distinct_id=distinct_id).values_list("person_id", flat=True).first()
    if owner is None:
        return [distinct_id]
    return list(PersonDistinctId.objects.filter(person_id=owner).order_by("created_at", "distinct_id")
                .values_list("distinct_id", flat=True))


def person_get(*, distinct_id: str) -> PersonView:
    owner = PersonDistinctId.objects.filter(distinct_id=distinct_id).values_list("person_id", flat=True).first()
    person = Person.objects.filter(pk=owner).first() if owner is not None else None
    if person is None:
        raise PersonNotFound(f"No person with distinct id {distinct_id!r}.")
    return _view(person, person_distinct_ids(distinct_id=distinct_id))


def _view(person: Person, distinct_ids: list[str]) -> PersonView:
    return PersonView(id=person.id, distinct_ids=distinct_ids, traits=person.traits,
                      created_at=person.created_at, updated_at=person.updated_at)


def person_list(*, traits: dict[str, str] | None = None) -> QuerySet[Person]:
    """Persons, newest first, whose traits equal the given values (a numeric string also matches
    the number)."""
    persons = Person.objects.all()
    for name, value in (traits or {}).items():
        condition = Q(**{f"traits__{name}": value})
        number = _number(value)
        if number is not None:
            condition |= Q(**{f"traits__{name}": number})
        persons = persons.filter(condition)
    return persons


def persons_views(persons: list[Person]) -> list[PersonView]:
    ids = [p.id for p in persons]
    by_person: dict[int, list[str]] = {pid: [] for pid in ids}
    for distinct_id, person_id in (PersonDistinctId.objects.filter(person_id__in=ids)
                                   .order_by("created_at", "distinct_id").values_list("distinct_id", "person_id")):
        by_person[person_id].append(distinct_id)
    return [_view(p, by_person[p.id]) for p in persons]


def _number(value: str) -> int | float | None:
    try:
        return int(value)
    except ValueError:
        try:
            return float(value)
        except ValueError:
            return None


def event_list(
    *,
    event: str | None = None,
    event_type: str | None = None,
    distinct_id: str | None = None,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
    properties: dict[str, str] | None = None,
) -> QuerySet[Event]:
    """Events, newest first. `distinct_id` selects the whole person (all their merged ids)."""
    events = Event.objects.all()
    if event:
        events = events.filter(event=event)
    if event_type:
        events = events.filter(event_type=event_type)
    if distinct_id:
        events = events.filter(distinct_id__in=person_distinct_ids(distinct_id=distinct_id))
    if date_from:
        events = events.filter(timestamp__gte=date_from)
    if date_to:
        events = events.filter(timestamp__lt=date_to)
    for name, value in (properties or {}).items():
        events = events.filter(**{f"properties__{name}": value})
    return events

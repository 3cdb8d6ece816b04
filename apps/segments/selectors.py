"""Reads of segments: definitions, members, "is this person in it", and the query filter."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import QuerySet

from apps.core.exceptions import NotFound
from apps.events.models import Person, PersonDistinctId
from apps.events.selectors import persons_views
from apps.segments.models import Segment


def segment_get(*, segment_id: Any) -> Segment:
    try:
        return Segment.objects.get(pk=int(segment_id))
    except (Segment.DoesNotExist, ValueError, TypeError):
        raise NotFound(f"No segment {segment_id!r}.") from None


def segment_by_key(key: str) -> Segment | None:
    """A segment by name, or by id given as digits."""
    found = Segment.objects.filter(name=key).first()
    if found is None and key.isdigit():
        found = Segment.objects.filter(pk=int(key)).first()
    return found


def segment_list() -> QuerySet[Segment]:
    return Segment.objects.all()


def segment_members(*, segment: Segment) -> QuerySet[Person]:
    """The members as persons (a member merged into another person since the last refresh is gone)."""
    return Person.objects.extra(
        where=["persons.id IN (SELECT person_id FROM segment_members WHERE segment_id = %s)"], params=[segment.pk])


def segment_contains(*, segment: Segment, distinct_id: str) -> dict[str, Any]:
    person_id = PersonDistinctId.objects.filter(distinct_id=distinct_id).values_list("person_id", flat=True).first()
    if person_id is None:
        raise NotFound(f"No person with distinct id {distinct_id!r}.")
    with connection.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT 1 FROM segment_members WHERE segment_id = %s AND person_id = %s)",
                       [segment.pk, person_id])
        member = cursor.fetchone()[0]
    return {"segment": segment.name, "distinct_id": distinct_id, "person_id": person_id, "member": member,
            "refreshed_at": segment.refreshed_at}


def persons_by_ids(ids: list[int]) -> list[dict[str, Any]]:
    from apps.events.api.serializers import PersonOutput

    persons = list(Person.objects.filter(pk__in=ids).order_by("id"))
    return PersonOutput(persons_views(persons), many=True).data


def segment_resolve(key: str) -> tuple[str, list[Any], str] | None:
    """The query engine's segment filter (apps/insights/segments.py): a condition on `{person}`,
    its parameters, and a version (the last refresh) that changes cached answers' keys."""
    segment = segment_by_key(key)
    if segment is None:
        return None
    return ("{person} IN (SELECT person_id FROM segment_members WHERE segment_id = %s)", [segment.pk],
            f"{segment.pk}:{segment.refreshed_at.isoformat() if segment.refreshed_at else '-'}")


def segment_sizes(*, key: str, interval: str, time_range: Any) -> dict[str, Any]:
    """The refreshes inside the range (`points`), and per bucket of `interval` the size the last
    refresh before the bucket's end found (null before the first refresh)."""
    from bisect import bisect_left

    from apps.core.buckets import bucket_bounds, bucket_starts

    segment = segment_by_key(key)
    if segment is None:
        raise NotFound(f"No segment {key!r}.")
    starts = bucket_starts(time_range, interval)
    bounds = bucket_bounds(starts, time_range.zone) or [
        start.replace(tzinfo=time_range.zone) for start in starts]
    ends = [*bounds[1:], time_range.end]
    history = list(segment.sizes.filter(computed_at__lt=time_range.end).order_by("computed_at", "id")
                   .values_list("computed_at", "size"))
    moments = [moment for moment, _ in history]
    values = []
    for end in ends:
        index = bisect_left(moments, end)  # the refreshes strictly before the bucket's end
        values.append(history[index - 1][1] if index else None)
    return {"buckets": [start.replace(tzinfo=time_range.zone).isoformat() for start in starts], "values": values,
            "points": [{"computed_at": moment.isoformat(), "size": size} for moment, size in history
                       if moment >= time_range.start]}


def segments_of_person(*, person_id: int) -> QuerySet[Segment]:
    """The segments whose materialised membership holds the person (as of their last refresh)."""
    return Segment.objects.extra(
        where=["segments.id IN (SELECT segment_id FROM segment_members WHERE person_id = %s)"], params=[person_id])

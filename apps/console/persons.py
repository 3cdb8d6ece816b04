"""Persons in the console: a search page (`/admin/persons/`) and each person's profile
(`/admin/persons/<id>/`): traits, distinct ids, segments and the timeline of their events.

Read with `events.view_person` (every role). Everything is read in the request's tenant schema, so
another tenant's person id is simply not there (404).

- Search: persons with a distinct id equal to the text or starting with it, and: for `name=value`,
  persons whose trait `name` equals the value (a number or boolean too, when the value reads as one);
  for any other text, persons with a trait value containing it (case-insensitive). Newest persons first, keyset pages on id.
- Timeline: the events of every distinct id of the person (person_distinct_ids follows merges, so a
  merged anonymous id's events are there), newest first, keyset pages on (timestamp, id): `before`
  and `after` cursors, never OFFSET.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.db.models import BooleanField, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse

from apps.core.admin_sites import tenant_admin_site
from apps.events.models import Event, Person, PersonDistinctId
from apps.events.selectors import persons_views
from apps.segments.selectors import segments_of_person

TIMELINE_PAGE = 50
SEARCH_PAGE = 50
MAX_QUERY = 500


# --- the timeline ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Cursor:
    timestamp: datetime
    id: int

    def encode(self) -> str:
        raw = f"{self.timestamp.isoformat()}|{self.id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str | None) -> Cursor | None:
        """None for a missing or malformed cursor (the first page, then)."""
        if not text or len(text) > 200:
            return None
        try:
            moment, _, ident = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode().partition("|")
            timestamp = datetime.fromisoformat(moment)
            return cls(timestamp, int(ident)) if timestamp.tzinfo else None
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return None


@dataclass(frozen=True)
class TimelinePage:
    events: list[Event]
    older: Cursor | None  # pass as `before` for the next older page
    newer: Cursor | None  # pass as `after` for the next newer page


def _older_than(cursor: Cursor) -> Q:
    return Q(timestamp__lt=cursor.timestamp) | Q(timestamp=cursor.timestamp, id__lt=cursor.id)


def _newer_than(cursor: Cursor) -> Q:
    return Q(timestamp__gt=cursor.timestamp) | Q(timestamp=cursor.timestamp, id__gt=cursor.id)


def person_timeline(*, distinct_ids: list[str], before: Cursor | None = None, after: Cursor | None = None,
                    size: int = TIMELINE_PAGE) -> TimelinePage:
    """One page of the events of `distinct_ids`, newest first: the `size` events older than
    `before`, or the `size` events newer than `after` (the page just above it), or the newest.
    Keyset on (timestamp, id), served by the (distinct_id, timestamp) index."""
    events = Event.objects.filter(distinct_id__in=distinct_ids)
    if after is not None:
        rows = list(events.filter(_newer_than(after)).order_by("timestamp", "id")[: size + 1])
        more_newer = len(rows) > size
        rows = rows[:size][::-1]
        more_older = True  # the row at `after` itself is older
    else:
        if before is not None:
            events_page = events.filter(_older_than(before))
        else:
            events_page = events
        rows = list(events_page.order_by("-timestamp", "-id")[: size + 1])
        more_older = len(rows) > size
        rows = rows[:size]
        more_newer = before is not None and (
            not rows or events.filter(_newer_than(Cursor(rows[0].timestamp, rows[0].id))).exists())
    if not rows:
        # Past either end: offer the way back to where there are events.
        if after is not None:
            return TimelinePage([], older=after if events.filter(_older_than(after)).exists() else None, newer=None)
        return TimelinePage([], older=None, newer=before if before and events.filter(_newer_than(before)).exists()
                            else None)
    first, last = rows[0], rows[-1]
    return TimelinePage(rows, older=Cursor(last.timestamp, last.id) if more_older else None,
                        newer=Cursor(first.timestamp, first.id) if more_newer else None)


def _json_text(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def _trait_rows(traits: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(name, value as text, whether it is JSON) sorted by name; nested values as JSON text."""
    rows = []
    for name in sorted(traits, key=str):
        value = traits[name]
        nested = isinstance(value, (dict, list))
        rows.append((name, _json_text(value) if nested else ("null" if value is None else
                                                             json.dumps(value) if isinstance(value, bool)
                                                             else str(value)), nested))
    return rows


def _privacy_url(user: Any, distinct_id: str) -> str | None:
    """The governance request form for this person, for those who may use it (admins)."""
    from apps.governance.roles import user_is_tenant_admin

    if not user_is_tenant_admin(user):
        return None
    try:
        url = reverse("admin:governance_privacyjob_request", current_app=tenant_admin_site.name)
    except NoReverseMatch:
        return None
    return f"{url}?{urlencode({'distinct_id': distinct_id})}"


def person_page(request: HttpRequest, person_id: int) -> HttpResponse:
    person = Person.objects.filter(pk=person_id).first()
    if person is None:
        raise Http404("No such person.")
    distinct_ids = list(PersonDistinctId.objects.filter(person_id=person.pk).order_by("created_at", "distinct_id")
                        .values_list("distinct_id", flat=True))
    before, after = Cursor.decode(request.GET.get("before")), Cursor.decode(request.GET.get("after"))
    page = person_timeline(distinct_ids=distinct_ids, before=None if after else before, after=after,
                           size=TIMELINE_PAGE)
    zone = ZoneInfo(request.tenant.timezone)
    base = reverse("admin:console_person", args=[person.pk], current_app=tenant_admin_site.name)
    timeline = [{"id": e.id, "event": e.event, "event_type": e.event_type, "distinct_id": e.distinct_id,
                 "time": e.timestamp.astimezone(zone), "iso": e.timestamp.astimezone(zone).isoformat(),
                 "properties": _json_text(e.properties), "has_properties": bool(e.properties)}
                for e in page.events]
    context = {
        **tenant_admin_site.each_context(request),
        "title": f"Person {person.pk}",
        "person": person,
        "traits": _trait_rows(person.traits or {}),
        "distinct_ids": distinct_ids,
        "segments": list(segments_of_person(person_id=person.pk)),
        "timeline": timeline,
        "timezone": zone.key,
        "older_url": f"{base}?{urlencode({'before': page.older.encode()})}" if page.older else None,
        "newer_url": f"{base}?{urlencode({'after': page.newer.encode()})}" if page.newer else None,
        "newest_url": base if (before or after) else None,
        "privacy_url": _privacy_url(request.user, distinct_ids[0]) if distinct_ids else None,
        "admin_url": reverse("admin:events_person_change", args=[person.pk], current_app=tenant_admin_site.name),
        "search_url": reverse("admin:console_persons", current_app=tenant_admin_site.name),
    }
    request.current_app = tenant_admin_site.name
    return TemplateResponse(request, "console/person.html", context)


# --- the search ------------------------------------------------------------------------------------

def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _number(value: str) -> int | float | None:
    for kind in (int, float):
        try:
            number = kind(value)
        except ValueError:
            continue
        return number if number == number and number not in (float("inf"), float("-inf")) else None
    return None


def person_search(*, query: str) -> QuerySet[Person]:
    """Persons matching `query` (module docstring), newest first. Names and values are bound
    parameters (a trait name is a JSON key in a containment test, never a lookup path)."""
    query = query.strip()
    persons = Person.objects.all()
    if not query:
        return persons.order_by("-id")
    # A distinct id may hold "=" too: it is matched whatever the text.
    owners = PersonDistinctId.objects.filter(distinct_id__startswith=query).values("person_id")
    name, equals, value = query.partition("=")
    if equals and name.strip():
        name, value = name.strip(), value.strip()
        condition = Q(traits__contains={name: value})
        number = _number(value)
        if number is not None:
            condition |= Q(traits__contains={name: number})
        if value in ("true", "false"):
            condition |= Q(traits__contains={name: value == "true"})
        return persons.filter(condition | Q(pk__in=owners)).order_by("-id")
    in_traits = RawSQL(
        "EXISTS (SELECT 1 FROM jsonb_each_text(CASE WHEN jsonb_typeof(persons.traits) = 'object' "
        "THEN persons.traits ELSE '{}'::jsonb END) AS t WHERE t.value ILIKE %s)",
        [f"%{_like(query)}%"], output_field=BooleanField())
    return persons.annotate(in_traits=in_traits).filter(Q(pk__in=owners) | Q(in_traits=True)).order_by("-id")


def persons_page(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "")[:MAX_QUERY]
    persons = person_search(query=query)
    before = request.GET.get("before", "")
    if before.isdigit():
        persons = persons.filter(pk__lt=int(before))
    rows = list(persons[: SEARCH_PAGE + 1])
    more = len(rows) > SEARCH_PAGE
    rows = rows[:SEARCH_PAGE]
    zone = ZoneInfo(request.tenant.timezone)
    base = reverse("admin:console_persons", current_app=tenant_admin_site.name)
    results = [{"id": view.id, "distinct_ids": view.distinct_ids[:5], "more_ids": max(len(view.distinct_ids) - 5, 0),
                "traits": json.dumps(view.traits, sort_keys=True, ensure_ascii=False, default=str)[:200],
                "updated_at": view.updated_at.astimezone(zone),
                "url": reverse("admin:console_person", args=[view.id], current_app=tenant_admin_site.name)}
               for view in persons_views(rows)]
    context = {
        **tenant_admin_site.each_context(request),
        "title": "Persons",
        "query": query,
        "results": results,
        "searched": bool(query.strip()),
        "next_url": f"{base}?{urlencode({'q': query, 'before': rows[-1].pk})}" if more else None,
        "first_url": f"{base}?{urlencode({'q': query})}" if before else None,
        "timezone": zone.key,
    }
    request.current_app = tenant_admin_site.name
    return TemplateResponse(request, "console/persons.html", context)


# Every role reads persons (the viewer role holds view_person).
tenant_admin_site.register_view(route="persons/", view=persons_page, name="console_persons", title="Persons",
                                permission="events.view_person")
tenant_admin_site.register_view(route="persons/<int:person_id>/", view=person_page, name="console_person",
                                title="Person", permission="events.view_person", listed=False)

"""Anonymising a person: their events stay (so every count, funnel and retention stays the same) but
belong to a new person under a new random distinct id, with nothing left that names them.

In the caller's transaction, in the current tenant schema:
1. Find the person owning the distinct id and lock its row (a concurrent merge waits for us, then
   finds the person gone and does nothing).
2. Make a new person (no traits) with one new random distinct id.
3. Rewrite every event of the person's distinct ids: the new distinct id and person; `user_id` and
   `anonymous_id` become the new id; the named properties (and context keys) are removed, and any
   top-level value equal to one of the old ids becomes the new id.
4. Delete the old person, its distinct ids and its merge records (`person_overrides`): the old ids
   resolve to nothing, so a later event with one of them starts a new person.

The new id and person are returned to the caller for the rest of the same transaction only; they
must not be stored anywhere that also holds an old id (that would undo the anonymisation).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import msgspec
from django.db import connection

from apps.events.selectors import PersonNotFound

# Removed from every event's properties (and context) whatever the request names: the usual
# personal fields of web and mobile trackers. Top-level keys, matched exactly.
DEFAULT_SCRUBBED_PROPERTIES = (
    "email", "$email", "name", "$name", "first_name", "last_name", "firstName", "lastName", "username",
    "phone", "$phone", "phone_number", "address", "ip", "$ip", "$set", "$set_once", "$anon_distinct_id",
)
# Removed from every event's context in addition: the address and place the event came from, and the
# copy of the person's traits Segment libraries attach.
DEFAULT_SCRUBBED_CONTEXT = ("ip", "traits", "location")
# Device identifiers inside the context (paths in the JSON document).
SCRUBBED_CONTEXT_PATHS = (("device", "id"), ("device", "advertisingId"))

_encode = msgspec.json.encode


@dataclass(frozen=True)
class Anonymised:
    old_distinct_ids: list[str]
    old_person_ids: list[int]
    new_person_id: int
    new_distinct_id: str
    events: int


def _scrub(column: str) -> str:
    """SQL: `column` without the keys %(names)s, each top-level value equal to an old id replaced."""
    return (
        "(SELECT COALESCE(jsonb_object_agg(k, CASE WHEN v = ANY(%(old_values)s::jsonb[]) "
        "THEN %(new_value)s::jsonb ELSE v END), '{}'::jsonb) "
        f"FROM jsonb_each({column}) AS x(k, v))"
    )


_REWRITE = (
    "UPDATE events SET distinct_id = %(new_id)s, person_id = %(new_person)s, "
    "user_id = CASE WHEN user_id IS NULL THEN NULL ELSE %(new_id)s END, "
    "anonymous_id = CASE WHEN anonymous_id IS NULL THEN NULL ELSE %(new_id)s END, "
    "properties = " + _scrub("properties - %(names)s::text[]") + ", "
    "context = " + _scrub("(context - %(context_names)s::text[]) #- %(path_1)s::text[] #- %(path_2)s::text[]")
    + " WHERE distinct_id = ANY(%(old_ids)s)"
)


def person_anonymise(*, distinct_id: str, properties: list[str]) -> Anonymised:
    """Anonymise the person of `distinct_id` (see the module's steps); `properties` are removed from
    their events besides DEFAULT_SCRUBBED_PROPERTIES. Raises PersonNotFound. Run it inside a
    transaction (the caller's): every step or none."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT person_id FROM person_distinct_ids WHERE distinct_id = %s", [distinct_id])
        row = cursor.fetchone()
        if row is None:
            raise PersonNotFound(f"No person with distinct id {distinct_id!r}.")
        person_id = row[0]
        cursor.execute("SELECT created_at FROM persons WHERE id = %s FOR UPDATE", [person_id])
        person = cursor.fetchone()
        if person is None:
            raise PersonNotFound(f"No person with distinct id {distinct_id!r}.")
        # Locked: a batch that would add an id to this person (merge) waits for the commit.
        cursor.execute("SELECT distinct_id FROM person_distinct_ids WHERE person_id = %s ORDER BY distinct_id "
                       "FOR UPDATE", [person_id])
        old_ids = [r[0] for r in cursor.fetchall()]
        cursor.execute("SELECT old_person_id FROM person_overrides WHERE person_id = %s", [person_id])
        old_person_ids = sorted({person_id, *(r[0] for r in cursor.fetchall())})

        new_id = str(uuid.uuid4())
        cursor.execute("INSERT INTO persons (id, traits, created_at, updated_at) "
                       "VALUES (nextval(pg_get_serial_sequence('persons', 'id')), '{}'::jsonb, %s, now()) "
                       "RETURNING id", [person[0]])
        new_person_id = cursor.fetchone()[0]
        cursor.execute("INSERT INTO person_distinct_ids (distinct_id, person_id, created_at) VALUES (%s, %s, now())",
                       [new_id, new_person_id])
        cursor.execute(_REWRITE, _rewrite_parameters(old_ids, new_id, new_person_id, properties))
        events = cursor.rowcount
        cursor.execute("DELETE FROM person_overrides WHERE person_id = %s OR old_person_id = ANY(%s)",
                       [person_id, old_person_ids])
        cursor.execute("DELETE FROM person_distinct_ids WHERE person_id = %s", [person_id])
        cursor.execute("DELETE FROM persons WHERE id = %s", [person_id])
    return Anonymised(old_distinct_ids=old_ids, old_person_ids=old_person_ids, new_person_id=new_person_id,
                      new_distinct_id=new_id, events=events)


def events_anonymise_stragglers(*, old_ids: list[str], old_person_ids: list[int], new_distinct_id: str,
                                new_person_id: int, properties: list[str]) -> int:
    """Events a batch stored with an old id and the old person while the anonymisation ran (its
    transaction had read the id's owner before ours committed): rewritten like the others. An event
    sent with an old id after the commit belongs to a new person and is left alone."""
    with connection.cursor() as cursor:
        cursor.execute(_REWRITE + " AND person_id = ANY(%(old_person_ids)s)", {
            **_rewrite_parameters(old_ids, new_distinct_id, new_person_id, properties),
            "old_person_ids": old_person_ids})
        return cursor.rowcount


def _rewrite_parameters(old_ids: list[str], new_id: str, new_person_id: int, properties: list[str]) -> dict:
    names = sorted(set(DEFAULT_SCRUBBED_PROPERTIES) | set(properties))
    return {
        "new_id": new_id, "new_person": new_person_id, "old_ids": old_ids, "names": names,
        "context_names": sorted(set(names) | set(DEFAULT_SCRUBBED_CONTEXT)),
        "path_1": list(SCRUBBED_CONTEXT_PATHS[0]), "path_2": list(SCRUBBED_CONTEXT_PATHS[1]),
        "old_values": [_encode(i).decode() for i in old_ids], "new_value": _encode(new_id).decode(),
    }

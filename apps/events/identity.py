"""Persons and their distinct ids, written inside the ingestion transaction.

- Every distinct id gets a person of its own the first time it is seen.
- A merge (alias, or identify carrying both ids) moves every distinct id of the source person to
  the target person and deletes the source. Events keep the person they were stored with;
  `person_overrides` maps the source (and every person merged into it before) to the target, so
  a person's earlier anonymous events count as that person at once.
- Traits merge key by key; on a merge the target's traits win over the source's.
"""

from __future__ import annotations

from typing import Any

import msgspec

_encode = msgspec.json.encode


def persons_ensure(cursor, distinct_ids: set[str]) -> dict[str, int]:  # noqa: ANN001
    """The person of each distinct id, giving one to ids that have none. Race-free: ids are
    inserted in sorted order (concurrent batches wait on each other, never deadlock), an id another
    batch inserted meanwhile hands back its row (DO UPDATE), and only ids inserted now get a person."""
    cursor.execute(
        """
        WITH wanted AS (
            SELECT d FROM unnest(%s::text[]) AS d
        ), known AS (
            SELECT distinct_id, person_id FROM person_distinct_ids WHERE distinct_id IN (SELECT d FROM wanted)
        ), claimed AS (
            INSERT INTO person_distinct_ids (distinct_id, person_id, created_at)
            SELECT d, nextval(pg_get_serial_sequence('persons', 'id')), now() FROM wanted
            WHERE d NOT IN (SELECT distinct_id FROM known) ORDER BY d
            ON CONFLICT (distinct_id) DO UPDATE SET distinct_id = EXCLUDED.distinct_id
            RETURNING distinct_id, person_id, xmax = 0 AS inserted
        ), new_persons AS (
            INSERT INTO persons (id, traits, created_at, updated_at)
            SELECT person_id, '{}'::jsonb, now(), now() FROM claimed WHERE inserted
        )
        SELECT distinct_id, person_id FROM known UNION ALL SELECT distinct_id, person_id FROM claimed
        """,
        [sorted(distinct_ids)],
    )
    return dict(cursor.fetchall())


def persons_merge(cursor, *, source: str, target: str) -> None:  # noqa: ANN001
    """Merge the person of distinct id `source` into the person of `target`."""
    cursor.execute(
        "SELECT distinct_id, person_id FROM person_distinct_ids WHERE distinct_id IN (%s, %s)", [source, target]
    )
    owners = dict(cursor.fetchall())
    source_person, target_person = owners.get(source), owners.get(target)
    if source_person is None or target_person is None or source_person == target_person:
        return
    # Lock both persons in id order so two merges of the same pair cannot deadlock.
    cursor.execute("SELECT id FROM persons WHERE id IN (%s, %s) ORDER BY id FOR UPDATE",
                   [source_person, target_person])
    if len(cursor.fetchall()) != 2:
        return
    cursor.execute(
        "UPDATE persons AS target SET traits = source.traits || target.traits, updated_at = now() "
        "FROM persons AS source WHERE target.id = %s AND source.id = %s",
        [target_person, source_person],
    )
    cursor.execute("UPDATE person_distinct_ids SET person_id = %s WHERE person_id = %s",
                   [target_person, source_person])
    # Events stored with the source person (or with persons merged into it before) are the target's.
    cursor.execute("UPDATE person_overrides SET person_id = %s WHERE person_id = %s", [target_person, source_person])
    cursor.execute("INSERT INTO person_overrides (old_person_id, person_id) VALUES (%s, %s)",
                   [source_person, target_person])
    cursor.execute("DELETE FROM persons WHERE id = %s", [source_person])


def person_set_traits(cursor, *, distinct_id: str, traits: dict[str, Any], overwrite: bool = True) -> None:  # noqa: ANN001
    """Merge `traits` into the person's; with overwrite=False only traits the person lacks are set."""
    merged = "traits || %s::jsonb" if overwrite else "%s::jsonb || traits"
    cursor.execute(
        f"UPDATE persons SET traits = {merged}, updated_at = now() "
        "WHERE id = (SELECT person_id FROM person_distinct_ids WHERE distinct_id = %s)",
        [_encode(traits).decode(), distinct_id],
    )

"""Writes of segments: definitions, rules, and the materialised membership (DESIGN §7)."""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, transaction
from django.utils import timezone
from psycopg.errors import QueryCanceled

from apps.core.exceptions import Conflict, NotFound, Unavailable, ValidationFailed
from apps.core.names import check_name
from apps.insights.queries.segment import members_sql
from apps.segments import rules as tree
from apps.segments.models import Segment, SegmentSize

logger = logging.getLogger(__name__)
MUTABLE = ("name", "display_name", "description", "rules")
PREVIEW_SAMPLE = 10
ANALYZE_AFTER_CHANGES = 1000


class RefreshTimedOut(Exception):
    pass


def _save(segment: Segment) -> None:
    try:
        with transaction.atomic():
            segment.save()
    except IntegrityError:
        raise Conflict(f"A segment {segment.name!r} already exists.", code="segment_exists") from None


def segment_create(*, name: str, display_name: str = "", description: str = "", rules: Any = None,
                   entity_type: str = "person", refresh: bool = True) -> Segment:
    check_name(name)
    if entity_type != Segment.EntityType.PERSON:
        raise ValidationFailed("`entity_type` must be `person`.", details={"entity_type": entity_type})
    checked, next_id = tree.tree_check(rules)
    segment = Segment(name=name, display_name=display_name, description=description, entity_type=entity_type,
                      rules=checked, next_rule_id=next_id)
    _save(segment)
    if refresh:
        segment_refresh_after_change(segment)
    return segment


def segment_update(*, segment: Segment, changes: dict[str, Any]) -> Segment:
    fixed = sorted(set(changes) - set(MUTABLE))
    if fixed:
        raise ValidationFailed(f"{fixed} cannot be changed.", details={f: "immutable" for f in fixed})
    if "name" in changes:
        check_name(changes["name"])
    if "rules" in changes:
        changes["rules"], segment.next_rule_id = tree.tree_check(changes["rules"], next_id=segment.next_rule_id)
    for field, value in changes.items():
        setattr(segment, field, value)
    _save(segment)
    if "rules" in changes:
        segment_refresh_after_change(segment)
    return segment


def segment_delete(*, segment: Segment) -> None:
    segment.delete()


def segment_rule_add(*, segment: Segment, node: Any, parent: str = "root") -> dict[str, Any]:
    """Add `node` (a leaf or a group) to the group `parent` (the top group by default); returns the
    node with its id."""
    with transaction.atomic():
        segment = Segment.objects.select_for_update().get(pk=segment.pk)
        group, _ = tree.node_find(segment.rules, parent)
        if group is None or "op" not in group:
            raise ValidationFailed(f"No group {parent!r} in this segment.", details={"parent": parent})
        checked, segment.next_rule_id = tree.node_check(node, next_id=segment.next_rule_id,
                                                        taken=tree.node_ids(segment.rules))
        group["rules"].append(checked)
        tree.tree_check(segment.rules, next_id=segment.next_rule_id)  # depth and size limits of the whole tree
        segment.save(update_fields=["rules", "next_rule_id", "updated_at"])
    segment_refresh_after_change(segment)
    return checked


def segment_rule_remove(*, segment: Segment, rule_id: str) -> None:
    with transaction.atomic():
        segment = Segment.objects.select_for_update().get(pk=segment.pk)
        node, parent = tree.node_find(segment.rules, rule_id)
        if node is None or parent is None:
            raise NotFound(f"No rule {rule_id!r} in this segment" + (" (the top group cannot be removed)."
                                                                     if rule_id == "root" else "."))
        parent["rules"] = [child for child in parent["rules"] if child["id"] != rule_id]
        segment.save(update_fields=["rules", "updated_at"])
    segment_refresh_after_change(segment)


def segment_refresh_after_change(segment: Segment) -> None:
    """Right after a change: refresh within SEGMENT_REFRESH_INLINE_MS, else leave it to a task
    (with the longer beat limit)."""
    try:
        segment_refresh(segment_id=segment.pk, timeout_ms=settings.SEGMENT_REFRESH_INLINE_MS)
    except RefreshTimedOut:
        from apps.segments.tasks import segment_refresh_task

        transaction.on_commit(lambda: segment_refresh_task.delay(segment.pk))
    segment.refresh_from_db()


def segment_refresh(*, segment_id: int, timeout_ms: int | None = None, now: datetime | None = None) -> int:
    """Recompute the membership of one segment (current schema) and record its size. Refreshes of
    one segment run one at a time (a row lock); each leaves exactly the members its evaluation
    found. On a timeout the old members stay, the error is recorded, and RefreshTimedOut is raised."""
    timeout_ms = timeout_ms or settings.SEGMENT_REFRESH_TIMEOUT_MS
    started = time.perf_counter()
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            segment = Segment.objects.select_for_update().get(pk=segment_id)
            now = now or timezone.now()
            sql, params = members_sql(segment.rules, now)
            cursor.execute("SELECT set_config('statement_timeout', %s, true), set_config('work_mem', %s, true)",
                           [f"{timeout_ms}ms", f"{settings.QUERY_WORK_MEM_MB}MB"])
            # One statement: the members found, those no longer found deleted, the new ones added.
            cursor.execute(f"""
                WITH found AS MATERIALIZED ({sql}),
                gone AS (DELETE FROM segment_members m WHERE m.segment_id = %s
                         AND NOT EXISTS (SELECT 1 FROM found f WHERE f.id = m.person_id) RETURNING 1),
                added AS (INSERT INTO segment_members (segment_id, person_id) SELECT %s, id FROM found
                          ON CONFLICT DO NOTHING RETURNING 1)
                SELECT (SELECT count(*) FROM found), (SELECT count(*) FROM gone), (SELECT count(*) FROM added)""",
                [*params, segment_id, segment_id])
            size, gone, added = cursor.fetchone()
            cursor.execute("SELECT set_config('statement_timeout', '0', true)")
            duration = int((time.perf_counter() - started) * 1000)
            SegmentSize.objects.create(segment=segment, computed_at=now, size=size, duration_ms=duration)
            Segment.objects.filter(pk=segment_id).update(size=size, refreshed_at=now, refresh_error="")
        if gone + added > ANALYZE_AFTER_CHANGES:
            # Fresh statistics at once: queries filtered by a segment join its members, and a plan
            # made on stale numbers (a table thought empty) can be a thousand times slower.
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE segment_members")
        return size
    except OperationalError as exc:
        if not isinstance(exc.__cause__, QueryCanceled):
            raise
        message = f"The refresh ran past its limit of {timeout_ms} ms."
        Segment.objects.filter(pk=segment_id).update(refresh_error=message)
        raise RefreshTimedOut(message) from None


def segments_refresh_all() -> dict[str, int]:
    """Every segment of the current schema, one after another; a segment that fails is recorded and
    the others go on."""
    done = failed = 0
    for segment_id in Segment.objects.order_by("pk").values_list("pk", flat=True):
        try:
            segment_refresh(segment_id=segment_id)
            done += 1
        except RefreshTimedOut:
            failed += 1
        except Segment.DoesNotExist:
            continue  # deleted meanwhile
    return {"refreshed": done, "failed": failed}


def segment_preview(*, rules: Any, now: datetime | None = None) -> dict[str, Any]:
    """Evaluate a tree without saving it: the count and a sample of members (persons)."""
    from apps.segments.selectors import persons_by_ids

    checked, _ = tree.tree_check(rules)
    sql, params = members_sql(checked, now or timezone.now())
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", [f"{settings.SEGMENT_REFRESH_INLINE_MS}ms"])
            cursor.execute(f"WITH found AS MATERIALIZED ({sql}) SELECT (SELECT count(*) FROM found), "
                           f"(SELECT array_agg(id) FROM (SELECT id FROM found ORDER BY id LIMIT {PREVIEW_SAMPLE}) s)",
                           params)
            count, sample = cursor.fetchone()
    except OperationalError as exc:
        if isinstance(exc.__cause__, QueryCanceled):
            raise Unavailable("The preview ran past its time limit; save the segment to have it refreshed in the "
                              "background.", code="query_timeout") from None
        raise
    return {"count": count, "sample": persons_by_ids(sample or []), "rules": checked}


def segment_members_move(*, person_ids: list[int], to_person_id: int | None) -> int:
    """A person anonymised (`to_person_id`: the person their events now belong to) or deleted
    (None): memberships of `person_ids` move to that person or go, until the next refresh decides
    again. Runs in the caller's transaction; returns the memberships touched."""
    with connection.cursor() as cursor:
        if to_person_id is not None:
            cursor.execute(
                "INSERT INTO segment_members (segment_id, person_id) SELECT DISTINCT segment_id, %s "
                "FROM segment_members WHERE person_id = ANY(%s) ON CONFLICT DO NOTHING", [to_person_id, person_ids])
        cursor.execute("DELETE FROM segment_members WHERE person_id = ANY(%s)", [person_ids])
        return cursor.rowcount

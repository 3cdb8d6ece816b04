"""Privacy: delete a person and all their events (a tracked job), export everything held on them."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from apps.core.signals import audit_event
from apps.events.models import Person, PersonDistinctId, PrivacyJob
from apps.events.selectors import person_distinct_ids, person_get
from apps.events.storage import events_delete_for

logger = logging.getLogger(__name__)


def person_delete_request(*, distinct_id: str) -> PrivacyJob:
    """Record a deletion job for the person of `distinct_id` and queue it after the commit.
    Raises PersonNotFound if no such person exists."""
    person = person_get(distinct_id=distinct_id)
    with transaction.atomic():
        job = PrivacyJob.objects.create(distinct_id=distinct_id, distinct_ids=person.distinct_ids)
        # Recorded by the person's internal id, not by the distinct ids being erased.
        audit_event.send(sender=PrivacyJob, action="person_deleted", object_type="person", object_id=person.id,
                         object_repr=f"person {person.id}",
                         changes={"privacy_job": job.pk, "distinct_ids": len(person.distinct_ids)})
        from apps.events.tasks import person_delete

        # The schema is named explicitly: on_commit may fire after the request left the tenant.
        schema_name = connection.schema_name
        transaction.on_commit(
            lambda: person_delete.apply_async(args=[job.id], headers={"_schema_name": schema_name})
        )
    return job


def person_delete_run(*, job_id: int) -> PrivacyJob:
    """Run a deletion job once: only a pending job is taken (conditional update), so a repeated or
    concurrent delivery of the task has no second effect."""
    taken = PrivacyJob.objects.filter(pk=job_id, status=PrivacyJob.Status.PENDING).update(
        status=PrivacyJob.Status.RUNNING
    )
    job = PrivacyJob.objects.get(pk=job_id)
    if not taken:
        return job
    try:
        with transaction.atomic():
            # Ids merged into the person after the request was made are deleted too.
            distinct_ids = sorted(set(job.distinct_ids) | set(person_distinct_ids(distinct_id=job.distinct_id)))
            _, deleted = person_erase(distinct_ids=distinct_ids)
            PrivacyJob.objects.filter(pk=job_id).update(
                status=PrivacyJob.Status.SUCCEEDED, finished_at=timezone.now(), events_deleted=deleted,
                distinct_ids=distinct_ids,
            )
    except Exception as exc:
        logger.exception("privacy deletion %s failed in %s", job_id, connection.schema_name)
        PrivacyJob.objects.filter(pk=job_id).update(status=PrivacyJob.Status.FAILED, finished_at=timezone.now(),
                                                    error=str(exc)[:2000])
    return PrivacyJob.objects.get(pk=job_id)


def person_erase(*, distinct_ids: list[str]) -> tuple[list[int], int]:
    """Delete every event of `distinct_ids`, the persons owning them (with all their ids) and their
    merge records, in the caller's transaction. Returns (the persons deleted, the events deleted)."""
    deleted = events_delete_for(distinct_ids=distinct_ids)
    person_ids = sorted(set(PersonDistinctId.objects.filter(distinct_id__in=distinct_ids)
                            .values_list("person_id", flat=True)))
    PersonDistinctId.objects.filter(person_id__in=person_ids).delete()
    Person.objects.filter(pk__in=person_ids).delete()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM person_overrides WHERE person_id = ANY(%s)", [person_ids])
    return person_ids, deleted


def privacy_job_get(*, job_id: int) -> PrivacyJob:
    from apps.core.exceptions import NotFound

    job = PrivacyJob.objects.filter(pk=job_id).first()
    if job is None:
        raise NotFound(f"No privacy job {job_id}.", code="privacy_job_not_found")
    return job


def privacy_jobs_repair(*, stuck_after_minutes: int = 60) -> int:
    """Requeue jobs left pending (their task was lost) or running (their worker died) for longer
    than `stuck_after_minutes`. A running job goes back to pending first, so the conditional
    update in person_delete_run lets exactly one delivery take it. Returns the jobs requeued."""
    from apps.events.tasks import person_delete

    cutoff = timezone.now() - timedelta(minutes=stuck_after_minutes)
    PrivacyJob.objects.filter(status=PrivacyJob.Status.RUNNING, requested_at__lt=cutoff).update(
        status=PrivacyJob.Status.PENDING
    )
    job_ids = list(PrivacyJob.objects.filter(status=PrivacyJob.Status.PENDING, requested_at__lt=cutoff)
                   .values_list("id", flat=True))
    schema_name = connection.schema_name
    for job_id in job_ids:
        person_delete.apply_async(args=[job_id], headers={"_schema_name": schema_name})
    return len(job_ids)

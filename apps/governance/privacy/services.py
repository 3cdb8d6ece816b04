"""Privacy jobs: anonymise, export or delete a person, as tracked jobs run by a worker.

- `privacy_job_request` checks the request, records the job (queued) and queues its task after the
  commit; an unknown person is refused at once (404) and no job is recorded.
- `privacy_job_run` takes a queued job (a conditional update: one run per delivery, however often
  the task arrives), does the work and marks the job succeeded in ONE transaction, so a crash
  leaves the data and the job as they were and the job can simply run again. A failure is
  recorded on the job with its reason.
- `privacy_jobs_repair` queues again jobs whose task was lost or whose worker died.
- `privacy_exports_expire` deletes export files past their end of life.
Each request and each outcome is announced to the audit log (apps.core.signals.audit_event).
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any, Callable

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from redis.exceptions import RedisError

from apps.core.exceptions import DomainError, ValidationFailed
from apps.core.redis import get_redis
from apps.core.signals import audit_event
from apps.events.anonymise import events_anonymise_stragglers, person_anonymise
from apps.events.privacy import person_erase
from apps.events.selectors import person_distinct_ids, person_get
from apps.governance.models.privacy import PrivacyExportFile, PrivacyJob
from apps.governance.privacy import export
from apps.segments.services import segment_members_move

logger = logging.getLogger(__name__)

Kind, State = PrivacyJob.Kind, PrivacyJob.State
MAX_PROPERTIES = 100
MAX_PROPERTY_LENGTH = 200
MAX_DISTINCT_ID_LENGTH = 200
# A job whose worker died this many times is failed rather than queued again.
MAX_ATTEMPTS = 3
DONE_ACTIONS = {Kind.ANONYMISE: "person_anonymised", Kind.EXPORT: "person_exported", Kind.DELETE: "person_deleted"}


class JobLost(Exception):
    """Another delivery took the job over (it was queued again as stuck): this run must not commit."""


# --- requesting --------------------------------------------------------------------------------------


def privacy_job_request(*, kind: str, distinct_id: str, requested_by: str,
                        properties: list[str] | None = None) -> PrivacyJob:
    """Record a job for the person of `distinct_id` and queue it after the commit. The same request
    while an identical one is queued or running answers that job (no second job). Raises
    ValidationFailed, or PersonNotFound (nothing recorded)."""
    if kind not in Kind.values:
        raise ValidationFailed(f"kind must be one of {', '.join(Kind.values)}.", details={"kind": kind})
    if not isinstance(distinct_id, str) or not distinct_id or len(distinct_id) > MAX_DISTINCT_ID_LENGTH:
        raise ValidationFailed(f"distinct_id must be a non-empty string of at most {MAX_DISTINCT_ID_LENGTH} "
                               "characters.", details={"distinct_id": "invalid"})
    options: dict[str, Any] = {}
    if properties is not None:
        if kind != Kind.ANONYMISE:
            raise ValidationFailed("properties are only taken by kind anonymise.", details={"properties": "unexpected"})
        options["properties"] = _property_names(properties)
    elif kind == Kind.ANONYMISE:
        options["properties"] = []
    person_get(distinct_id=distinct_id)  # PersonNotFound: 404 and no job
    with transaction.atomic():
        active = (PrivacyJob.objects.select_for_update()
                  .filter(kind=kind, distinct_id=distinct_id, options=options, state__in=[State.QUEUED, State.RUNNING])
                  .first())
        if active is not None:
            return active
        job = PrivacyJob.objects.create(kind=kind, distinct_id=distinct_id, options=options, requested_by=requested_by)
        audit_event.send(sender=PrivacyJob, action="privacy_job_requested", object_type="privacy_job",
                         object_id=str(job.pk), object_repr=f"{kind} {distinct_id}",
                         changes={"kind": kind, "distinct_id": distinct_id, "options": options,
                                  "requested_by": requested_by})
        _enqueue_after_commit(job.pk)
    return job


def _property_names(properties: Any) -> list[str]:
    if not isinstance(properties, list) or len(properties) > MAX_PROPERTIES:
        raise ValidationFailed(f"properties must be a list of at most {MAX_PROPERTIES} names.",
                               details={"properties": "invalid"})
    for index, name in enumerate(properties):
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_PROPERTY_LENGTH or "\x00" in name:
            raise ValidationFailed(f"Each property must be a name of 1 to {MAX_PROPERTY_LENGTH} characters.",
                                   details={f"properties[{index}]": name if isinstance(name, str) else "not a string"})
    return sorted(set(properties))


def _enqueue_after_commit(job_id: int) -> None:
    from apps.governance.tasks import privacy_job_run as task

    # The schema is named explicitly: on_commit may fire after the request left the tenant.
    schema_name = connection.schema_name
    transaction.on_commit(lambda: task.apply_async(args=[job_id], headers={"_schema_name": schema_name}))


# --- running -----------------------------------------------------------------------------------------


def privacy_job_run(*, job_id: int) -> PrivacyJob | None:
    """Run a queued job once (see the module). Returns the job as it ends, None if there is none."""
    taken = PrivacyJob.objects.filter(pk=job_id, state=State.QUEUED).update(
        state=State.RUNNING, started_at=timezone.now(), attempts=F("attempts") + 1, error="")
    job = PrivacyJob.objects.filter(pk=job_id).first()
    if not taken or job is None:
        return job
    try:
        _RUNNERS[job.kind](job)
    except JobLost:
        logger.warning("privacy job %s was taken over by another delivery", job_id)
    except DomainError as exc:
        _fail(job, exc.message)
    except export.ExportTooLarge as exc:
        _fail(job, str(exc))
    except Exception as exc:
        logger.exception("privacy job %s failed in %s", job_id, connection.schema_name)
        _fail(job, f"{type(exc).__name__}: {exc}")
    else:
        job.refresh_from_db()
        audit_event.send(sender=PrivacyJob, action=DONE_ACTIONS[job.kind], object_type="person",
                         object_id=job.distinct_id, object_repr=job.distinct_id,
                         changes={"job_id": job.pk, "counts": job.counts, "requested_by": job.requested_by})
    job.refresh_from_db()
    return job


def _succeed(job: PrivacyJob, **fields: Any) -> None:
    """Inside the work's transaction: only the delivery that took the job (same attempt) may finish it."""
    done = PrivacyJob.objects.filter(pk=job.pk, state=State.RUNNING, attempts=job.attempts).update(
        state=State.SUCCEEDED, finished_at=timezone.now(), **fields)
    if not done:
        raise JobLost()


def _fail(job: PrivacyJob, error: str) -> None:
    failed = PrivacyJob.objects.filter(pk=job.pk, state=State.RUNNING, attempts=job.attempts).update(
        state=State.FAILED, finished_at=timezone.now(), error=error[:2000])
    if not failed:
        return
    audit_event.send(sender=PrivacyJob, action="privacy_job_failed", object_type="privacy_job",
                     object_id=str(job.pk), object_repr=f"{job.kind} {job.distinct_id}",
                     changes={"kind": job.kind, "distinct_id": job.distinct_id, "error": error[:500]})


def _anonymise(job: PrivacyJob) -> None:
    properties = list(job.options.get("properties", []))
    with transaction.atomic():
        done = person_anonymise(distinct_id=job.distinct_id, properties=properties)
        segments = segment_members_move(person_ids=done.old_person_ids, to_person_id=done.new_person_id)
        counts = {"events": done.events, "distinct_ids": len(done.old_distinct_ids), "segments": segments}
        # The new distinct id is deliberately not kept on the job: it would tie the old id to it.
        _succeed(job, counts=counts)
    # After the commit the job has succeeded: what follows may fail (logged) but never undoes that.
    try:
        stragglers = events_anonymise_stragglers(
            old_ids=done.old_distinct_ids, old_person_ids=done.old_person_ids, new_distinct_id=done.new_distinct_id,
            new_person_id=done.new_person_id, properties=properties)
        if stragglers:
            PrivacyJob.objects.filter(pk=job.pk).update(counts={**counts, "events": done.events + stragglers})
    except Exception:
        logger.exception("privacy job %s: the pass over events stored during the run failed", job.pk)
    cached_answers_purge()


def _delete(job: PrivacyJob) -> None:
    with transaction.atomic():
        person_get(distinct_id=job.distinct_id)
        distinct_ids = person_distinct_ids(distinct_id=job.distinct_id)
        person_ids, events = person_erase(distinct_ids=distinct_ids)
        segments = segment_members_move(person_ids=person_ids, to_person_id=None)
        _succeed(job, counts={"events": events, "distinct_ids": len(distinct_ids), "segments": segments})
    cached_answers_purge()


def _export(job: PrivacyJob) -> None:
    from apps.tenancy.selectors import tenant_current

    outermost = connection.get_autocommit()
    with transaction.atomic():
        if outermost:
            # One snapshot for the whole file (events written meanwhile are in it or not, never half).
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        person = person_get(distinct_id=job.distinct_id)
        built = export.export_build(person=person, subject=job.distinct_id, tenant_slug=tenant_current().slug,
                                    job_id=job.pk)
    expires_at = timezone.now() + timedelta(days=settings.PRIVACY_EXPORT_TTL_DAYS)
    with transaction.atomic():
        PrivacyExportFile.objects.filter(job_id=job.pk).delete()  # a run after a crash replaces a partial one
        PrivacyExportFile.objects.create(job_id=job.pk, content_type=export.CONTENT_TYPE, content=built.content,
                                         sha256=built.sha256, expires_at=expires_at)
        _succeed(job, counts=built.counts, file_name=f"person-export-{job.pk}.zip", file_size=len(built.content),
                 file_expires_at=expires_at)


_RUNNERS: dict[str, Callable[[PrivacyJob], None]] = {
    Kind.ANONYMISE: _anonymise, Kind.EXPORT: _export, Kind.DELETE: _delete,
}


# --- caches ------------------------------------------------------------------------------------------


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


def cached_answers_purge() -> int:
    """Delete the current tenant's cached query answers and share-page data (they may hold the events,
    ids or property values just rewritten or deleted); they are computed again on the next request.
    Keys as written by apps.insights.engine (`query:v<n>:<schema>:…`) and apps.dashboards
    (`share:data:<schema>:…`). Returns the entries deleted."""
    schema = _glob_escape(connection.schema_name)
    redis = get_redis()
    deleted = 0
    try:
        for pattern in (f"*:query:v*:{schema}:*", f"*:share:data:{schema}:*"):
            batch = []
            for key in redis.scan_iter(match=pattern, count=1000):
                batch.append(key)
                if len(batch) >= 500:
                    deleted += redis.delete(*batch)
                    batch.clear()
            if batch:
                deleted += redis.delete(*batch)
    except RedisError:
        # The entries then live out their TTL (QUERY_CACHE_TTL_PAST at most); the job has succeeded.
        logger.warning("privacy: cached answers of %s could not be dropped", connection.schema_name, exc_info=True)
    return deleted


# --- upkeep ------------------------------------------------------------------------------------------


def privacy_jobs_repair(*, stuck_after_minutes: int | None = None) -> int:
    """Queue again the jobs left queued (their task was lost) or running (their worker died) for
    longer than PRIVACY_JOB_STUCK_MINUTES; a job that has already run MAX_ATTEMPTS times fails
    instead. Returns the jobs queued again."""
    minutes = stuck_after_minutes if stuck_after_minutes is not None else settings.PRIVACY_JOB_STUCK_MINUTES
    cutoff = timezone.now() - timedelta(minutes=minutes)
    PrivacyJob.objects.filter(state=State.RUNNING, started_at__lt=cutoff, attempts__gte=MAX_ATTEMPTS).update(
        state=State.FAILED, finished_at=timezone.now(),
        error=f"The job stopped without finishing {MAX_ATTEMPTS} times (its worker died or timed out).")
    PrivacyJob.objects.filter(state=State.RUNNING, started_at__lt=cutoff).update(state=State.QUEUED)
    job_ids = list(PrivacyJob.objects.filter(state=State.QUEUED, created_at__lt=cutoff).values_list("id", flat=True))
    from apps.governance.tasks import privacy_job_run as task

    schema_name = connection.schema_name
    for job_id in job_ids:
        task.apply_async(args=[job_id], headers={"_schema_name": schema_name})
    return len(job_ids)


def privacy_exports_expire(*, now: Any = None) -> int:
    """Delete export files past their end of life (the job keeps its record, and says the file is
    gone). Returns how many."""
    now = now or timezone.now()
    with transaction.atomic():
        expired = PrivacyExportFile.objects.filter(expires_at__lte=now)
        job_ids = list(expired.values_list("job_id", flat=True))
        deleted, _ = expired.delete()
        PrivacyJob.objects.filter(pk__in=job_ids, file_expires_at__gt=now).update(file_expires_at=now)
    return deleted


def privacy_upkeep() -> dict[str, int]:
    return {"requeued": privacy_jobs_repair(), "exports_expired": privacy_exports_expire()}

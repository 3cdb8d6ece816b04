"""Reads of privacy jobs in the current tenant schema."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone

from apps.core.exceptions import DomainError, NotFound
from apps.governance.models.privacy import PrivacyExportFile, PrivacyJob


class PrivacyJobNotFound(NotFound):
    code = "privacy_job_not_found"


class ExportNotReady(DomainError):
    status_code = 409
    code = "export_not_ready"


class ExportExpired(DomainError):
    status_code = 410
    code = "export_expired"


def privacy_job_list(*, state: str | None = None, kind: str | None = None) -> QuerySet[PrivacyJob]:
    jobs = PrivacyJob.objects.all()
    if state:
        jobs = jobs.filter(state=state)
    if kind:
        jobs = jobs.filter(kind=kind)
    return jobs


def privacy_job_get(*, job_id: int) -> PrivacyJob:
    job = PrivacyJob.objects.filter(pk=job_id).first()
    if job is None:
        raise PrivacyJobNotFound(f"No privacy job {job_id}.")
    return job


def privacy_export_get(*, job: PrivacyJob) -> PrivacyExportFile:
    """The export file of `job`: 404 for a job that makes none, 409 before it is ready (or after it
    failed), 410 once it expired."""
    if job.kind != PrivacyJob.Kind.EXPORT:
        raise NotFound(f"Privacy job {job.pk} is a {job.kind} job: it makes no file.", code="no_export_file")
    if job.state != PrivacyJob.State.SUCCEEDED:
        raise ExportNotReady(f"Privacy job {job.pk} is {job.state}: its file is not ready.",
                             details={"state": job.state})
    found = PrivacyExportFile.objects.filter(job=job, expires_at__gt=timezone.now()).first()
    if found is None:
        expired = job.file_expires_at.isoformat() if job.file_expires_at else None
        raise ExportExpired(f"The export of privacy job {job.pk} has expired; request a new one.",
                            details={"expired_at": expired})
    return found

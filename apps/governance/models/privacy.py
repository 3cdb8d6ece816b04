"""Privacy jobs: a person anonymised, exported (a subject access request) or deleted, tracked."""

from __future__ import annotations

from django.db import models


class PrivacyJob(models.Model):
    """One request about one person (`distinct_id`, as asked). Runs in a worker; its state moves
    queued -> running -> succeeded | failed, each step a conditional update (one run per job)."""

    class Kind(models.TextChoices):
        ANONYMISE = "anonymise"
        EXPORT = "export"
        DELETE = "delete"

    class State(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    distinct_id = models.TextField()
    # anonymise: {"properties": [names removed from the events besides the default list]}
    options = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    # "key:<prefix>" for the API, "user:<username>" for the console.
    requested_by = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    # What the job touched: {"events": n, "distinct_ids": n, "segments": n, "metric_values": n, ...}
    counts = models.JSONField(default=dict, blank=True)
    # The export file's name, size and end of life (its bytes are in PrivacyExportFile).
    file_name = models.CharField(max_length=200, blank=True)
    file_size = models.BigIntegerField(null=True, blank=True)
    file_expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "governance_privacy_jobs"
        ordering = ["-id"]
        indexes = [models.Index(fields=["state", "created_at"], name="privacy_jobs_state_created")]

    def __str__(self) -> str:
        return f"{self.kind} {self.distinct_id} ({self.state})"


class PrivacyExportFile(models.Model):
    """An export's bytes, in the tenant's schema: every web process and worker sees it without a
    shared disk, it moves with the schema, and it is deleted after PRIVACY_EXPORT_TTL_DAYS. Its own
    table, so listing jobs never reads the file."""

    job = models.OneToOneField(PrivacyJob, on_delete=models.CASCADE, related_name="export_file")
    content_type = models.CharField(max_length=100)
    content = models.BinaryField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        db_table = "governance_privacy_export_files"

    def __str__(self) -> str:
        return f"export of job {self.job_id}"

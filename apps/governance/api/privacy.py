"""Privacy jobs (secret key with the `admin` scope): anonymise, export or delete a person; follow the
job; download the export."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

from apps.core.api import TenantApi
from apps.core.openapi import error_responses
from apps.core.pagination import CursorPagination
from apps.events.anonymise import DEFAULT_SCRUBBED_PROPERTIES
from apps.governance.models.privacy import PrivacyJob
from apps.governance.privacy import selectors, services


def requested_by_key(request: Request) -> str:
    return f"key:{request.auth.prefix}"


class PrivacyJobInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=PrivacyJob.Kind.choices)
    distinct_id = serializers.CharField(max_length=services.MAX_DISTINCT_ID_LENGTH, trim_whitespace=False,
                                        help_text="Any of the person's distinct ids.")
    properties = serializers.ListField(
        child=serializers.CharField(max_length=services.MAX_PROPERTY_LENGTH, trim_whitespace=False),
        max_length=services.MAX_PROPERTIES, required=False,
        help_text="anonymise only: event property names to remove, besides the default list ("
                  + ", ".join(DEFAULT_SCRUBBED_PROPERTIES) + ").")


class PrivacyJobFilters(serializers.Serializer):
    state = serializers.ChoiceField(choices=PrivacyJob.State.choices, required=False)
    kind = serializers.ChoiceField(choices=PrivacyJob.Kind.choices, required=False)


class ExportFileOutput(serializers.Serializer):
    name = serializers.CharField()
    content_type = serializers.CharField()
    size = serializers.IntegerField()
    expires_at = serializers.DateTimeField()
    expired = serializers.BooleanField()
    url = serializers.CharField(help_text="GET it with the same key.")


class PrivacyJobDetail(serializers.ModelSerializer):
    counts = serializers.DictField(child=serializers.IntegerField(),
                                   help_text="What the job touched: events, distinct_ids, segments, metric_values.")
    options = serializers.DictField(help_text='anonymise: {"properties": [names removed besides the defaults]}')
    file = serializers.SerializerMethodField(help_text="The export file (kind export, once succeeded).")

    class Meta:
        model = PrivacyJob
        fields = ["id", "kind", "distinct_id", "options", "state", "requested_by", "created_at", "started_at",
                  "finished_at", "attempts", "error", "counts", "file"]
        read_only_fields = fields

    @extend_schema_field(ExportFileOutput(allow_null=True))
    def get_file(self, job: PrivacyJob) -> dict[str, Any] | None:
        if job.kind != PrivacyJob.Kind.EXPORT or job.state != PrivacyJob.State.SUCCEEDED or not job.file_name:
            return None
        request = self.context.get("request")
        path = reverse("privacy-job-download", kwargs={"job_id": job.pk})
        return ExportFileOutput({
            "name": job.file_name, "content_type": "application/zip", "size": job.file_size,
            "expires_at": job.file_expires_at, "expired": job.file_expires_at <= timezone.now(),
            "url": request.build_absolute_uri(path) if request is not None else path}).data


def _output(job: PrivacyJob, request: Request) -> dict[str, Any]:
    return PrivacyJobDetail(job, context={"request": request}).data


class _PrivacyApi(TenantApi):
    """Privacy jobs: a secret key with the `admin` scope; the request runs in the key's tenant schema."""

    required_scope = "admin"


@extend_schema(tags=["privacy"])
class PrivacyJobListApi(_PrivacyApi):
    pagination_class = CursorPagination  # documents the pages GET answers (the view pages itself)

    @extend_schema(parameters=[PrivacyJobFilters], responses=PrivacyJobDetail(many=True),
                   operation_id="privacy_jobs_list",
                   summary="List privacy jobs, newest first (filter by state and kind)")
    def get(self, request: Request) -> Response:
        filters = self.validate(PrivacyJobFilters, request.query_params)
        paginator = CursorPagination()
        paginator.ordering = "-id"
        page = paginator.paginate_queryset(selectors.privacy_job_list(**filters), request, view=self)
        return paginator.get_paginated_response(PrivacyJobDetail(page, many=True, context={"request": request}).data)

    @extend_schema(
        request=PrivacyJobInput, operation_id="privacy_jobs_create",
        responses={202: PrivacyJobDetail, **error_responses(404, descriptions={
            404: "No person has that distinct id (`person_not_found`); nothing is recorded"})},
        summary="Anonymise, export or delete a person (a tracked job)",
        description="Answers at once with the job (`queued`); a worker runs it. An unknown person is a 404 "
                    "(`person_not_found`) and records nothing. The same request while an identical job is "
                    "queued or running answers that job.\n\n"
                    "- `anonymise`: the person's traits are removed and their events move to a new person "
                    "under a new random distinct id (counts, funnels and retention stay the same); the "
                    "listed `properties` and the default personal ones are removed from the events; the "
                    "old distinct ids no longer resolve.\n"
                    "- `export`: everything held about the person as one zip (`file.url` once succeeded).\n"
                    "- `delete`: the person and all their events.")
    def post(self, request: Request) -> Response:
        data = self.validate(PrivacyJobInput, request.data)
        job = services.privacy_job_request(kind=data["kind"], distinct_id=data["distinct_id"],
                                           properties=data.get("properties"), requested_by=requested_by_key(request))
        job.refresh_from_db()  # eager workers (tests, development) may have run it already
        return Response(_output(job, request), status=202)


@extend_schema(tags=["privacy"])
class PrivacyJobDetailApi(_PrivacyApi):
    @extend_schema(responses=PrivacyJobDetail, operation_id="privacy_jobs_get",
                   summary="A privacy job: state, counts, error, file")
    def get(self, request: Request, job_id: int) -> Response:
        return Response(_output(selectors.privacy_job_get(job_id=job_id), request))


@extend_schema(tags=["privacy"])
class PrivacyJobDownloadApi(_PrivacyApi):
    @extend_schema(
        responses={(200, "application/zip"): OpenApiTypes.BINARY,
                   **error_responses(409, 410, descriptions={
                       409: "The job has not succeeded (yet): its file is not ready",
                       410: "The file expired (PRIVACY_EXPORT_TTL_DAYS); request a new export"})},
        operation_id="privacy_jobs_download", summary="Download an export job's file (a zip)",
        description="manifest.json, person.json, events.jsonl, segments.json, metric_values.jsonl.")
    def get(self, request: Request, job_id: int) -> HttpResponse:
        job = selectors.privacy_job_get(job_id=job_id)
        found = selectors.privacy_export_get(job=job)
        response = HttpResponse(bytes(found.content), content_type=found.content_type)
        response["Content-Disposition"] = f'attachment; filename="{job.file_name}"'
        response["Content-Length"] = str(len(found.content))
        response["Cache-Control"] = "no-store"
        return response

"""Reports (secret key): definitions, subscriptions, runs and their downloads."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api import TenantApi
from apps.core.exceptions import NotFound
from apps.core.openapi import error_responses
from apps.core.pagination import CursorPagination, paginate
from apps.reports import selectors, services
from apps.reports.api.serializers import (
    DOWNLOADS,
    DownloadParams,
    ReportInput,
    ReportOutput,
    ReportPatch,
    RunInput,
    RunOutput,
    SubscriptionDelete,
    SubscriptionInput,
    SubscriptionOutput,
)

CONTENT_TYPES = {"html": "text/html; charset=utf-8", "csv": "text/csv; charset=utf-8",
                 "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                 "png": "application/zip", "svg": "application/zip", "pdf": "application/pdf"}
FILE_SUFFIX = {"png": "charts-png.zip", "svg": "charts-svg.zip"}


@extend_schema(tags=["reports"])
class ReportListApi(TenantApi):
    pagination_class = CursorPagination  # documents the pages GET answers (the view pages itself)

    @extend_schema(responses=ReportOutput(many=True), summary="List reports")
    def get(self, request: Request) -> Response:
        return paginate(self, selectors.report_list(), ReportOutput, ordering="name")

    @extend_schema(request=ReportInput, responses={201: ReportOutput, **error_responses(409)},
                   summary="Create a report")
    def post(self, request: Request) -> Response:
        report = services.report_create(tenant=request.user.tenant, **self.validate(ReportInput, request.data))
        return Response(ReportOutput(report).data, status=201)


@extend_schema(tags=["reports"])
class ReportDetailApi(TenantApi):
    @extend_schema(responses=ReportOutput, summary="Get a report, its schedule and subscribers")
    def get(self, request: Request, report_id: str) -> Response:
        return Response(ReportOutput(selectors.report_get(report_id=report_id)).data)

    @extend_schema(request=ReportPatch, responses={200: ReportOutput, **error_responses(409)},
                   summary="Change a report (its next run is recomputed)")
    def patch(self, request: Request, report_id: str) -> Response:
        report = selectors.report_get(report_id=report_id)
        changed = services.report_update(report=report, tenant=request.user.tenant,
                                         changes=self.validate(ReportPatch, request.data))
        return Response(ReportOutput(changed).data)

    @extend_schema(responses={204: None}, summary="Delete a report, its subscriptions and runs")
    def delete(self, request: Request, report_id: str) -> Response:
        selectors.report_get(report_id=report_id).delete()
        return Response(status=204)


@extend_schema(tags=["reports"])
class SubscriptionApi(TenantApi):
    @extend_schema(responses=SubscriptionOutput(many=True), summary="The report's subscriptions (unsubscribed too)")
    def get(self, request: Request, report_id: str) -> Response:
        report = selectors.report_get(report_id=report_id)
        return Response(SubscriptionOutput(report.subscriptions.all(), many=True).data)

    @extend_schema(request=SubscriptionInput, responses={201: SubscriptionOutput},
                   summary="Subscribe an email address (again, if it had unsubscribed)")
    def post(self, request: Request, report_id: str) -> Response:
        report = selectors.report_get(report_id=report_id)
        subscription = services.subscribe(report=report, **self.validate(SubscriptionInput, request.data))
        return Response(SubscriptionOutput(subscription).data, status=201)

    @extend_schema(request=SubscriptionDelete, parameters=[OpenApiParameter("email", str)],
                   responses={200: SubscriptionOutput},
                   summary="Unsubscribe an address (`email` in the body or the query)")
    def delete(self, request: Request, report_id: str) -> Response:
        report = selectors.report_get(report_id=report_id)
        data = request.data if request.data else request.query_params
        subscription = services.unsubscribe(report=report, **self.validate(SubscriptionDelete, data))
        return Response(SubscriptionOutput(subscription).data)


@extend_schema(tags=["reports"])
class RunListApi(TenantApi):
    pagination_class = CursorPagination  # documents the pages GET answers (the view pages itself)

    @extend_schema(responses=RunOutput(many=True), summary="The report's runs, newest first")
    def get(self, request: Request, report_id: str) -> Response:
        report = selectors.report_get(report_id=report_id)
        return paginate(self, selectors.run_list(report=report), RunOutput, ordering="-id")


@extend_schema(tags=["reports"])
class RunNowApi(TenantApi):
    @extend_schema(request=RunInput, responses={202: RunOutput},
                   summary="Generate the report now (and send it to the subscribers if `send`)")
    def post(self, request: Request, report_id: str) -> Response:
        report = selectors.report_get(report_id=report_id)
        run = services.run_now(report=report, **self.validate(RunInput, request.data or {}))
        return Response(RunOutput(selectors.run_get(run_id=run.pk)).data, status=202)


@extend_schema(tags=["reports"])
class RunDetailApi(TenantApi):
    @extend_schema(responses=RunOutput, summary="A run: status, attempts, error, recipients")
    def get(self, request: Request, run_id: str) -> Response:
        return Response(RunOutput(selectors.run_get(run_id=run_id)).data)


@extend_schema(tags=["reports"])
class RunDownloadApi(TenantApi):
    @extend_schema(parameters=[OpenApiParameter(
                       "format", str, enum=DOWNLOADS, required=True,
                       description="`png` and `svg`: a ZIP of one image per chart (`<position>-<item>.png`); "
                                   "`pdf`: the whole report, one page per item.")],
                   responses={(200, "text/html"): OpenApiTypes.STR, (200, "text/csv"): OpenApiTypes.STR,
                              (200, CONTENT_TYPES["xlsx"]): OpenApiTypes.BINARY,
                              (200, "application/zip"): OpenApiTypes.BINARY,
                              (200, "application/pdf"): OpenApiTypes.BINARY},
                   summary="Download a run's HTML, CSV, XLSX, PDF, or its charts as PNG or SVG")
    def get(self, request: Request, run_id: str) -> HttpResponse:
        kind = self.validate(DownloadParams, request.query_params)["format"]
        run = selectors.run_get(run_id=run_id)
        body = services.run_html(run) if kind == "html" else getattr(run, kind)
        if not body:
            raise NotFound(f"Run {run.pk} has no {kind}: it is not generated yet, or the report does not produce it.",
                           code="not_generated")
        response = HttpResponse(bytes(body) if kind != "html" else body, content_type=CONTENT_TYPES[kind])
        response["Content-Disposition"] = f'attachment; filename="{run.report.name}-{run.pk}.{FILE_SUFFIX.get(kind, kind)}"'
        return response

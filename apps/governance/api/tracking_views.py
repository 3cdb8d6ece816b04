"""The tracking plan (secret key): settings, event definitions, violations. Reads need the `read`
scope, changes `admin`."""

from __future__ import annotations

from datetime import date

from django.db import connection
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api import TenantApi
from apps.core.exceptions import ValidationFailed
from apps.core.openapi import error_responses
from apps.core.pagination import CursorPagination, paginate
from apps.governance.api.tracking_serializers import (
    EventDefinitionInput,
    EventDefinitionOutput,
    TrackingPlanInput,
    TrackingPlanOutput,
    ViolationSampleOutput,
    ViolationSummaryOutput,
)
from apps.governance.models import ViolationKind
from apps.governance.tracking import selectors, services
from apps.governance.tracking.violations import samples_kept, violations_flush

READ_AND_ADMIN = {"get": "read", "head": "read", "options": "read", "put": "admin", "post": "admin",
                  "patch": "admin", "delete": "admin"}


@extend_schema(tags=["tracking plan"])
class TrackingPlanApi(TenantApi):
    required_scope = READ_AND_ADMIN

    @extend_schema(responses=TrackingPlanOutput, summary="The tracking plan's mode and settings")
    def get(self, request: Request) -> Response:
        return Response(TrackingPlanOutput(selectors.tracking_plan_get()).data)

    @extend_schema(request=TrackingPlanInput, responses=TrackingPlanOutput,
                   summary="Set the mode and settings (fields left out keep their value; admin scope)")
    def put(self, request: Request) -> Response:
        plan = services.tracking_plan_update(changes=self.validate(TrackingPlanInput, request.data))
        return Response(TrackingPlanOutput(plan).data)


def _definition_input(view: TenantApi, data: object) -> dict:
    values = view.validate(EventDefinitionInput, data)
    values["properties"] = [dict(prop) for prop in values["properties"]]
    return values


@extend_schema(tags=["tracking plan"])
class EventDefinitionListApi(TenantApi):
    required_scope = READ_AND_ADMIN
    pagination_class = CursorPagination  # documents the pages GET answers (the view pages itself)

    @extend_schema(responses=EventDefinitionOutput(many=True), summary="List the planned events")
    def get(self, request: Request) -> Response:
        return paginate(self, selectors.event_definition_list(), EventDefinitionOutput, ordering="name")

    @extend_schema(request=EventDefinitionInput, responses={201: EventDefinitionOutput, **error_responses(409)},
                   summary="Plan an event (admin scope)")
    def post(self, request: Request) -> Response:
        definition = services.event_definition_create(**_definition_input(self, request.data))
        return Response(EventDefinitionOutput(selectors.event_definition_list().get(pk=definition.pk)).data,
                        status=201)


@extend_schema(tags=["tracking plan"], parameters=[
    OpenApiParameter("ref", str, OpenApiParameter.PATH, description="The event's name, or its id")])
class EventDefinitionDetailApi(TenantApi):
    required_scope = READ_AND_ADMIN

    @extend_schema(responses=EventDefinitionOutput, summary="Get a planned event")
    def get(self, request: Request, ref: str) -> Response:
        definition = services.event_definition_get(ref=ref)
        return Response(EventDefinitionOutput(selectors.event_definition_list().get(pk=definition.pk)).data)

    @extend_schema(request=EventDefinitionInput, responses={200: EventDefinitionOutput, **error_responses(409)},
                   summary="Replace a planned event: name, description and every property (admin scope)")
    def put(self, request: Request, ref: str) -> Response:
        definition = services.event_definition_get(ref=ref)
        services.event_definition_update(definition=definition, **_definition_input(self, request.data))
        return Response(EventDefinitionOutput(selectors.event_definition_list().get(pk=definition.pk)).data)

    @extend_schema(responses={204: None}, summary="Remove an event from the plan (admin scope)")
    def delete(self, request: Request, ref: str) -> Response:
        services.event_definition_delete(definition=services.event_definition_get(ref=ref))
        return Response(status=204)


def _day(request: Request, name: str) -> date | None:
    value = request.query_params.get(name)
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(f"`{name}` must be a date (YYYY-MM-DD).", details={name: "invalid"}) from None


@extend_schema(tags=["tracking plan"])
class ViolationListApi(TenantApi):
    required_scope = "read"
    pagination_class = CursorPagination  # documents the pages GET answers (the view pages itself)

    @extend_schema(
        parameters=[
            OpenApiParameter("date_from", OpenApiTypes.DATE, description="First day (UTC) counted"),
            OpenApiParameter("date_to", OpenApiTypes.DATE, description="Day (UTC) the count stops before"),
            OpenApiParameter("event", str, description="Only this event name"),
            OpenApiParameter("kind", str, enum=ViolationKind.values, description="Only this kind of violation"),
            OpenApiParameter("samples", int, description="Samples per row, 0 to 20 (default 5), newest first"),
        ],
        responses=ViolationSummaryOutput(many=True),
        summary="Violations counted per event and kind over a range of days, with recent samples")
    def get(self, request: Request) -> Response:
        date_from, date_to = _day(request, "date_from"), _day(request, "date_to")
        if date_from and date_to and date_from >= date_to:
            raise ValidationFailed("`date_from` must be before `date_to`.", details={"date_to": "invalid"})
        kind = request.query_params.get("kind") or None
        if kind is not None and kind not in ViolationKind.values:
            raise ValidationFailed(f"`kind` must be one of {', '.join(ViolationKind.values)}.",
                                   details={"kind": "invalid"})
        raw_samples = request.query_params.get("samples", "5")
        if not (raw_samples.isascii() and raw_samples.isdigit()) or int(raw_samples) > samples_kept():
            raise ValidationFailed(f"`samples` must be an integer from 0 to {samples_kept()}.",
                                   details={"samples": "invalid"})
        violations_flush(schema_name=connection.schema_name)  # what is pending in Redis, counted now
        rows = selectors.violation_summary_list(date_from=date_from, date_to=date_to, kind=kind,
                                                event=request.query_params.get("event") or None)
        paginator = CursorPagination()
        paginator.ordering = ("event", "kind")
        page = paginator.paginate_queryset(rows, request, view=self)
        samples = selectors.violation_samples_for([(row["event"], row["kind"]) for row in page],
                                                  limit=int(raw_samples))
        results = [{**row, "samples": ViolationSampleOutput(samples.get((row["event"], row["kind"]), []),
                                                            many=True).data} for row in page]
        return paginator.get_paginated_response(ViolationSummaryOutput(results, many=True).data)

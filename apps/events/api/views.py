"""Reading events and persons, exports, and privacy (secret key; the key's tenant schema)."""

from __future__ import annotations

import re

from django.db import connection
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api import TenantApi
from apps.core.scopes import SCOPE_READ
from apps.core.signals import audit_event
from apps.core.exceptions import ValidationFailed
from apps.core.pagination import CursorPagination, paginate
from apps.events import export, privacy, selectors
from apps.events.types import ACCEPTED_TYPES, canonical_type
from apps.events.api.serializers import EventOutput, PersonOutput, PrivacyJobOutput

_NAME = re.compile(r"^[A-Za-z0-9_$][A-Za-z0-9_$.\-]{0,99}$")


def _named_filters(request: Request, prefix: str) -> dict[str, str]:
    """`?<prefix>.<name>=<value>` pairs, names from a strict pattern (they become JSON key lookups)."""
    found = {}
    for key, value in request.query_params.items():
        if key.startswith(prefix + "."):
            name = key[len(prefix) + 1:]
            if not _NAME.match(name) or "__" in name:
                raise ValidationFailed(f"{key!r} is not a valid filter name.", details={key: "invalid name"})
            found[name] = value
    return found


class EventFilters(serializers.Serializer):
    event = serializers.CharField(required=False, max_length=200)
    event_type = serializers.CharField(required=False, max_length=40)
    distinct_id = serializers.CharField(required=False, max_length=200)
    date_from = serializers.DateTimeField(required=False)
    date_to = serializers.DateTimeField(required=False)


EVENT_FILTER_PARAMETERS = [
    OpenApiParameter("event", str), OpenApiParameter("event_type", str),
    OpenApiParameter("distinct_id", str, description="A person: all their merged distinct ids."),
    OpenApiParameter("date_from", OpenApiTypes.DATETIME), OpenApiParameter("date_to", OpenApiTypes.DATETIME),
    OpenApiParameter("properties.<name>", str, description="Property equals the value (repeatable)."),
]


def _event_type(filters: dict) -> dict:
    """The seed's type names are accepted (`page_view` reads the stored `page`; apps.events.types)."""
    given = filters.get("event_type")
    if given is not None:
        filters["event_type"] = canonical_type(given)
        if filters["event_type"] is None:
            raise ValidationFailed(f"event_type must be one of {', '.join(sorted(ACCEPTED_TYPES))}.",
                                   details={"event_type": given})
    return filters


def _events(view: TenantApi, request: Request):  # noqa: ANN202
    filters = _event_type(view.validate(EventFilters, request.query_params))
    return selectors.event_list(**filters, properties=_named_filters(request, "properties"))


@extend_schema(tags=["events"])
class EventListApi(TenantApi):
    pagination_class = CursorPagination  # documents the pages GET answers (the view pages itself)

    @extend_schema(parameters=EVENT_FILTER_PARAMETERS, responses=EventOutput(many=True), summary="List events")
    def get(self, request: Request) -> Response:
        return paginate(self, _events(self, request), EventOutput, ordering=("-timestamp", "-id"))


@extend_schema(tags=["events"])
class EventQueryApi(TenantApi):
    """The seed API's `POST /events/query`: the events list with its filters in a JSON body."""

    required_scope = SCOPE_READ  # a POST that only reads

    pagination_class = CursorPagination

    class Input(serializers.Serializer):
        event_type = serializers.CharField(required=False, max_length=40)
        event_name = serializers.CharField(required=False, max_length=200)
        user_id = serializers.CharField(required=False, max_length=200)
        start_time = serializers.DateTimeField(required=False)
        end_time = serializers.DateTimeField(required=False)
        properties = serializers.DictField(child=serializers.CharField(max_length=1000), required=False,
                                           help_text="Property equals the value (each).")
        limit = serializers.IntegerField(min_value=1, max_value=1000, default=100)

    @extend_schema(request=Input, responses=EventOutput(many=True), summary="Query events (seed API)",
                   description="Newest first. `next` is this path with a cursor: POST the same body to it.")
    def post(self, request: Request) -> Response:
        data = _event_type(self.validate(self.Input, request.data))
        properties = data.get("properties") or {}
        for name in properties:
            if not _NAME.match(name) or "__" in name:
                raise ValidationFailed(f"{name!r} is not a valid property name.", details={"properties": name})
        events = selectors.event_list(
            event=data.get("event_name"), event_type=data.get("event_type"), distinct_id=data.get("user_id"),
            date_from=data.get("start_time"), date_to=data.get("end_time"), properties=properties,
        )
        return paginate(self, events, EventOutput, ordering=("-timestamp", "-id"), page_size=data["limit"])


@extend_schema(tags=["events"])
class EventExportApi(TenantApi):
    @extend_schema(
        parameters=[OpenApiParameter(
            "format", str, enum=list(export.FORMATS), default="jsonl",
            description="`jsonl` (application/x-ndjson, one object a line), `json` (application/json, one array "
                        "of the same objects), `csv` (text/csv, text cells neutralised for spreadsheets), `xml` "
                        "(application/xml: `<events><event><id/>...<properties><property name=\"...\" "
                        "type=\"string|number|boolean|null|object|array\">` with `encoding=\"base64\"` / "
                        "`name-base64` where XML cannot hold the text) or `parquet`."), *EVENT_FILTER_PARAMETERS],
        responses={(200, "*/*"): OpenApiTypes.BINARY}, summary="Export events (streamed)",
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        fmt = request.query_params.get("format", "jsonl")
        if fmt not in export.FORMATS:
            raise ValidationFailed(f"format must be one of {', '.join(export.FORMATS)}.", details={"format": fmt})
        content_type, extension, generate = export.FORMATS[fmt]
        events = _events(self, request).order_by("timestamp", "id")
        audit_event.send(sender=EventExportApi, action="export_run", object_type="events", object_id=fmt,
                         object_repr=f"events export ({fmt})",
                         changes={"format": fmt, "filters": {name: value for name, value in request.query_params.items()
                                                             if name != "format"}})
        response = StreamingHttpResponse(generate(connection.schema_name, events), content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="events.{extension}"'
        return response


@extend_schema(tags=["persons"])
class PersonListApi(TenantApi):
    pagination_class = CursorPagination  # documents the pages GET answers (the view pages itself)

    @extend_schema(parameters=[OpenApiParameter("traits.<name>", str, description="Trait equals the value.")],
                   responses=PersonOutput(many=True), summary="List persons")
    def get(self, request: Request) -> Response:
        paginator = CursorPagination()
        paginator.ordering = "-id"
        page = paginator.paginate_queryset(selectors.person_list(traits=_named_filters(request, "traits")), request,
                                           view=self)
        data = PersonOutput(selectors.persons_views(page), many=True).data
        return paginator.get_paginated_response(data)


@extend_schema(tags=["persons"])
class PersonDetailApi(TenantApi):
    @extend_schema(responses=PersonOutput, summary="Get a person by any of their distinct ids")
    def get(self, request: Request, distinct_id: str) -> Response:
        return Response(PersonOutput(selectors.person_get(distinct_id=distinct_id)).data)

    @extend_schema(request=None, responses={202: PrivacyJobOutput},
                   summary="Delete a person and all their events (a tracked job)")
    def delete(self, request: Request, distinct_id: str) -> Response:
        job = privacy.person_delete_request(distinct_id=distinct_id)
        job.refresh_from_db()
        return Response(PrivacyJobOutput(job).data, status=202)


@extend_schema(tags=["persons"])
class PersonExportApi(TenantApi):
    @extend_schema(responses={(200, "application/json"): OpenApiTypes.OBJECT},
                   summary="Everything held on a person: traits, distinct ids, events")
    def get(self, request: Request, distinct_id: str) -> StreamingHttpResponse:
        person = selectors.person_get(distinct_id=distinct_id)
        events = selectors.event_list(distinct_id=distinct_id).order_by("timestamp", "id")
        audit_event.send(sender=PersonExportApi, action="person_exported", object_type="person",
                         object_id=person.id, object_repr=f"person {person.id}")
        return StreamingHttpResponse(export.export_person(connection.schema_name, person, events),
                                     content_type="application/json")


@extend_schema(tags=["persons"])
class PrivacyJobApi(TenantApi):
    @extend_schema(responses=PrivacyJobOutput, summary="A privacy deletion job")
    def get(self, request: Request, job_id: int) -> Response:
        return Response(PrivacyJobOutput(privacy.privacy_job_get(job_id=job_id)).data)

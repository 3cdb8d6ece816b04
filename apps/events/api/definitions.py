"""Event and property definitions (apps.events.definitions) with the secret key: read them, page
them, describe them. Only the description is writable; everything else is counted by ingestion."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api import TenantApi
from apps.core.exceptions import ValidationFailed
from apps.core.openapi import error_responses
from apps.core.pagination import CursorPagination, paginate
from apps.events import definitions
from apps.events.models import EventDefinition, PropertyDefinition

ORDERINGS = {"volume": ("-volume", "id"), "name": ("name",), "last_seen": ("-last_seen", "id")}
DEFAULT_LIMIT = 20
MAX_LIMIT = 1000


# Component names distinct from the tracking plan's (apps.governance: EventDefinitionOutput, ...).
class EventDefinitionSeenOutput(serializers.ModelSerializer):
    class Meta:
        model = EventDefinition
        fields = ["id", "name", "volume", "first_seen", "last_seen", "description", "updated_at"]


class PropertyDefinitionSeenOutput(serializers.ModelSerializer):
    types = serializers.ListField(child=serializers.ChoiceField(choices=definitions.TYPES),
                                 help_text="Types observed (a datetime is an ISO 8601 string).")

    class Meta:
        model = PropertyDefinition
        fields = ["id", "kind", "key", "types", "volume", "first_seen", "last_seen", "description", "updated_at"]


class DefinitionDescriptionPatch(serializers.Serializer):
    description = serializers.CharField(max_length=5000, allow_blank=True,
                                        help_text="The only writable field; the rest is counted by ingestion.")


class PropertyValueCount(serializers.Serializer):
    value = serializers.CharField(help_text="As text (objects and arrays as their JSON).")
    count = serializers.IntegerField()


class PropertyValuesOutput(serializers.Serializer):
    results = PropertyValueCount(many=True)


class _EventFilters(serializers.Serializer):
    search = serializers.CharField(required=False, max_length=200)
    ordering = serializers.ChoiceField(choices=list(ORDERINGS), required=False, default="volume")


class _PropertyFilters(_EventFilters):
    kind = serializers.ChoiceField(choices=definitions.KINDS, required=False)
    event = serializers.CharField(required=False, max_length=200)


class _ValueFilters(serializers.Serializer):
    event = serializers.CharField(required=False, max_length=200)
    search = serializers.CharField(required=False, max_length=200)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=100, default=20)


SEARCH = OpenApiParameter("search", str, description="Part of the name, any case.")
ORDERING = OpenApiParameter("ordering", str, enum=list(ORDERINGS), default="volume",
                            description="volume (most first), name, last_seen (latest first).")


def _patch(view: TenantApi, request: Request, found: EventDefinition | PropertyDefinition) -> dict:
    unknown = set(request.data) - {"description"} if isinstance(request.data, dict) else set()
    if unknown:
        raise ValidationFailed("Only the description can be changed.", details={name: "read-only" for name in unknown})
    data = view.validate(DefinitionDescriptionPatch, request.data)
    return {"definition": found, "description": data["description"]}


@extend_schema(tags=["definitions"])
class EventDefinitionListApi(TenantApi):
    pagination_class = CursorPagination  # documents the pages GET answers (the view pages itself)

    @extend_schema(parameters=[SEARCH, ORDERING], responses=EventDefinitionSeenOutput(many=True),
                   summary="List the event names the tenant has sent")
    def get(self, request: Request) -> Response:
        filters = self.validate(_EventFilters, request.query_params)
        return paginate(self, definitions.event_definition_list(search=filters.get("search")),
                        EventDefinitionSeenOutput, ordering=ORDERINGS[filters["ordering"]])


@extend_schema(tags=["definitions"])
class EventDefinitionDetailApi(TenantApi):
    @extend_schema(responses=EventDefinitionSeenOutput, summary="Get an event definition")
    def get(self, request: Request, event_definition_id: str) -> Response:
        found = definitions.event_definition_get(definition_id=event_definition_id)
        return Response(EventDefinitionSeenOutput(found).data)

    @extend_schema(request=DefinitionDescriptionPatch, responses=EventDefinitionSeenOutput,
                   summary="Describe an event definition (its description only)")
    def patch(self, request: Request, event_definition_id: str) -> Response:
        found = definitions.event_definition_get(definition_id=event_definition_id)
        changed = definitions.definition_describe(**_patch(self, request, found))
        return Response(EventDefinitionSeenOutput(changed).data)


@extend_schema(tags=["definitions"])
class PropertyDefinitionListApi(TenantApi):
    pagination_class = CursorPagination

    @extend_schema(parameters=[
        OpenApiParameter("kind", str, enum=list(definitions.KINDS),
                         description="event: event properties; person: persons' traits."),
        OpenApiParameter("event", str, description="Only the keys seen on this event (event properties)."),
        SEARCH, ORDERING], responses=PropertyDefinitionSeenOutput(many=True),
        summary="List the property keys the tenant has sent")
    def get(self, request: Request) -> Response:
        filters = self.validate(_PropertyFilters, request.query_params)
        found = definitions.property_definition_list(kind=filters.get("kind"), event=filters.get("event"),
                                                     search=filters.get("search"))
        ordering = ("key", "kind") if filters["ordering"] == "name" else ORDERINGS[filters["ordering"]]
        return paginate(self, found, PropertyDefinitionSeenOutput, ordering=ordering)


@extend_schema(tags=["definitions"])
class PropertyDefinitionDetailApi(TenantApi):
    @extend_schema(responses=PropertyDefinitionSeenOutput, summary="Get a property definition")
    def get(self, request: Request, property_definition_id: str) -> Response:
        found = definitions.property_definition_get(definition_id=property_definition_id)
        return Response(PropertyDefinitionSeenOutput(found).data)

    @extend_schema(request=DefinitionDescriptionPatch, responses=PropertyDefinitionSeenOutput,
                   summary="Describe a property definition (its description only)")
    def patch(self, request: Request, property_definition_id: str) -> Response:
        found = definitions.property_definition_get(definition_id=property_definition_id)
        changed = definitions.definition_describe(**_patch(self, request, found))
        return Response(PropertyDefinitionSeenOutput(changed).data)


@extend_schema(tags=["definitions"])
class PropertyValuesApi(TenantApi):
    @extend_schema(
        parameters=[OpenApiParameter("event", str, description="Only on this event (event properties)."),
                    OpenApiParameter("search", str, description="Part of the value, any case."),
                    OpenApiParameter("limit", int, default=20, description="At most 100.")],
        responses={200: PropertyValuesOutput, **error_responses(503, descriptions={
            503: "Reading the sample took too long (`unavailable`)"})},
        summary="The most common values of a property",
        description=f"From a bounded sample: at most {definitions.VALUES_SAMPLE:,} events of the last "
                    f"{definitions.VALUES_DAYS} days (or persons, for a person property). Values as text, "
                    "most common first; nulls left out.")
    def get(self, request: Request, property_definition_id: str) -> Response:
        found = definitions.property_definition_get(definition_id=property_definition_id)
        filters = self.validate(_ValueFilters, request.query_params)
        rows = definitions.property_values(kind=found.kind, key=found.key, event=filters.get("event"),
                                           search=filters.get("search"), limit=filters["limit"])
        return Response({"results": rows})

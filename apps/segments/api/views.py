"""Segments (secret key): definitions, rules, preview, members, membership checks, refresh."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api import TenantApi
from apps.core.scopes import SCOPE_READ
from apps.core.exceptions import ValidationFailed
from apps.core.openapi import error_responses
from apps.core.pagination import CursorPagination, paginate
from apps.core.signals import audit_event
from apps.events.api.serializers import PersonOutput
from apps.events.selectors import persons_views
from apps.segments import selectors, services
from apps.segments.api.serializers import (
    ContainsOutput,
    PreviewInput,
    RuleOutput,
    SegmentInput,
    SegmentOutput,
    SegmentPatch,
)


@extend_schema(tags=["segments"])
class SegmentListApi(TenantApi):
    pagination_class = CursorPagination  # documents the pages GET answers (the view pages itself)

    @extend_schema(responses=SegmentOutput(many=True), summary="List segments")
    def get(self, request: Request) -> Response:
        return paginate(self, selectors.segment_list(), SegmentOutput, ordering="name")

    @extend_schema(request=SegmentInput, responses={201: SegmentOutput, **error_responses(409)},
                   summary="Create a segment (its members are computed at once)")
    def post(self, request: Request) -> Response:
        segment = services.segment_create(**self.validate(SegmentInput, request.data))
        return Response(SegmentOutput(segment).data, status=201)


@extend_schema(tags=["segments"])
class SegmentDetailApi(TenantApi):
    @extend_schema(responses=SegmentOutput, summary="Get a segment")
    def get(self, request: Request, segment_id: str) -> Response:
        return Response(SegmentOutput(selectors.segment_get(segment_id=segment_id)).data)

    @extend_schema(request=SegmentPatch, responses={200: SegmentOutput, **error_responses(409)},
                   summary="Change a segment (new rules are applied at once)")
    def patch(self, request: Request, segment_id: str) -> Response:
        segment = selectors.segment_get(segment_id=segment_id)
        changes = self.validate(SegmentPatch, request.data)
        if "entity_type" in changes and changes.pop("entity_type") != segment.entity_type:
            raise ValidationFailed("`entity_type` cannot be changed.", details={"entity_type": "immutable"})
        return Response(SegmentOutput(services.segment_update(segment=segment, changes=changes)).data)

    @extend_schema(responses={204: None}, summary="Delete a segment")
    def delete(self, request: Request, segment_id: str) -> Response:
        services.segment_delete(segment=selectors.segment_get(segment_id=segment_id))
        return Response(status=204)


@extend_schema(tags=["segments"])
class SegmentRuleListApi(TenantApi):
    @extend_schema(request=OpenApiTypes.OBJECT, responses={201: RuleOutput},
                   summary="Add a rule (a leaf or a group) to the top group, or to `?parent=<group id>`")
    def post(self, request: Request, segment_id: str) -> Response:
        segment = selectors.segment_get(segment_id=segment_id)
        rule = services.segment_rule_add(segment=segment, node=request.data,
                                         parent=request.query_params.get("parent", "root"))
        segment.refresh_from_db()
        return Response({"rule": rule, "segment": SegmentOutput(segment).data}, status=201)


@extend_schema(tags=["segments"])
class SegmentRuleDetailApi(TenantApi):
    @extend_schema(responses={204: None}, summary="Remove a rule (with everything under it)")
    def delete(self, request: Request, segment_id: str, rule_id: str) -> Response:
        services.segment_rule_remove(segment=selectors.segment_get(segment_id=segment_id), rule_id=rule_id)
        return Response(status=204)


@extend_schema(tags=["segments"])
class SegmentPreviewApi(TenantApi):
    required_scope = SCOPE_READ  # evaluates rules, saves nothing

    @extend_schema(request=PreviewInput, responses={200: OpenApiTypes.OBJECT, **error_responses(503)},
                   summary="Evaluate a rule tree without saving it: count and a sample of members")
    def post(self, request: Request) -> Response:
        return Response(services.segment_preview(rules=self.validate(PreviewInput, request.data)["rules"]))


@extend_schema(tags=["segments"])
class SegmentRefreshApi(TenantApi):
    @extend_schema(request=None, responses=SegmentOutput, summary="Recompute the members now")
    def post(self, request: Request, segment_id: str) -> Response:
        segment = selectors.segment_get(segment_id=segment_id)
        services.segment_refresh_after_change(segment)
        # The refresh changes members and size only (data, not audited); asking for it is recorded.
        audit_event.send(sender=SegmentRefreshApi, action="segment_refreshed", object_type="segment",
                         object_id=segment.pk, object_repr=str(segment), changes={"size": segment.size})
        return Response(SegmentOutput(segment).data)


@extend_schema(tags=["segments"])
class SegmentMembersApi(TenantApi):
    pagination_class = CursorPagination  # documents the pages GET answers (the view pages itself)

    @extend_schema(responses=PersonOutput(many=True), summary="The members (persons, with traits), paginated")
    def get(self, request: Request, segment_id: str) -> Response:
        segment = selectors.segment_get(segment_id=segment_id)
        paginator = CursorPagination()
        paginator.ordering = "id"
        page = paginator.paginate_queryset(selectors.segment_members(segment=segment), request, view=self)
        return paginator.get_paginated_response(PersonOutput(persons_views(page), many=True).data)


@extend_schema(tags=["segments"])
class SegmentContainsApi(TenantApi):
    @extend_schema(responses=ContainsOutput, summary="Whether the person of a distinct id is a member")
    def get(self, request: Request, segment_id: str, distinct_id: str) -> Response:
        segment = selectors.segment_get(segment_id=segment_id)
        return Response(ContainsOutput(selectors.segment_contains(segment=segment, distinct_id=distinct_id)).data)

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api import TenantApi
from apps.core.scopes import SCOPE_READ
from apps.core.openapi import error_responses
from apps.insights.budget import query_rate_check
from apps.insights.engine import query_run
from apps.insights.openapi import QUERY_SPEC_REF


@extend_schema(tags=["insights"])
class QueryApi(TenantApi):
    required_scope = SCOPE_READ  # a POST that only reads

    @extend_schema(
        request={"application/json": QUERY_SPEC_REF}, responses={200: OpenApiTypes.OBJECT, **error_responses(
            404, 429, 503, descriptions={404: "The metric or segment the query names does not exist"})},
        summary="Run a query (trends, events)",
        examples=[OpenApiExample("Daily signups and buyers", value={
            "kind": "trends", "date_from": "-30d", "interval": "day",
            "series": [{"event": "Signed Up"}, {"event": "Purchased", "math": "unique_persons"}],
            "filters": [{"property": "plan", "operator": "eq", "value": "pro", "type": "person"}],
        })],
    )
    def post(self, request: Request) -> Response:
        query_rate_check(request.auth)
        return Response(query_run(data=request.data, tenant=request.user.tenant))


class SummaryFigure(serializers.Serializer):
    value = serializers.IntegerField(help_text="In the range.")
    previous = serializers.IntegerField(help_text="In the previous period of the same length.")
    change = serializers.FloatField(allow_null=True, help_text="(value - previous) / previous; null when previous is 0.")


class SummaryTopEvent(SummaryFigure):
    event = serializers.CharField()


class SummaryTopPage(SummaryFigure):
    page = serializers.CharField(help_text="The page view's URL (properties url, $current_url, context.page.url, path).")


class SummaryPeriod(serializers.Serializer):
    date_from = serializers.DateTimeField()
    date_to = serializers.DateTimeField()


class SummaryOutput(serializers.Serializer):
    kind = serializers.CharField(help_text="`summary`")
    timezone = serializers.CharField()
    date_from = serializers.DateTimeField()
    date_to = serializers.DateTimeField()
    previous = SummaryPeriod(help_text="The previous period: as long as the range, ending where it starts.")
    events = SummaryFigure()
    persons = SummaryFigure(help_text="Distinct persons (after identity merges) with an event.")
    sessions = SummaryFigure(help_text="Sessions (the `sessions` query kind's count).")
    new_persons = SummaryFigure(help_text="Persons whose first event ever is in the period.")
    top_events = SummaryTopEvent(many=True)
    top_pages = SummaryTopPage(many=True)
    cached = serializers.BooleanField()
    computed_at = serializers.DateTimeField()


class SummaryQuery(serializers.Serializer):
    date_from = serializers.CharField(required=False, help_text="ISO 8601 or relative (`-7d`, the default).")
    date_to = serializers.CharField(required=False, help_text="ISO 8601 or relative; default now.")
    timezone = serializers.CharField(required=False, help_text="IANA zone; default the tenant's.")
    segment = serializers.CharField(required=False, help_text="Only this segment's persons.")
    top = serializers.IntegerField(required=False, min_value=1, max_value=50, help_text="Top events and pages (5).")
    refresh = serializers.BooleanField(required=False, default=False)


@extend_schema(tags=["insights"])
class SummaryApi(TenantApi):
    """The `summary` query kind from query parameters; `POST /api/v1/query` takes it with filters."""

    @extend_schema(parameters=[SummaryQuery], responses={200: SummaryOutput, **error_responses(429, 503)},
        summary="Headline figures against the previous period")
    def get(self, request: Request) -> Response:
        params = SummaryQuery(data=request.query_params)
        params.is_valid(raise_exception=True)
        query_rate_check(request.auth)
        return Response(query_run(data={"kind": "summary", **params.validated_data}, tenant=request.user.tenant))


@extend_schema(tags=["insights"])
class OverviewApi(SummaryApi):
    """Seed 000's `GET /api/v1/analytics/overview`: the summary under that name."""

    @extend_schema(parameters=[SummaryQuery], responses={200: SummaryOutput, **error_responses(429, 503)},
        summary="Analytics overview (the summary)")
    def get(self, request: Request) -> Response:
        return super().get(request)

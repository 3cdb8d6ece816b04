from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, extend_schema
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

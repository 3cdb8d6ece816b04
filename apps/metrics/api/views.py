"""Metrics: definitions (secret key), values (write or secret key), aggregations (secret key)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api import IngestionApi, TenantApi
from apps.core.scopes import SCOPE_READ
from apps.core.exceptions import RateLimited, ValidationFailed
from apps.core.openapi import error_responses
from apps.core.pagination import CursorPagination, paginate
from apps.events import limits
from apps.events.api.parsers import IngestionJsonParser
from apps.insights.budget import query_rate_check
from apps.insights.engine import query_run
from apps.metrics import analysis, selectors, services
from apps.metrics.api.serializers import (
    AcceptedOutput,
    BatchInput,
    MetricInput,
    MetricOutput,
    MetricPatch,
    ValueInput,
)


@extend_schema(tags=["metrics"])
class MetricListApi(TenantApi):
    pagination_class = CursorPagination  # documents the pages GET answers (the view pages itself)

    @extend_schema(parameters=[OpenApiParameter("tag", str)], responses=MetricOutput(many=True),
                   summary="List metrics")
    def get(self, request: Request) -> Response:
        tag = request.query_params.get("tag")
        return paginate(self, selectors.metric_list(tag=tag), MetricOutput, ordering="name")

    @extend_schema(request=MetricInput, responses={201: MetricOutput, **error_responses(409)},
                   summary="Create a metric")
    def post(self, request: Request) -> Response:
        metric = services.metric_create(**self.validate(MetricInput, request.data))
        return Response(MetricOutput(metric).data, status=201)


@extend_schema(tags=["metrics"])
class MetricDetailApi(TenantApi):
    @extend_schema(responses=MetricOutput, summary="Get a metric")
    def get(self, request: Request, name: str) -> Response:
        return Response(MetricOutput(selectors.metric_get(name=name)).data)

    @extend_schema(request=MetricPatch, responses=MetricOutput,
                   summary="Change a metric (not its name or type)")
    def patch(self, request: Request, name: str) -> Response:
        changes = self.validate(MetricPatch, request.data)
        return Response(MetricOutput(services.metric_update(name=name, changes=changes)).data)

    @extend_schema(responses={204: None}, summary="Delete a metric and all its values")
    def delete(self, request: Request, name: str) -> Response:
        services.metric_delete(name=name)
        return Response(status=204)


def _rate_limit(request: Request) -> None:
    """The per-key request rate limit of event ingestion. Metric values do not count against the
    monthly event quota (an unreachable quota is passed)."""
    refusal = limits.limits_check(key_prefix=request.auth.prefix, tenant_id=request.auth.tenant_id,
                                  monthly_quota=2**62, events=0)
    if refusal is not None:
        raise RateLimited(refusal.message, retry_after=refusal.retry_after, code=refusal.code)


@extend_schema(tags=["metrics"])
class MetricValueApi(IngestionApi):
    parser_classes = [IngestionJsonParser]

    @extend_schema(request=ValueInput, responses={200: AcceptedOutput, **error_responses(413, 415, 429)},
                   summary="Record one value (write key)")
    def post(self, request: Request, name: str) -> Response:
        _rate_limit(request)
        services.metric_value_record(name=name, data=request.data)
        return Response({"accepted": 1, "rejected": []})


@extend_schema(tags=["metrics"])
class MetricValueBatchApi(IngestionApi):
    parser_classes = [IngestionJsonParser]

    @extend_schema(request=BatchInput, responses={200: AcceptedOutput, **error_responses(413, 415, 429)},
                   summary="Record values of several metrics (write key); each bad value is listed")
    def post(self, request: Request) -> Response:
        _rate_limit(request)
        answer = services.metric_values_record_batch(data=request.data)
        if not answer["accepted"]:
            raise ValidationFailed("No value in the batch is valid.", details=answer)
        return Response(answer)


@extend_schema(tags=["metrics"])
class SeedMetricValueApi(IngestionApi):
    """The seed API's `POST /metrics/values {"metric_id", "value", "dimensions"?, "timestamp"?}`:
    the same as `POST /metrics/{metric_id}/values` (the metric id is its name)."""

    parser_classes = [IngestionJsonParser]

    @extend_schema(request=ValueInput, responses={200: AcceptedOutput, **error_responses(404, 413, 415, 429)},
                   summary="Record one value, the metric named in the body (seed API; write key)",
                   operation_id="metrics_values_by_id_create")
    def post(self, request: Request) -> Response:
        _rate_limit(request)
        data = request.data
        name = data.get("metric_id") if isinstance(data, dict) else None
        if not isinstance(name, str) or not name:
            raise ValidationFailed("`metric_id` (the metric's name) is required.", details={"metric_id": "missing"})
        services.metric_value_record(name=name, data={k: v for k, v in data.items() if k != "metric_id"})
        return Response({"accepted": 1, "rejected": []})


class SeedAggregateInput(serializers.Serializer):
    metric_id = serializers.CharField(max_length=200)
    aggregation_method = serializers.CharField(required=False, default="sum")
    granularity = serializers.CharField(required=False, default="hour")
    start_time = serializers.CharField(required=False)
    end_time = serializers.CharField(required=False)
    timezone = serializers.CharField(required=False)
    group_by = serializers.ListField(child=serializers.CharField(max_length=64), required=False, default=list)
    dimensions = serializers.DictField(required=False, default=dict)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=1000, default=100)


@extend_schema(tags=["metrics"])
class SeedMetricAggregateApi(TenantApi):
    """The seed API's `POST /metrics/aggregate`: the `metric` query kind with the seed's names
    (`metric_id` = metric, `aggregation_method` = aggregation, `start_time`/`end_time` = the range)."""

    required_scope = SCOPE_READ  # a POST that only reads

    @extend_schema(request=SeedAggregateInput, responses={200: OpenApiTypes.OBJECT, **error_responses(404, 429, 503)},
                   summary="Aggregate a metric (seed API)", operation_id="metrics_aggregate_by_id")
    def post(self, request: Request) -> Response:
        data = self.validate(SeedAggregateInput, request.data)
        query_rate_check(request.auth)
        spec = {"kind": "metric", "metric": data["metric_id"], "aggregation": data["aggregation_method"],
                "granularity": data["granularity"], "group_by": data["group_by"], "dimensions": data["dimensions"],
                "limit": data["limit"], "date_from": data.get("start_time"), "date_to": data.get("end_time"),
                "timezone": data.get("timezone")}
        return Response(query_run(data={k: v for k, v in spec.items() if v is not None}, tenant=request.user.tenant))


class AggregateParams(serializers.Serializer):
    aggregation = serializers.CharField(required=False, default="sum")
    granularity = serializers.CharField(required=False, default="hour")
    date_from = serializers.CharField(required=False)
    date_to = serializers.CharField(required=False)
    timezone = serializers.CharField(required=False)
    group_by = serializers.CharField(required=False, allow_blank=True)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=1000, default=100)
    refresh = serializers.BooleanField(required=False, default=False)


AGGREGATE_PARAMETERS = [
    OpenApiParameter("aggregation", str, enum=["count", "sum", "avg", "min", "max", "last", "p50", "p90", "p95", "p99",
                                               "rate"]),
    OpenApiParameter("granularity", str, enum=["minute", "hour", "day", "week", "month"]),
    OpenApiParameter("date_from", str), OpenApiParameter("date_to", str), OpenApiParameter("timezone", str),
    OpenApiParameter("group_by", str, description="Dimension names, comma-separated."),
    OpenApiParameter("dimensions.<name>", str, description="Dimension equals the value (repeatable: any of)."),
    OpenApiParameter("limit", int), OpenApiParameter("refresh", bool),
]


def _aggregate(view: TenantApi, request: Request, name: str) -> dict:
    """The query parameters as a `metric` query spec, run by the query engine (cached like any query)."""
    params = view.validate(AggregateParams, request.query_params)
    query_rate_check(request.auth)
    group_by = [g for g in params.pop("group_by", "").split(",") if g]
    dimensions = {key.split(".", 1)[1]: request.query_params.getlist(key)
                  for key in request.query_params if key.startswith("dimensions.")}
    spec = {"kind": "metric", "metric": name, **{k: v for k, v in params.items() if v is not None},
            "group_by": group_by, "dimensions": dimensions}
    return query_run(data=spec, tenant=request.user.tenant)


@extend_schema(tags=["metrics"])
class MetricAggregateApi(TenantApi):
    @extend_schema(parameters=AGGREGATE_PARAMETERS,
                   responses={200: OpenApiTypes.OBJECT, **error_responses(429, 503)},
                   summary="Aggregate a metric over time (the `metric` query kind)")
    def get(self, request: Request, name: str) -> Response:
        return Response(_aggregate(self, request, name))


class AnomalyParams(serializers.Serializer):
    method = serializers.ChoiceField(choices=["zscore", "iqr"], default="zscore")
    threshold = serializers.FloatField(required=False, min_value=0)


@extend_schema(tags=["metrics"])
class MetricAnomaliesApi(TenantApi):
    @extend_schema(parameters=[*AGGREGATE_PARAMETERS, OpenApiParameter("method", str, enum=["zscore", "iqr"]),
                               OpenApiParameter("threshold", float)],
                   responses={200: OpenApiTypes.OBJECT, **error_responses(429, 503)},
                   summary="Anomalous buckets of an aggregated series, with scores")
    def get(self, request: Request, name: str) -> Response:
        options = self.validate(AnomalyParams, request.query_params)
        answer = _aggregate(self, request, name)
        return Response({**{k: answer[k] for k in ("metric", "aggregation", "granularity", "timezone", "date_from",
                                                   "date_to", "computed_at", "cached")},
                         "series": [analysis.anomalies(series, method=options["method"],
                                                       threshold=options.get("threshold"))
                                    for series in answer["series"]]})


class ForecastParams(serializers.Serializer):
    periods = serializers.IntegerField(min_value=1, max_value=1000, default=10)


@extend_schema(tags=["metrics"])
class MetricForecastApi(TenantApi):
    @extend_schema(parameters=[*AGGREGATE_PARAMETERS, OpenApiParameter("periods", int)],
                   responses={200: OpenApiTypes.OBJECT, **error_responses(429, 503)},
                   summary="A linear trend forecast of an aggregated series")
    def get(self, request: Request, name: str) -> Response:
        periods = self.validate(ForecastParams, request.query_params)["periods"]
        answer = _aggregate(self, request, name)
        zone = ZoneInfo(answer["timezone"])
        return Response({**{k: answer[k] for k in ("metric", "aggregation", "granularity", "timezone", "date_from",
                                                   "date_to", "computed_at", "cached")},
                         "series": [analysis.forecast(series, periods=periods, granularity=answer["granularity"],
                                                      zone=zone) for series in answer["series"]]})

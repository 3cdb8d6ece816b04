"""Dashboards (secret key): definitions, widgets, data, duplicates and share links."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api import TenantApi
from apps.core.openapi import error_responses
from apps.core.pagination import CursorPagination, paginate
from apps.dashboards import selectors, services
from apps.dashboards.templates_catalog import TEMPLATES
from apps.insights.budget import query_rate_check
from apps.dashboards.api.serializers import (
    DashboardInput,
    DashboardOutput,
    DashboardPatch,
    DataParams,
    DuplicateInput,
    FromTemplateInput,
    ShareOutput,
    TemplateOutput,
    WidgetInput,
    WidgetOutput,
    WidgetPatch,
)


@extend_schema(tags=["dashboards"])
class DashboardListApi(TenantApi):
    pagination_class = CursorPagination  # documents the pages GET answers (the view pages itself)

    @extend_schema(parameters=[OpenApiParameter("category", str)], responses=DashboardOutput(many=True),
                   summary="List dashboards")
    def get(self, request: Request) -> Response:
        queryset = selectors.dashboard_list(category=request.query_params.get("category"))
        return paginate(self, queryset, DashboardOutput, ordering="name")

    @extend_schema(request=DashboardInput, responses={201: DashboardOutput, **error_responses(409)},
                   summary="Create a dashboard")
    def post(self, request: Request) -> Response:
        dashboard = services.dashboard_create(**self.validate(DashboardInput, request.data))
        return Response(DashboardOutput(dashboard).data, status=201)


@extend_schema(tags=["dashboards"])
class DashboardDetailApi(TenantApi):
    @extend_schema(responses=DashboardOutput, summary="Get a dashboard with its widgets")
    def get(self, request: Request, dashboard_id: str) -> Response:
        return Response(DashboardOutput(selectors.dashboard_get(dashboard_id=dashboard_id)).data)

    @extend_schema(request=DashboardPatch, responses={200: DashboardOutput, **error_responses(409)},
                   summary="Change a dashboard")
    def patch(self, request: Request, dashboard_id: str) -> Response:
        dashboard = selectors.dashboard_get(dashboard_id=dashboard_id)
        changed = services.dashboard_update(dashboard=dashboard, changes=self.validate(DashboardPatch, request.data))
        return Response(DashboardOutput(changed).data)

    @extend_schema(responses={204: None}, summary="Delete a dashboard, its widgets and its share links")
    def delete(self, request: Request, dashboard_id: str) -> Response:
        services.dashboard_delete(dashboard=selectors.dashboard_get(dashboard_id=dashboard_id))
        return Response(status=204)


@extend_schema(tags=["dashboards"])
class DashboardDuplicateApi(TenantApi):
    @extend_schema(request=DuplicateInput, responses={201: DashboardOutput, **error_responses(409)},
                   summary="Copy a dashboard (a template) with its widgets")
    def post(self, request: Request, dashboard_id: str) -> Response:
        dashboard = selectors.dashboard_get(dashboard_id=dashboard_id)
        copy = services.dashboard_duplicate(dashboard=dashboard, **self.validate(DuplicateInput, request.data))
        return Response(DashboardOutput(copy).data, status=201)


@extend_schema(tags=["dashboards"])
class TemplateListApi(TenantApi):
    @extend_schema(responses=TemplateOutput(many=True), summary="The dashboard templates")
    def get(self, request: Request) -> Response:
        return Response(TemplateOutput(list(TEMPLATES.values()), many=True).data)


@extend_schema(tags=["dashboards"])
class DashboardFromTemplateApi(TenantApi):
    @extend_schema(request=FromTemplateInput, responses={201: DashboardOutput, **error_responses(409)},
                   summary="Create a dashboard from a template, over the tenant's own events and metrics")
    def post(self, request: Request) -> Response:
        dashboard = services.dashboard_from_template(tenant=request.user.tenant,
                                                     **self.validate(FromTemplateInput, request.data))
        return Response(DashboardOutput(dashboard).data, status=201)


@extend_schema(tags=["dashboards"])
class DashboardDataApi(TenantApi):
    @extend_schema(parameters=[OpenApiParameter("refresh", bool), OpenApiParameter("date_from", str),
                               OpenApiParameter("date_to", str)],
                   responses={200: OpenApiTypes.OBJECT, **error_responses(429)},
                   summary="Every widget's result (cached, with computed_at), or its error")
    def get(self, request: Request, dashboard_id: str) -> Response:
        dashboard = selectors.dashboard_get(dashboard_id=dashboard_id)
        params = self.validate(DataParams, request.query_params)
        query_rate_check(request.auth)
        return Response(services.dashboard_data(dashboard=dashboard, tenant=request.user.tenant, **params))


@extend_schema(tags=["dashboards"])
class WidgetListApi(TenantApi):
    @extend_schema(responses=WidgetOutput(many=True), summary="List a dashboard's widgets")
    def get(self, request: Request, dashboard_id: str) -> Response:
        dashboard = selectors.dashboard_get(dashboard_id=dashboard_id)
        return Response(WidgetOutput(dashboard.widgets.all(), many=True).data)

    @extend_schema(request=WidgetInput, responses={201: WidgetOutput, **error_responses(409)},
                   summary="Add a widget (its query spec is checked by the engine)")
    def post(self, request: Request, dashboard_id: str) -> Response:
        dashboard = selectors.dashboard_get(dashboard_id=dashboard_id)
        widget = services.widget_create(dashboard=dashboard, tenant=request.user.tenant,
                                        **self.validate(WidgetInput, request.data))
        return Response(WidgetOutput(widget).data, status=201)


@extend_schema(tags=["dashboards"])
class WidgetDetailApi(TenantApi):
    @extend_schema(responses=WidgetOutput, summary="Get a widget")
    def get(self, request: Request, dashboard_id: str, widget_id: str) -> Response:
        return Response(WidgetOutput(selectors.widget_get(dashboard_id=dashboard_id, widget_id=widget_id)).data)

    @extend_schema(request=WidgetPatch, responses={200: WidgetOutput, **error_responses(409)},
                   summary="Change a widget")
    def patch(self, request: Request, dashboard_id: str, widget_id: str) -> Response:
        widget = selectors.widget_get(dashboard_id=dashboard_id, widget_id=widget_id)
        changed = services.widget_update(widget=widget, tenant=request.user.tenant,
                                         changes=self.validate(WidgetPatch, request.data))
        return Response(WidgetOutput(changed).data)

    @extend_schema(responses={204: None}, summary="Delete a widget")
    def delete(self, request: Request, dashboard_id: str, widget_id: str) -> Response:
        selectors.widget_get(dashboard_id=dashboard_id, widget_id=widget_id).delete()
        return Response(status=204)


@extend_schema(tags=["dashboards"])
class ShareListApi(TenantApi):
    @extend_schema(responses=ShareOutput(many=True), summary="The dashboard's share links")
    def get(self, request: Request, dashboard_id: str) -> Response:
        dashboard = selectors.dashboard_get(dashboard_id=dashboard_id)
        return Response(ShareOutput(services.share_list(dashboard=dashboard), many=True).data)

    @extend_schema(request=None, responses={201: OpenApiTypes.OBJECT},
                   summary="Create a share link; the token is shown once")
    def post(self, request: Request, dashboard_id: str) -> Response:
        dashboard = selectors.dashboard_get(dashboard_id=dashboard_id)
        link, token = services.share_create(dashboard=dashboard)
        return Response({**ShareOutput(link).data, "token": token, "path": f"/d/{token}"}, status=201)


@extend_schema(tags=["dashboards"])
class ShareDetailApi(TenantApi):
    @extend_schema(responses={200: ShareOutput}, summary="Revoke a share link (its page then answers 404)")
    def delete(self, request: Request, dashboard_id: str, share_id: str) -> Response:
        dashboard = selectors.dashboard_get(dashboard_id=dashboard_id)
        return Response(ShareOutput(services.share_revoke(dashboard=dashboard, share_id=share_id)).data)

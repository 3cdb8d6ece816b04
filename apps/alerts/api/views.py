"""Alerts (secret key): rules, their firings, a test notification."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from apps.alerts import selectors, services
from apps.alerts.api.serializers import (
    AlertFiringOutput,
    AlertInput,
    AlertOutput,
    AlertPatch,
    AlertPatchOutput,
    AlertWithSecretOutput,
)
from apps.core.api import TenantApi
from apps.core.openapi import error_responses
from apps.core.pagination import CursorPagination, paginate


@extend_schema(tags=["alerts"])
class AlertListApi(TenantApi):
    pagination_class = CursorPagination  # documents the pages GET answers (the view pages itself)

    @extend_schema(responses=AlertOutput(many=True), summary="List alert rules with their state")
    def get(self, request: Request) -> Response:
        return paginate(self, selectors.rule_list(), AlertOutput, ordering="name")

    @extend_schema(request=AlertInput, responses={201: AlertWithSecretOutput, **error_responses(409)},
                   summary="Create an alert rule (its webhook signing secret is answered once)")
    def post(self, request: Request) -> Response:
        rule = services.rule_create(tenant=request.user.tenant, **self.validate(AlertInput, request.data))
        return Response(AlertWithSecretOutput(rule).data, status=201)


@extend_schema(tags=["alerts"])
class AlertDetailApi(TenantApi):
    @extend_schema(responses=AlertOutput, summary="Get an alert rule and its state")
    def get(self, request: Request, alert_id: str) -> Response:
        return Response(AlertOutput(selectors.rule_get(rule_id=alert_id)).data)

    @extend_schema(request=AlertPatch, responses={200: AlertPatchOutput, **error_responses(409)},
                   summary="Change an alert rule (changing what it watches starts it afresh)",
                   description="`webhook_secret` is in the answer only with `rotate_secret: true`.")
    def patch(self, request: Request, alert_id: str) -> Response:
        rule = selectors.rule_get(rule_id=alert_id)
        changes = self.validate(AlertPatch, request.data)
        rotate = changes.pop("rotate_secret", False)
        changed = services.rule_update(rule=rule, tenant=request.user.tenant, changes=changes, rotate_secret=rotate)
        body = AlertPatchOutput(changed).data
        if not rotate:
            body.pop("webhook_secret")
        return Response(body)

    @extend_schema(responses={204: None}, summary="Delete an alert rule and its history")
    def delete(self, request: Request, alert_id: str) -> Response:
        selectors.rule_get(rule_id=alert_id).delete()
        return Response(status=204)


@extend_schema(tags=["alerts"])
class AlertFiringListApi(TenantApi):
    pagination_class = CursorPagination  # documents the pages GET answers (the view pages itself)

    @extend_schema(responses=AlertFiringOutput(many=True),
                   summary="The rule's firings (breaches, recoveries, tests) and their deliveries, newest first")
    def get(self, request: Request, alert_id: str) -> Response:
        rule = selectors.rule_get(rule_id=alert_id)
        return paginate(self, selectors.firing_list(rule=rule), AlertFiringOutput, ordering="-id")


@extend_schema(tags=["alerts"])
class AlertTestApi(TenantApi):
    @extend_schema(request=None, responses={202: AlertFiringOutput},
                   summary="Send a test notification to every channel of the rule")
    def post(self, request: Request, alert_id: str) -> Response:
        rule = selectors.rule_get(rule_id=alert_id)
        firing = services.rule_test(rule=rule)
        return Response(AlertFiringOutput(selectors.firing_list(rule=rule).get(pk=firing.pk)).data, status=202)

"""The audit log (secret key with the `admin` scope): a filtered, paginated read."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api import TenantApi
from apps.core.exceptions import ValidationFailed
from apps.core.pagination import CursorPagination, paginate
from apps.governance.audit.selectors import audit_entry_list
from apps.governance.models import AuditEntry


class AuditEntryOutput(serializers.ModelSerializer):
    changes = serializers.DictField(help_text="{field: [old, new]} (secrets masked), or the action's details.")

    class Meta:
        model = AuditEntry
        fields = ["id", "created_at", "actor", "actor_type", "action", "object_type", "object_id", "object_repr",
                  "changes", "source_address"]


class AuditFilters(serializers.Serializer):
    actor = serializers.CharField(required=False, max_length=200,
                                  help_text="A console username, an API key prefix, `command:<name>`, `system`.")
    action = serializers.CharField(required=False, max_length=64,
                                   help_text="create, update, delete, key_issued, key_revoked, share_link_created, "
                                             "share_link_revoked, export_run, person_deleted, ...")
    object_type = serializers.CharField(required=False, max_length=100, help_text="dashboard, widget, report, ...")
    object_id = serializers.CharField(required=False, max_length=200)
    date_from = serializers.DateTimeField(required=False, help_text="ISO 8601, inclusive.")
    date_to = serializers.DateTimeField(required=False, help_text="ISO 8601, exclusive.")

    def validate(self, attrs: dict) -> dict:
        if "date_from" in attrs and "date_to" in attrs and attrs["date_from"] >= attrs["date_to"]:
            raise serializers.ValidationError({"date_to": "date_to must be after date_from."})
        return attrs


_PAGING = {"cursor", "limit"}


@extend_schema(tags=["governance"])
class AuditLogApi(TenantApi):
    required_scope = "admin"
    pagination_class = CursorPagination  # documents the pages GET answers (the view pages itself)

    @extend_schema(
        parameters=[AuditFilters],
        responses=AuditEntryOutput(many=True),
        summary="The audit log: every change, newest first",
        description="Who changed what, when and from where. Filters combine; unknown parameters are a 400.",
    )
    def get(self, request: Request) -> Response:
        unknown = sorted(set(request.query_params) - set(AuditFilters().fields) - _PAGING)
        if unknown:
            raise ValidationFailed(f"Unknown filter: {', '.join(unknown)}.", details={"unknown": unknown})
        filters = self.validate(AuditFilters, request.query_params)
        return paginate(self, audit_entry_list(**filters), AuditEntryOutput, ordering="-id")

"""The tenant console's metrics: definitions (editable, through the same checks as the API) and a
read-only list of recent values."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from apps.core.admin_sites import EstimatedCountPaginator, ReadOnly, tenant_admin_site
from apps.core.exceptions import DomainError
from apps.metrics import services
from apps.metrics.models import Metric, MetricValue


class MetricForm(forms.ModelForm):
    class Meta:
        model = Metric
        fields = ["name", "display_name", "metric_type", "unit", "description", "dimensions", "tags"]

    def clean(self) -> dict:
        data = super().clean()
        try:
            services.check_definition(name=data.get("name") or "", metric_type=data.get("metric_type") or "",
                                      dimensions=data.get("dimensions") or [], tags=data.get("tags") or [])
        except DomainError as exc:
            raise ValidationError(exc.message) from None
        return data


@admin.register(Metric, site=tenant_admin_site)
class MetricAdmin(admin.ModelAdmin):
    form = MetricForm
    list_display = ("name", "display_name", "metric_type", "unit", "updated_at")
    list_filter = ("metric_type",)
    search_fields = ("name", "display_name")

    def get_readonly_fields(self, request: HttpRequest, obj: Metric | None = None) -> tuple[str, ...]:
        # The name and type define what the stored values mean.
        return ("name", "metric_type") if obj is not None else ()

    def delete_model(self, request: HttpRequest, obj: Metric) -> None:
        services.metric_delete(name=obj.name)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:  # noqa: ANN001
        for metric in queryset:
            services.metric_delete(name=metric.name)


@admin.register(MetricValue, site=tenant_admin_site)
class MetricValueAdmin(ReadOnly):
    list_display = ("timestamp", "value", "dimensions", "received_at")
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 50
    sortable_by = ()
    ordering = ("-timestamp", "-id")
    fields = ("metric_id", "timestamp", "value", "dimensions", "received_at")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest):  # noqa: ANN201
        # Metric names for the page, read once (values hold only the metric's id).
        request.metric_names = dict(Metric.objects.values_list("id", "name"))
        return super().get_queryset(request)

    def get_list_display(self, request: HttpRequest) -> tuple:
        names = getattr(request, "metric_names", None)
        if names is None:
            names = request.metric_names = dict(Metric.objects.values_list("id", "name"))

        @admin.display(description="metric")
        def metric_name(obj: MetricValue) -> str:
            return names.get(obj.metric_id, "?")

        return ("timestamp", metric_name, "value", "dimensions", "received_at")

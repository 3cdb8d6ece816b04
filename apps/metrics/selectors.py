"""Reads of metric definitions, in the current tenant schema."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.metrics.exceptions import MetricNotFound
from apps.metrics.models import Metric


def metric_list(*, tag: str | None = None) -> QuerySet[Metric]:
    metrics = Metric.objects.all()
    if tag is not None:
        metrics = metrics.filter(tags__contains=[tag])
    return metrics


def metric_get(*, name: str) -> Metric:
    metric = Metric.objects.filter(name=name).first()
    if metric is None:
        raise MetricNotFound(f"No metric {name!r}.")
    return metric


def metrics_by_name(*, names: set[str]) -> dict[str, Metric]:
    return {metric.name: metric for metric in Metric.objects.filter(name__in=names)}

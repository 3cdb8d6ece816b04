from django.urls import path

from apps.metrics.api import views

urlpatterns = [
    path("metrics", views.MetricListApi.as_view(), name="metrics"),
    path("metrics/values/batch", views.MetricValueBatchApi.as_view(), name="metric-values-batch"),
    # The seed API's forms: the metric named in the body.
    path("metrics/values", views.SeedMetricValueApi.as_view(), name="metric-values-seed"),
    path("metrics/aggregate", views.SeedMetricAggregateApi.as_view(), name="metric-aggregate-seed"),
    path("metrics/<str:name>", views.MetricDetailApi.as_view(), name="metric"),
    path("metrics/<str:name>/values", views.MetricValueApi.as_view(), name="metric-values"),
    path("metrics/<str:name>/aggregate", views.MetricAggregateApi.as_view(), name="metric-aggregate"),
    path("metrics/<str:name>/anomalies", views.MetricAnomaliesApi.as_view(), name="metric-anomalies"),
    path("metrics/<str:name>/forecast", views.MetricForecastApi.as_view(), name="metric-forecast"),
]

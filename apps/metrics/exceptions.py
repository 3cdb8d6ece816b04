from __future__ import annotations

from apps.core.exceptions import Conflict, NotFound


class MetricNotFound(NotFound):
    code = "metric_not_found"


class MetricAlreadyExists(Conflict):
    code = "metric_exists"

"""Which metrics a tenant records: each metric's values in a time range counted up to a cap, for
dashboard templates (apps/dashboards/templates_catalog.py) that pick the metrics to draw.

Semantics: per metric (at most `metrics_cap`, by name), its values with start <= timestamp < end,
counted by an index-only scan of (metric_id, timestamp) that stops at `count_cap`. Metrics with no
value in the range are left out. The answer maps the metric's name to that capped count.
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection

METRICS_CAP = 200
COUNT_CAP = 100_000

_COUNTS = """
SELECT m.name, volume.n
FROM (SELECT id, name FROM metrics ORDER BY name LIMIT %s) m
CROSS JOIN LATERAL (
    SELECT count(*) AS n FROM (
        SELECT 1 FROM metric_values v WHERE v.metric_id = m.id AND v."timestamp" >= %s AND v."timestamp" < %s
        LIMIT %s
    ) capped
) volume
WHERE volume.n > 0
"""


def metric_value_counts(*, start: datetime, end: datetime, metrics_cap: int = METRICS_CAP,
                        count_cap: int = COUNT_CAP) -> dict[str, int]:
    """In the current tenant schema: metric name -> its values in [start, end), at most count_cap."""
    with connection.cursor() as cursor:
        cursor.execute(_COUNTS, [metrics_cap, start, end, count_cap])
        return dict(cursor.fetchall())

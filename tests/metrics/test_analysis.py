"""Anomalies and forecasts over aggregated series, checked against hand computations."""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta, timezone

import pytest
from django_tenants.utils import schema_context

from apps.metrics import services
from tests.helpers import assert_error, bearer

DAYS = 30
START = datetime(2026, 10, 1, tzinfo=timezone.utc)
# A daily gauge on a line (10 + 2 * day) with small wiggles, and one spike on day 17.
LEVELS = [10 + 2 * day + (0.5 if day % 2 else -0.5) for day in range(DAYS)]
LEVELS[17] += 60


@pytest.fixture
def gauge(acme):  # noqa: ANN001, ANN201
    with schema_context(acme.tenant.schema_name):
        services.metric_create(name="queue", metric_type="gauge")
        services.metric_values_record_batch(data={"values": [
            {"metric": "queue", "value": level, "timestamp": (START + timedelta(days=day, hours=12)).isoformat()}
            for day, level in enumerate(LEVELS)]})
    return acme


def get(client, acme, path: str):  # noqa: ANN001, ANN201
    query = "aggregation=avg&granularity=day&date_from=2026-10-01&date_to=2026-10-31&timezone=UTC"
    return client.get(f"/api/v1/metrics/queue/{path}{'&' if '?' in path else '?'}{query}", **bearer(acme.secret_key))


def test_zscore_finds_the_spike_with_its_score(client, gauge):
    body = get(client, gauge, "anomalies?method=zscore&threshold=2.5").json()
    (series,) = body["series"]
    mean, std = statistics.mean(LEVELS), statistics.stdev(LEVELS)
    assert [a["start"] for a in series["anomalies"]] == ["2026-10-18T00:00:00+00:00"]
    assert series["anomalies"][0]["score"] == pytest.approx((LEVELS[17] - mean) / std, rel=1e-9)
    assert series["statistics"]["mean"] == pytest.approx(mean)


def test_iqr_finds_the_spike_beyond_its_fence(client, gauge):
    (series,) = get(client, gauge, "anomalies?method=iqr").json()["series"]
    q1, _, q3 = statistics.quantiles(LEVELS, n=4, method="inclusive")
    high = q3 + 1.5 * (q3 - q1)
    assert [a["value"] for a in series["anomalies"]] == [LEVELS[17]]
    assert series["anomalies"][0]["score"] == pytest.approx((LEVELS[17] - high) / (q3 - q1))


def test_forecast_follows_the_trend(client, gauge):
    body = get(client, gauge, "forecast?periods=3").json()
    (series,) = body["series"]
    xs = list(range(DAYS))
    mean_x, mean_y = statistics.mean(xs), statistics.mean(LEVELS)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, LEVELS)) / sum((x - mean_x) ** 2 for x in xs)
    intercept = mean_y - slope * mean_x
    assert series["fit"]["slope"] == pytest.approx(slope) and series["fit"]["intercept"] == pytest.approx(intercept)
    assert [f["start"] for f in series["forecast"]] == ["2026-10-31T00:00:00+00:00", "2026-11-01T00:00:00+00:00",
                                                        "2026-11-02T00:00:00+00:00"]
    assert series["forecast"][0]["value"] == pytest.approx(intercept + slope * DAYS)
    assert series["forecast"][0]["lower"] < series["forecast"][0]["value"] < series["forecast"][0]["upper"]


def test_forecast_steps_calendar_periods_in_the_zone(client, gauge):
    query = "forecast?periods=2&aggregation=avg&granularity=day&date_from=2026-10-01&date_to=2026-10-25" \
            "&timezone=Europe/Paris"
    body = client.get(f"/api/v1/metrics/queue/{query}", **bearer(gauge.secret_key)).json()
    # Paris leaves summer time on 25 October: the 26th starts at +01:00.
    assert [f["start"] for f in body["series"][0]["forecast"]] == ["2026-10-25T00:00:00+02:00",
                                                                   "2026-10-26T00:00:00+01:00"]


def test_bad_analysis_parameters_are_400(client, gauge):
    assert_error(get(client, gauge, "anomalies?method=magic"), 400, "invalid")
    assert_error(get(client, gauge, "anomalies?threshold=-1"), 400, "invalid")
    assert_error(get(client, gauge, "forecast?periods=0"), 400, "invalid")

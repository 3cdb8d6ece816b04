"""Anomalies and a trend forecast over an aggregated metric series (DESIGN §6).

Both read one series of `query_run`'s metric answer: its buckets and values; empty (null) buckets are
left out of every statistic.

Anomalies, `method`:
- `zscore`: score = (value - mean) / standard deviation (sample, n - 1); a bucket is anomalous when
  |score| > threshold (default 3). Fewer than 3 values, or no spread, gives no anomalies.
- `iqr`: with Q1 and Q3 the quartiles (linear interpolation) and IQR = Q3 - Q1, a bucket is anomalous
  below Q1 - threshold * IQR or above Q3 + threshold * IQR (default threshold 1.5); its score is its
  distance beyond that fence in IQRs (negative below). Fewer than 4 values, or IQR = 0, gives none.

Forecast: an ordinary least-squares line through (bucket index, value); the next `periods` buckets
(calendar periods, like the series' own) get the line's value, with a band of +/- 1.96 residual
standard deviations (n - 2). The fit reports slope (per bucket), intercept (at the first bucket),
r2 and the residual standard deviation. Fewer than 3 values: no forecast.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from dateutil.relativedelta import relativedelta

from apps.core.exceptions import ValidationFailed

_STEP = {"minute": relativedelta(minutes=1), "hour": relativedelta(hours=1), "day": relativedelta(days=1),
         "week": relativedelta(weeks=1), "month": relativedelta(months=1)}


def _points(series: dict[str, Any]) -> tuple[list[int], list[str], np.ndarray]:
    kept = [(i, start, value) for i, (start, value) in enumerate(zip(series["buckets"], series["values"]))
            if value is not None]
    return [k[0] for k in kept], [k[1] for k in kept], np.array([k[2] for k in kept], dtype=float)


def fences(values: Any, *, method: str, threshold: float | None) -> dict[str, Any] | None:
    """The band [lower, upper] a value must stay inside to be normal against `values` (their
    statistics), or None when there are too few values (3 for zscore, 4 for iqr). zscore: mean +/-
    threshold standard deviations (sample, n - 1); iqr: Q1 - threshold * IQR to Q3 + threshold * IQR.
    With no spread the band is a single point. Alerts compare a new value with it; `anomalies` below
    flags a series' own buckets with it."""
    values = np.asarray(values, dtype=float)
    if method == "zscore":
        threshold = 3.0 if threshold is None else threshold
        if len(values) < 3:
            return None
        mean, spread = float(np.mean(values)), float(np.std(values, ddof=1))
        return {"lower": mean - threshold * spread, "upper": mean + threshold * spread, "threshold": threshold,
                "spread": spread, "statistics": {"mean": mean, "std": spread}}
    if method == "iqr":
        threshold = 1.5 if threshold is None else threshold
        if len(values) < 4:
            return None
        q1, q3 = float(np.percentile(values, 25)), float(np.percentile(values, 75))
        spread = q3 - q1
        return {"lower": q1 - threshold * spread, "upper": q3 + threshold * spread, "threshold": threshold,
                "spread": spread, "statistics": {"q1": q1, "q3": q3, "iqr": spread}}
    raise ValidationFailed("`method` must be zscore or iqr.", details={"method": method})


def anomalies(series: dict[str, Any], *, method: str, threshold: float | None) -> dict[str, Any]:
    _, starts, values = _points(series)
    band = fences(values, method=method, threshold=threshold)
    threshold = (3.0 if method == "zscore" else 1.5) if threshold is None else threshold
    found = []
    spread = band["spread"] if band is not None else 0.0
    if band is not None and spread > 0:
        for start, value in zip(starts, values):
            if value < band["lower"] or value > band["upper"]:
                if method == "zscore":
                    score = (value - band["statistics"]["mean"]) / spread
                else:
                    score = ((value - band["lower"]) if value < band["lower"] else (value - band["upper"])) / spread
                found.append({"start": start, "value": float(value), "score": float(score)})
    if method == "zscore":
        stats = {"mean": float(np.mean(values)) if len(values) else None, "std": spread or None}
    else:
        stats = {"q1": band["statistics"]["q1"] if band else None, "q3": band["statistics"]["q3"] if band else None,
                 "iqr": spread or None}
    return {"group": series["group"], "method": method, "threshold": threshold, "statistics": stats,
            "anomalies": found}


def forecast(series: dict[str, Any], *, periods: int, granularity: str, zone: ZoneInfo) -> dict[str, Any]:
    indexes, _, values = _points(series)
    answer: dict[str, Any] = {"group": series["group"], "fit": None, "forecast": []}
    if len(values) < 3:
        return answer
    x = np.array(indexes, dtype=float)
    slope, intercept = np.polyfit(x, values, 1)
    predicted = slope * x + intercept
    residual = values - predicted
    total = float(np.sum((values - values.mean()) ** 2))
    r2 = 1 - float(np.sum(residual ** 2)) / total if total > 0 else 1.0
    std = math.sqrt(float(np.sum(residual ** 2)) / (len(values) - 2)) if len(values) > 2 else 0.0
    answer["fit"] = {"slope": float(slope), "intercept": float(intercept), "r2": r2, "residual_std": std,
                     "points": len(values)}
    # Local bucket starts, stepped on the wall clock of the series' zone (a DST change moves the offset).
    naive = datetime.fromisoformat(series["buckets"][-1]).replace(tzinfo=None)
    for ahead in range(1, periods + 1):
        start = (naive + _STEP[granularity] * ahead).replace(tzinfo=zone)
        value = float(slope * (len(series["buckets"]) - 1 + ahead) + intercept)
        answer["forecast"].append({"start": start.isoformat(), "value": value, "lower": value - 1.96 * std,
                                   "upper": value + 1.96 * std})
    return answer

"""The demo tenant's content beyond its events (`make run`): a month of sample metric values, a
segment, the executive and technical dashboards made from their templates, and a weekly report of
the executive dashboard with a subscriber, two alert rules by email, so that every part of the product shows working at once.

Everything goes through the apps' services (values through the metrics write path, the segment
refreshed by its service, widgets checked by the dashboards' service). Idempotent: each piece is
made only when missing, by name, so running it again changes nothing.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from apps.alerts.models import AlertRule
from apps.alerts.services import rule_create
from apps.dashboards.models import Dashboard
from apps.dashboards.services import dashboard_from_template
from apps.events.models import Event
from apps.events.sample import sample_events_generate
from apps.metrics import services as metric_services
from apps.metrics.models import Metric, MetricValue
from apps.reports.models import Report
from apps.reports.services import report_create, subscribe
from apps.segments.models import Segment
from apps.segments.services import segment_create

SUBSCRIBER = "admin@example.com"
SEGMENT = "paying"
REPORT = "weekly-executive"
DASHBOARDS = ("executive", "technical")
# endpoint -> (method, median latency in ms)
ENDPOINTS = {"/api/products": ("GET", 45.0), "/api/cart": ("POST", 80.0), "/api/checkout": ("POST", 220.0),
             "/api/login": ("POST", 120.0)}
METRICS = (
    {"name": "api_request.duration", "metric_type": "histogram", "unit": "ms",
     "dimensions": ["endpoint", "method", "status"], "description": "API request durations."},
    {"name": "system.cpu_percent", "metric_type": "gauge", "unit": "%", "description": "CPU use."},
    {"name": "system.memory_percent", "metric_type": "gauge", "unit": "%", "description": "Memory use."},
    {"name": "checkout.orders", "metric_type": "counter", "unit": "orders", "dimensions": ["currency"],
     "description": "Orders placed."},
)
BATCH = 1000
# Two alert rules by email to the subscriber: a threshold on checkout latency, an anomaly on traffic.
ALERTS = (
    {"name": "slow-checkout", "display_name": "Checkout p95 over 500 ms",
     "query": {"kind": "metric", "metric": "api_request.duration", "aggregation": "p95", "granularity": "hour",
               "dimensions": {"endpoint": "/api/checkout"}},
     "condition": "above", "threshold": 500, "period": "1h", "cooldown": "1h"},
    {"name": "traffic-anomaly", "display_name": "Unusual page views per hour",
     "query": {"kind": "trends", "interval": "hour", "series": [{"event_type": "page_view"}]},
     "condition": "anomaly", "method": "zscore", "threshold": 3, "period": "2d", "cooldown": "6h"},
)


@dataclass(frozen=True)
class DemoContent:
    created: list[str]  # what this run made, e.g. "metric api_request.duration (4320 values)"
    dashboards: dict[str, int]  # template name -> dashboard id
    report: int
    segment: str

    def as_dict(self) -> dict[str, Any]:
        return {"created": self.created, "dashboards": self.dashboards, "report": self.report,
                "segment": self.segment}


def _values(name: str, *, days: int, requests_per_hour: int, now: datetime, rng: random.Random) -> list[dict]:
    """A plausible month of one metric: a daily cycle, a slow checkout, a few 5xx."""
    hours = [now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=h) for h in range(days * 24, 0, -1)]
    values: list[dict] = []
    for hour in hours:
        daily = 1 + 0.5 * math.sin((hour.hour - 9) / 24 * 2 * math.pi)  # busier in the afternoon
        if name == "api_request.duration":
            for _ in range(max(1, round(requests_per_hour * daily))):
                endpoint = rng.choice(list(ENDPOINTS))
                method, median = ENDPOINTS[endpoint]
                roll = rng.random()
                status = 500 if roll < 0.02 else 404 if roll < 0.06 else 201 if method == "POST" else 200
                moment = hour + timedelta(seconds=rng.uniform(0, 3599))
                values.append({"metric": name, "value": round(median * daily * rng.lognormvariate(0, 0.5), 2),
                               "timestamp": moment.isoformat(),
                               "dimensions": {"endpoint": endpoint, "method": method, "status": status}})
        elif name.startswith("system."):
            base, swing = (35.0, 25.0) if name == "system.cpu_percent" else (55.0, 10.0)
            for quarter in range(4):
                level = base + swing * (daily - 1) * 2 + rng.uniform(-5, 5)
                values.append({"metric": name, "value": round(min(100.0, max(0.0, level)), 1),
                               "timestamp": (hour + timedelta(minutes=15 * quarter)).isoformat(),
                               "dimensions": {"host": "web-1"}})
        else:
            values.append({"metric": name, "value": rng.randint(0, max(1, round(3 * daily))),
                           "timestamp": (hour + timedelta(minutes=59)).isoformat(), "dimensions": {"currency": "EUR"}})
    return values


def demo_content_ensure(*, tenant: Any, days: int = 30, requests_per_hour: int = 6, users: int = 300,
                        now: datetime | None = None) -> DemoContent:
    """In the current tenant schema (the demo tenant `tenant`): whatever of the demo content is
    missing. Sample events (`users` visitors over `days`) only when the tenant has no event."""
    now = now or datetime.now(timezone.utc)
    created: list[str] = []
    if not Event.objects.exists():
        created.append(f"{sample_events_generate(users=users, days=days)} sample events")
    rng = random.Random(17)
    for definition in METRICS:
        metric = Metric.objects.filter(name=definition["name"]).first()
        if metric is None:
            metric = metric_services.metric_create(**definition)
        if MetricValue.objects.filter(metric_id=metric.pk).exists():
            continue
        values = _values(metric.name, days=days, requests_per_hour=requests_per_hour, now=now, rng=rng)
        for start in range(0, len(values), BATCH):
            answer = metric_services.metric_values_record_batch(data={"values": values[start:start + BATCH]})
            if answer["rejected"]:
                raise RuntimeError(f"sample values of {metric.name} refused: {answer['rejected'][:3]}")
        created.append(f"metric {metric.name} ({len(values)} values)")
    if not Segment.objects.filter(name=SEGMENT).exists():
        segment = segment_create(name=SEGMENT, display_name="Paying customers",
                                 description="On the pro plan, or purchased in the last 30 days.",
                                 rules={"op": "or", "rules": [
                                     {"field": "plan", "operator": "eq", "value": "pro"},
                                     {"event": "Purchased", "operator": "gte", "value": 1, "within": "30d"}]})
        created.append(f"segment {SEGMENT} ({segment.size} members)")
    dashboards = {}
    for template in DASHBOARDS:
        dashboard = Dashboard.objects.filter(name=template).first()
        if dashboard is None:
            dashboard = dashboard_from_template(template=template, tenant=tenant)
            created.append(f"dashboard {dashboard.name} ({dashboard.widgets.count()} widgets)")
        dashboards[template] = dashboard.pk
    report = Report.objects.filter(name=REPORT).first()
    if report is None:
        report = report_create(tenant=tenant, name=REPORT, display_name="Weekly executive summary",
                               description="The executive dashboard over last week, every Monday at 9:00.",
                               report_type=Report.Type.DASHBOARD, dashboard_id=dashboards["executive"],
                               time_range=Report.TimeRange.LAST_WEEK, formats=["html", "csv"],
                               frequency=Report.Frequency.WEEKLY, weekday=0, hour=9, minute=0,
                               timezone=tenant.timezone, owner=SUBSCRIBER)
        subscribe(report=report, email=SUBSCRIBER)
        created.append(f"report {REPORT} (weekly, to {SUBSCRIBER})")
    for definition in ALERTS:
        if not AlertRule.objects.filter(name=definition["name"]).exists():
            rule_create(tenant=tenant, **definition, channels=[{"type": "email", "address": SUBSCRIBER}])
            created.append(f"alert {definition['name']} (to {SUBSCRIBER})")
    return DemoContent(created=created, dashboards=dashboards, report=report.pk, segment=SEGMENT)

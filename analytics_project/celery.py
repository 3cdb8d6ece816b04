"""The Celery app. Tasks are tenant-aware: a task sent from inside a tenant's schema carries the
schema name in its headers and runs in that schema (tenant-schemas-celery); tasks sent from the
public schema run there and fan out per tenant explicitly.

The beat schedule is defined here and nowhere else.
"""

import os

from celery.schedules import crontab
from tenant_schemas_celery.app import CeleryApp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "analytics_project.settings")

app = CeleryApp("analytics")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {
    "events-upkeep": {
        "task": "apps.events.tasks.events_upkeep_all",
        "schedule": 3600.0,
    },
    "definitions-flush": {
        "task": "apps.events.tasks.definitions_flush_all",
        "schedule": 60.0,
    },
    "metrics-upkeep": {
        "task": "apps.metrics.tasks.metrics_upkeep_all",
        "schedule": 3600.0,
    },
    "metrics-roll": {
        "task": "apps.metrics.tasks.metrics_roll_all",
        "schedule": 60.0,
    },
    "segments-refresh": {
        "task": "apps.segments.tasks.segments_refresh_all",
        "schedule": 900.0,
    },
    "reports-dispatch": {
        "task": "apps.reports.tasks.reports_dispatch_all",
        # Every minute at :00, so a 09:00 report leaves at 09:00 (REPORTS_DISPATCH_EVERY_SECONDS
        # may set another interval; see below).
        "schedule": crontab(),
    },
    "alerts-check": {
        "task": "apps.alerts.tasks.alerts_check_due_all",
        "schedule": 60.0,  # ALERTS_CHECK_EVERY_SECONDS (see below)
    },
    "tracking-violations-flush": {
        "task": "apps.governance.tracking.tasks.tracking_violations_flush_all",
        "schedule": 60.0,
    },
    "privacy-upkeep": {
        "task": "apps.governance.tasks.privacy_upkeep_all",
        "schedule": 3600.0,
    },
    "api-keys-flush-last-used": {
        "task": "apps.tenancy.tasks.api_keys_flush_last_used",
        "schedule": 60.0,
    },
    "audit-log-purge": {
        "task": "apps.governance.tasks.audit_log_purge_all",
        "schedule": crontab(minute=17, hour=3),
    },
}


@app.on_after_configure.connect
def _reports_dispatch_interval(sender, **kwargs) -> None:  # noqa: ANN001, ANN003
    """Settings are read once Celery is configured, not when this module is imported (the local
    stack sets the database address after importing it)."""
    from django.conf import settings

    sender.conf.beat_schedule["alerts-check"]["schedule"] = float(settings.ALERTS_CHECK_EVERY_SECONDS)
    if settings.REPORTS_DISPATCH_EVERY_SECONDS:
        sender.conf.beat_schedule["reports-dispatch"]["schedule"] = float(settings.REPORTS_DISPATCH_EVERY_SECONDS)

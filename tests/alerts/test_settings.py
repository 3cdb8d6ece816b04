"""Alerts' settings and beat entry: read from the environment, refused when malformed, and the beat
schedule naming a task that exists at the interval the setting gives."""

from __future__ import annotations

import os
import subprocess
import sys

from analytics_project.celery import app as celery_app
from tests.core.test_settings import ROOT


def read(name: str, **env: str) -> subprocess.CompletedProcess:
    clean = {**os.environ, "DJANGO_SETTINGS_MODULE": "analytics_project.settings", **env}
    code = f"import django; django.setup(); from django.conf import settings; print(settings.{name})"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True)


def test_allowed_hosts_come_from_a_comma_list():
    result = read("ALERTS_WEBHOOK_ALLOWED_HOSTS", ALERTS_WEBHOOK_ALLOWED_HOSTS=" Hooks.Internal ,localhost,")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['hooks.internal', 'localhost']"


def test_a_malformed_interval_is_refused():
    result = read("ALERTS_CHECK_EVERY_SECONDS", ALERTS_CHECK_EVERY_SECONDS="soon")
    assert result.returncode != 0 and "ALERTS_CHECK_EVERY_SECONDS" in result.stderr


def test_beat_checks_alerts_with_a_registered_task(settings):
    entry = celery_app.conf.beat_schedule["alerts-check"]
    assert entry["task"] in celery_app.tasks
    assert entry["schedule"] == float(settings.ALERTS_CHECK_EVERY_SECONDS)

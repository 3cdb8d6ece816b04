"""The settings that matter, and start-up refusals (a misspelt setting is silently ignored)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from analytics_project.celery import app as celery_app

ROOT = Path(__file__).resolve().parent.parent.parent


def load_settings(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "PLATFORM_API_TOKEN"}}
    clean.update({"DJANGO_SETTINGS_MODULE": "analytics_project.settings", **env})
    code = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True)


GOOD_PRODUCTION = {
    "ENVIRONMENT": "production",
    "SECRET_KEY": "k" * 50,
    "PLATFORM_API_TOKEN": "p" * 30,
    "DATABASE_URL": "postgres://u@127.0.0.1:5432/db",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
}


def test_production_starts_with_proper_settings():
    result = load_settings(**GOOD_PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize(
    "override, message",
    [
        ({"DEBUG": "true"}, "DEBUG must be off"),
        ({"SECRET_KEY": ""}, "SECRET_KEY must be set"),
        ({"PLATFORM_API_TOKEN": "short"}, "PLATFORM_API_TOKEN must be set"),
        ({"DEBUG": "maybe"}, "DEBUG must be a boolean"),
        ({"DATABASE_URL": "mysql://x@y/z"}, "DATABASE_URL must be a postgres/postgresql URL"),
        ({"BASE_DOMAIN": "http://bad"}, "BASE_DOMAIN must be a bare hostname"),
        ({"ENVIRONMENT": "prod"}, "ENVIRONMENT must be one of"),
        ({"DATABASE_CONN_MAX_AGE": "soon"}, "DATABASE_CONN_MAX_AGE must be an integer"),
    ],
)
def test_malformed_or_unsafe_settings_refuse_to_start(override, message):
    result = load_settings(**{**GOOD_PRODUCTION, **override})
    assert result.returncode != 0
    assert message in result.stderr


def test_production_without_a_database_url_names_the_variable():
    env = {k: v for k, v in GOOD_PRODUCTION.items() if k != "DATABASE_URL"}
    saved = os.environ.pop("DATABASE_URL", None)
    try:
        result = load_settings(**env)
    finally:
        if saved is not None:
            os.environ["DATABASE_URL"] = saved
    assert result.returncode != 0 and "DATABASE_URL" in result.stderr


def test_the_settings_that_matter():
    assert settings.DATABASES["default"]["ENGINE"] == "apps.core.postgresql_backend"
    assert settings.TENANT_MODEL == "tenancy.Tenant" and settings.TENANT_DOMAIN_MODEL == "tenancy.Domain"
    assert settings.TENANT_BASE_SCHEMA == "tenant_template" and settings.TENANT_CREATION_FAKES_MIGRATIONS
    assert settings.MIDDLEWARE.index("apps.tenancy.middleware.TenantRoutingMiddleware") < settings.MIDDLEWARE.index(
        "django.contrib.sessions.middleware.SessionMiddleware"
    )
    assert settings.CACHES["default"]["KEY_FUNCTION"] == "django_tenants.cache.make_key"
    assert settings.REST_FRAMEWORK["EXCEPTION_HANDLER"] == "apps.core.errors.exception_handler"
    # Celery read its CELERY_-prefixed settings (a typo would leave Celery's defaults in place).
    assert celery_app.conf.broker_url == settings.REDIS_URL
    assert celery_app.conf.task_always_eager is True and celery_app.conf.task_eager_propagates is True
    assert celery_app.conf.task_acks_late is True
    assert celery_app.conf.task_time_limit == settings.CELERY_TASK_TIME_LIMIT
    assert {"api-keys-flush-last-used", "events-upkeep", "metrics-upkeep"} <= set(celery_app.conf.beat_schedule)
    assert settings.EMAIL_BACKEND == "django.core.mail.backends.locmem.EmailBackend"
    assert settings.REDIS_URL.endswith("/15")  # tests never touch the running stack's Redis database

"""Test settings: the real PostgreSQL and Redis, eager Celery that raises, in-memory email."""

import os

os.environ.setdefault("ENVIRONMENT", "test")

from analytics_project.settings.base import *  # noqa: E402,F401,F403

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
CACHES["default"]["KEY_PREFIX"] = "test-cache"  # noqa: F405
LOGGING["root"]["level"] = "WARNING"  # noqa: F405

# Tests use their own Redis database, so a running `make run` keeps its cache and queues.
REDIS_URL = REDIS_URL.rsplit("/", 1)[0] + "/15" if REDIS_URL.count("/") > 2 else REDIS_URL + "/15"  # noqa: F405
CACHES["default"]["LOCATION"] = REDIS_URL  # noqa: F405
CELERY_BROKER_URL = REDIS_URL
# Live-server threads close their connections after each request, so none outlives the test
# database (a persistent one would hold it open at teardown).
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405

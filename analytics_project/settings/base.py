"""Settings, read from the environment only.

Every value comes through `analytics_project.settings.env`, whose helpers refuse malformed input
at start-up instead of silently falling back. Locally, `make run` and `make test` write the
embedded PostgreSQL/Redis addresses to `var/devstack.env`; outside production that file fills in
whatever the environment leaves unset, so `.venv/bin/python manage.py ...` reaches the same database.
"""

from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from analytics_project.settings.env import Env

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = Env()
ENVIRONMENT = env.choice("ENVIRONMENT", ("development", "test", "production"), default="development")
if ENVIRONMENT != "production":
    env.read_file(VAR_DIR / "devstack.env")

DEFAULT_SECRET_KEY = "insecure-development-key-do-not-use-in-production"
DEBUG = env.bool("DEBUG", default=ENVIRONMENT == "development")
SECRET_KEY = env.str("SECRET_KEY", default=DEFAULT_SECRET_KEY)
PLATFORM_API_TOKEN = env.str("PLATFORM_API_TOKEN", default="dev-platform-token")

if ENVIRONMENT == "production":
    if DEBUG:
        raise ImproperlyConfigured("DEBUG must be off in production.")
    if SECRET_KEY == DEFAULT_SECRET_KEY or len(SECRET_KEY) < 32:
        raise ImproperlyConfigured("SECRET_KEY must be set to a random value of 32+ characters in production.")
    if PLATFORM_API_TOKEN == "dev-platform-token" or len(PLATFORM_API_TOKEN) < 24:
        raise ImproperlyConfigured("PLATFORM_API_TOKEN must be set to a random value of 24+ characters in production.")

# Tenants' consoles live at <slug>.<BASE_DOMAIN>; everything else on BASE_DOMAIN is the public site.
BASE_DOMAIN = env.hostname("BASE_DOMAIN", default="localhost")
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=[BASE_DOMAIN, f".{BASE_DOMAIN}", "127.0.0.1", "[::1]", "testserver"]
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
PUBLIC_URL = env.url("PUBLIC_URL", default=f"http://{BASE_DOMAIN}:{env.int('PORT', default=8000)}")

# --- Applications ------------------------------------------------------------------------------

SHARED_APPS = [
    # First: its management commands (migrate, create_tenant, ...) take precedence over django-tenants'.
    "apps.tenancy",
    "apps.core",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.admin",
    # After the admin: its admin template overrides assume the default admin site, and the project
    # has two sites of its own (apps.core.admin_sites).
    "django_tenants",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # Console login attempts are limited (its cache handler keeps counts in Redis: no tables).
    "axes",
]
# Each tenant schema has its own users (the tenant's staff), sessions and admin log.
TENANT_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.admin",
    "apps.events",
    "apps.insights",
    "apps.metrics",
    "apps.segments",
    "apps.dashboards",
    "apps.alerts",
    "apps.reports",
    "apps.governance",
    "apps.console",
]
INSTALLED_APPS = SHARED_APPS + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "tenancy.Tenant"
TENANT_DOMAIN_MODEL = "tenancy.Domain"
# New tenants are cloned from this fully migrated schema instead of replaying every migration.
TENANT_BASE_SCHEMA = "tenant_template"
TENANT_CREATION_FAKES_MIGRATIONS = True
# Issue SET search_path only when the schema changes, not before every cursor.
TENANT_LIMIT_SET_CALLS = True
PUBLIC_SCHEMA_URLCONF = "analytics_project.urls_public"
ROOT_URLCONF = "analytics_project.urls_tenant"
DATABASE_ROUTERS = ("django_tenants.routers.TenantSyncRouter",)

MIDDLEWARE = [
    # Outermost: any error on an API path, Django's own pages included, becomes the JSON error body.
    "apps.core.api_errors.ApiErrorsMiddleware",
    "apps.core.middleware.RequestMetricsMiddleware",
    # Before routing: a CORS preflight carries no key and must not be refused as unauthenticated.
    "corsheaders.middleware.CorsMiddleware",
    "apps.tenancy.middleware.TenantRoutingMiddleware",
    "apps.core.api_errors.TrailingSlashMiddleware",
    "apps.insights.budget.QueryBudgetMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
    # Last: who is acting (key, console user, platform) and from where, for the audit log.
    "apps.governance.middleware.AuditContextMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "analytics_project.wsgi.application"
ASGI_APPLICATION = "analytics_project.asgi.application"

# --- Data stores -------------------------------------------------------------------------------

DATABASES = {"default": env.database_url("DATABASE_URL")}
DATABASES["default"]["ENGINE"] = "apps.core.postgresql_backend"
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("DATABASE_CONN_HEALTH_CHECKS", default=False)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.redis_url("REDIS_URL")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        # Cache keys carry the schema, so one tenant's entries are never served to another.
        "KEY_FUNCTION": "django_tenants.cache.make_key",
        "REVERSE_KEY_FUNCTION": "django_tenants.cache.reverse_key",
        "KEY_PREFIX": "cache",
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
}

# --- Celery ------------------------------------------------------------------------------------

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 600
CELERY_TASK_SOFT_TIME_LIMIT = 540
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_TIMEZONE = "UTC"

# --- Auth, i18n, static ------------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=VAR_DIR / "static")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Outside production, whitenoise serves straight from the apps' static folders (no collectstatic).
WHITENOISE_USE_FINDERS = ENVIRONMENT != "production"
WHITENOISE_AUTOREFRESH = DEBUG

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", default=False) else None
# Production is served over TLS (at the proxy): cookies only over HTTPS, and browsers told to keep
# to HTTPS (HSTS, sent on HTTPS responses). SECURE_COOKIES=false only for a plain-HTTP trial.
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=ENVIRONMENT == "production")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600, minimum=300)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if ENVIRONMENT == "production" else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Console logins: after ADMIN_LOGIN_FAILURE_LIMIT failures for one username (per tenant) from one
# address, that pair is refused (429) for ADMIN_LOGIN_COOLOFF_MINUTES.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_HANDLER = "apps.core.admin_sites.LoginLimitsHandler"  # Redis counts, failing open
AXES_FAILURE_LIMIT = env.int("ADMIN_LOGIN_FAILURE_LIMIT", default=5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("ADMIN_LOGIN_COOLOFF_MINUTES", default=15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_CALLABLE = "apps.core.admin_sites.login_username"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
# Behind the TLS proxy the client's address is the last one it added to X-Forwarded-For.
AXES_IPWARE_PROXY_COUNT = 1 if SECURE_PROXY_SSL_HEADER else None
AXES_IPWARE_META_PRECEDENCE_ORDER = (["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if SECURE_PROXY_SSL_HEADER
                                     else ["REMOTE_ADDR"])

# --- Email -------------------------------------------------------------------------------------

# EMAIL_URL: smtp://user:password@host:25, smtps://…:587 (STARTTLS), smtp+ssl://…:465 (TLS), or
# consolemail://; user and password URL-encoded. Without it,
# development (`make run`) writes every message to var/mail/ as an .eml file.
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
elif ENVIRONMENT == "development":
    EMAIL_BACKEND = "apps.reports.mail.EmlDirectoryBackend"
    EMAIL_FILE_PATH = str(VAR_DIR / "mail")
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30, minimum=1)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default=f"reports@{BASE_DOMAIN}")

# --- REST API ----------------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "apps.core.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
    # `?format=` belongs to the export endpoint (csv|jsonl|parquet), not to DRF's renderer choice.
    "URL_FORMAT_OVERRIDE": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Analytics API",
    "DESCRIPTION": "Events, insights, metrics, segments, dashboards and reports, per tenant.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"MetricTypeEnum": "apps.metrics.models.Metric.Type",
                            "ApiKeyKindEnum": "apps.tenancy.models.ApiKey.Kind",
                            "PrivacyJobKindEnum": "apps.governance.models.privacy.PrivacyJob.Kind",
                            "PrivacyJobStateEnum": "apps.governance.models.privacy.PrivacyJob.State",
                            "AlertConditionEnum": "apps.alerts.models.AlertRule.Condition",
                            "AlertStateEnum": "apps.alerts.models.AlertRule.State"},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "apps.events.api.openapi.add_ingestion_paths",
        "apps.metrics.api.openapi.add_typed_track_paths",
        "apps.insights.openapi.add_query_spec",
        # Last: the error body, and the error statuses of every operation (ingestion's included).
        "apps.core.openapi.add_error_responses",
    ],
}

# --- Project -----------------------------------------------------------------------------------

# Ingestion (DESIGN §4): limits per event, per body and per batch; per-key requests per second.
INGEST_MAX_EVENT_BYTES = env.int("INGEST_MAX_EVENT_BYTES", default=32 * 1024, minimum=1024)
INGEST_MAX_BODY_BYTES = env.int("INGEST_MAX_BODY_BYTES", default=500 * 1024, minimum=1024)
INGEST_MAX_BATCH_EVENTS = env.int("INGEST_MAX_BATCH_EVENTS", default=1000, minimum=1)
INGEST_RATE_LIMIT_PER_SECOND = env.int("INGEST_RATE_LIMIT_PER_SECOND", default=2000, minimum=1)
# How long accepted message ids are remembered for de-duplication of retries.
EVENT_DEDUPE_DAYS = env.int("EVENT_DEDUPE_DAYS", default=30, minimum=1)
# Monthly partitions are created this many months ahead.
EVENT_PARTITIONS_AHEAD = env.int("EVENT_PARTITIONS_AHEAD", default=3, minimum=1)
# Metric values may be stamped at most this far in the future (clock skew of the sender).
# The most series (combinations of dimension values) one metric may have; a value that would start
# another is refused with its reason.
METRIC_MAX_SERIES = env.int("METRIC_MAX_SERIES", default=10000, minimum=1)
METRIC_MAX_FUTURE_SECONDS = env.int("METRIC_MAX_FUTURE_SECONDS", default=86400, minimum=0)
# Metric aggregations over ranges longer than this read rollups (percentiles then within 1%).
METRIC_ROLLUP_AFTER_HOURS = env.int("METRIC_ROLLUP_AFTER_HOURS", default=48, minimum=0)
# Segment refreshes: the time limit of one (beat), and of the one run right after a rule change
# (past it, a task finishes the refresh).
SEGMENT_REFRESH_TIMEOUT_MS = env.int("SEGMENT_REFRESH_TIMEOUT_MS", default=120000, minimum=100)
SEGMENT_REFRESH_INLINE_MS = env.int("SEGMENT_REFRESH_INLINE_MS", default=5000, minimum=100)
# Reports: attempts of a run before it fails (SMTP errors, timeouts), the first retry's delay in
# seconds (doubled at each attempt), and how long a worker holds a run before another may take it
# over (a worker that died mid-run).
REPORT_MAX_ATTEMPTS = env.int("REPORT_MAX_ATTEMPTS", default=4, minimum=1)
REPORT_RETRY_SECONDS = env.int("REPORT_RETRY_SECONDS", default=60, minimum=1)
REPORT_RUN_LEASE_SECONDS = env.int("REPORT_RUN_LEASE_SECONDS", default=900, minimum=5)
# How often beat looks for due reports: 0 means every minute at :00 (a 09:00 report leaves at
# 09:00:00); a number of seconds otherwise.
REPORTS_DISPATCH_EVERY_SECONDS = env.int("REPORTS_DISPATCH_EVERY_SECONDS", default=0, minimum=0)
# Alerts (docs/alerts.md): how often beat looks for rules due a check; the longest a rule waits
# between two checks (a rule is checked every min(its period, this)); the attempts of a delivery
# (email or webhook) and the first retry's delay (doubled at each attempt); how long an attempt
# holds a delivery before another may take it over; the webhook's time limit; the hosts a webhook
# may reach over plain http or at a private, loopback or link-local address (comma-separated).
ALERTS_CHECK_EVERY_SECONDS = env.int("ALERTS_CHECK_EVERY_SECONDS", default=60, minimum=1)
ALERTS_RULE_CHECK_MAX_SECONDS = env.int("ALERTS_RULE_CHECK_MAX_SECONDS", default=300, minimum=1)
ALERTS_DELIVERY_MAX_ATTEMPTS = env.int("ALERTS_DELIVERY_MAX_ATTEMPTS", default=3, minimum=1)
ALERTS_RETRY_SECONDS = env.int("ALERTS_RETRY_SECONDS", default=30, minimum=1)
ALERTS_DELIVERY_LEASE_SECONDS = env.int("ALERTS_DELIVERY_LEASE_SECONDS", default=600, minimum=5)
ALERTS_WEBHOOK_TIMEOUT_SECONDS = env.int("ALERTS_WEBHOOK_TIMEOUT_SECONDS", default=5, minimum=1)
ALERTS_WEBHOOK_ALLOWED_HOSTS = [host.strip().lower() for host in env.list("ALERTS_WEBHOOK_ALLOWED_HOSTS", default=[])
                                if host.strip()]
# Connections one roll-up run uses at once (each rolls a chunk of metric-days in numpy).
# (The seed's PROCESSING_MAX_WORKERS sets it too, when METRIC_ROLLUP_WORKERS is not set.)
METRIC_ROLLUP_WORKERS = env.int("METRIC_ROLLUP_WORKERS", default=env.int("PROCESSING_MAX_WORKERS", default=2,
                                                                        minimum=1), minimum=1)
# Query engine: the most buckets one trends query may have; how long answers are cached (a range
# reaching now is never served staler than QUERY_CACHE_TTL_NOW seconds).
QUERY_MAX_BUCKETS = env.int("QUERY_MAX_BUCKETS", default=5000, minimum=10)
QUERY_CACHE_TTL_NOW = env.int("QUERY_CACHE_TTL_NOW", default=60, minimum=0)
# (The seed's CACHE_DEFAULT_TTL sets it too, when QUERY_CACHE_TTL_PAST is not set.)
QUERY_CACHE_TTL_PAST = env.int("QUERY_CACHE_TTL_PAST", default=env.int("CACHE_DEFAULT_TTL", default=86400,
                                                                      minimum=0), minimum=0)
# The seed's switch: false answers every query from PostgreSQL (nothing read from or written to
# the cache).
ENABLE_QUERY_CACHE = env.bool("ENABLE_QUERY_CACHE", default=True)
# The seed's switch for the live view: false keeps no real-time counters at ingestion (one Redis
# round trip a batch saved) and GET /api/v1/realtime answers 404 `realtime_disabled`.
ENABLE_REAL_TIME = env.bool("ENABLE_REAL_TIME", default=True)
# Memory one sort or hash of a query may use, in MB (PostgreSQL's work_mem, for queries only):
# enough to group a 90-day question in memory instead of sorting on disk.
QUERY_WORK_MEM_MB = env.int("QUERY_WORK_MEM_MB", default=128, minimum=4)
# The longest a query may run, in milliseconds; beyond it the answer is a 503 (`query_timeout`).
QUERY_TIMEOUT_MS = env.int("QUERY_TIMEOUT_MS", default=60000, minimum=1)
# All the query work of one request (every series, every widget of a dashboard) shares this many
# milliseconds; a statement that would start past it is refused (503 `query_timeout`).
QUERY_REQUEST_BUDGET_MS = env.int("QUERY_REQUEST_BUDGET_MS", default=60000, minimum=100)
# Queries that reach PostgreSQL at once for one tenant (cache hits never wait); one more is a 429.
QUERY_CONCURRENCY_PER_TENANT = env.int("QUERY_CONCURRENCY_PER_TENANT", default=4, minimum=0)
# Query, aggregate and dashboard-data requests one key may make per minute (0: no limit).
QUERY_RATE_LIMIT_PER_MINUTE = env.int("QUERY_RATE_LIMIT_PER_MINUTE", default=600, minimum=0)
# The longest range a funnel, events or metric query may cover, in days (trends are bounded by
# QUERY_MAX_BUCKETS, retention by its periods).
QUERY_MAX_RANGE_DAYS = env.int("QUERY_MAX_RANGE_DAYS", default=3660, minimum=1)
# A shared dashboard's public page is served from its last computed data; data older than this
# (seconds) is refreshed by a worker while visitors still get it.
SHARE_PAGE_REFRESH_SECONDS = env.int("SHARE_PAGE_REFRESH_SECONDS", default=300, minimum=0)
# Django refuses larger bodies before the ingestion views see them; leave room for their own 413.
DATA_UPLOAD_MAX_MEMORY_SIZE = INGEST_MAX_BODY_BYTES + 1024

# Browser clients send events from any origin; nothing else is cross-origin.
CORS_URLS_REGEX = r"^/(v1/|api/v1/events/(track|batch|track/batch)/?$|batch/?$|capture/?$|e/)"
CORS_ALLOW_ALL_ORIGINS = True
CORS_ALLOW_HEADERS = ["authorization", "content-type", "content-encoding"]

# API keys: how often a process reports a key's use to Redis, and beat copies it to the database.
API_KEY_LAST_USED_RESOLUTION_SECONDS = env.int("API_KEY_LAST_USED_RESOLUTION_SECONDS", default=60)
# How long a process reuses a resolved API key (and its tenant's settings) without reading the
# database; a revocation reaches other processes within this time. 0 turns the cache off.
API_KEY_CACHE_SECONDS = env.int("API_KEY_CACHE_SECONDS", default=5)

# Tracking plan: how many offending events are kept per event name and kind of violation.
TRACKING_PLAN_SAMPLES = env.int("TRACKING_PLAN_SAMPLES", default=20, minimum=1)
# BI credentials (apps/governance/bi): where BI tools connect, as shown to them. Empty: the
# application's own database (DATABASE_URL's host, port and name). The application's database
# user needs CREATEROLE to issue them (and pg_signal_backend to end a revoked role's sessions).
BI_DATABASE_HOST = env.str("BI_DATABASE_HOST", default="")
BI_DATABASE_PORT = env.int("BI_DATABASE_PORT", default=0)
BI_DATABASE_NAME = env.str("BI_DATABASE_NAME", default="")
BI_DATABASE_SSLMODE = env.choice("BI_DATABASE_SSLMODE", ("disable", "allow", "prefer", "require", "verify-ca",
                                                         "verify-full"), default="prefer")

# Prometheus' scrape at /metrics: with a token, only `Authorization: Bearer <token>` is served;
# without one, requests that came through a proxy (X-Forwarded-For) are refused.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

# Privacy jobs (apps.governance): days a person's export can be downloaded before it is deleted; the
# largest export file (bytes; a larger one fails the job); minutes after which a job still queued or
# running is taken as lost and queued again.
PRIVACY_EXPORT_TTL_DAYS = env.int("PRIVACY_EXPORT_TTL_DAYS", default=7, minimum=1)
PRIVACY_EXPORT_MAX_BYTES = env.int("PRIVACY_EXPORT_MAX_BYTES", default=256 * 1024 * 1024, minimum=1024)
PRIVACY_JOB_STUCK_MINUTES = env.int("PRIVACY_JOB_STUCK_MINUTES", default=90, minimum=1)
# The audit log (apps.governance): entries older than this are purged by beat, and only those can
# be deleted at all (the table's trigger refuses the rest). At least 30 days.
AUDIT_LOG_RETENTION_DAYS = env.int("AUDIT_LOG_RETENTION_DAYS", default=400, minimum=30)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # Share and unsubscribe tokens are in their paths, which Django's request log writes out.
    "filters": {"redact_secret_paths": {"()": "apps.core.logs.RedactSecretPaths"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain",
                             "filters": ["redact_secret_paths"]}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

"""Django settings, all from the environment (a ``.env`` file is read if present).

Unset store URLs mean "zero config": :mod:`backend.embedded` starts or reuses the
embedded PostgreSQL and Redis and exports their URLs before anything connects.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import environ
from psycopg.conninfo import conninfo_to_dict

from backend import embedded

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)
embedded.ensure_services(BASE_DIR)


def _database(url: str) -> dict:
    params = conninfo_to_dict(url)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": params.pop("dbname", ""),
        "USER": params.pop("user", ""),
        "PASSWORD": params.pop("password", ""),
        "HOST": params.pop("host", ""),
        "PORT": params.pop("port", ""),
        "OPTIONS": params,
        "CONN_MAX_AGE": env.int("DB_CONN_MAX_AGE", default=60),
        "CONN_HEALTH_CHECKS": True,
    }


def celery_redis_url(url: str) -> str:
    """Celery (kombu) spells a Unix socket "redis+socket:///path?virtual_host=<db>", where redis-py
    spells it "unix:///path?db=<db>"; other Redis URLs read the same to both."""
    if not url.startswith("unix://"):
        return url
    parts = urlsplit(url)
    database = parse_qs(parts.query).get("db", ["0"])[0]
    return f"redis+socket://{parts.path}?virtual_host={database}"


DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY", default="")
if not SECRET_KEY:
    # A per-checkout key kept under .data/ so sessions survive restarts without a secret in git.
    key_file = embedded.data_dir(BASE_DIR) / "secret_key"
    if not key_file.exists():
        import secrets

        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    SECRET_KEY = key_file.read_text().strip()
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "simple_history",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served from here (no CDN)
    "backend.pipelines",
    "backend.runs",
    "dagster_code",  # management commands only (load_file); Django never imports Dagster otherwise
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
]

ROOT_URLCONF = "backend.urls"
WSGI_APPLICATION = "backend.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "frontend_templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "backend.context_processors.launchpad_links",
            ],
        },
    },
]

DATABASES = {"default": _database(env("DATABASE_URL"))}
WAREHOUSE_URL = env("WAREHOUSE_URL")
DAGSTER_PG_URL = env("DAGSTER_PG_URL")
REDIS_URL = env("REDIS_URL")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "frontend_templates" / "static"]
STATIC_ROOT = embedded.data_dir(BASE_DIR) / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
LOGIN_URL = "login"

# REST API (/api/): a login (session, CSRF enforced) or a token is needed everywhere; lists are
# filtered by the user's grants in each view's queryset.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",  # first, so anonymous calls get 401 + WWW-Authenticate
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "backend.api.pagination.Pages",
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env("LAUNCHPAD_API_ANON_RATE", default="60/min"),
        "user": env("LAUNCHPAD_API_USER_RATE", default="1200/min"),
    },
    "EXCEPTION_HANDLER": "backend.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Launchpad API",
    "DESCRIPTION": "Pipelines, rules, runs and their logs. Authenticate with a session (CSRF token on writes) "
    "or `Authorization: Token <key>` (an administrator creates and revokes tokens in admin).",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/",
}
LOGIN_REDIRECT_URL = "runs:dashboard"
LOGOUT_REDIRECT_URL = "login"

# Orchestrator endpoints: the writable webserver is reached by Django only; users get the read-only UI.
DAGSTER_GRAPHQL_URL = env("DAGSTER_GRAPHQL_URL", default="http://127.0.0.1:3000/graphql")
DAGSTER_UI_URL = env("DAGSTER_UI_URL", default="http://127.0.0.1:3001")  # the read-only webserver
STREAMLIT_URL = env("STREAMLIT_URL", default="http://127.0.0.1:8501")
OPENAI_API_KEY_ENV_VAR = "OPENAI_API_KEY"  # resolved on use; never stored in settings

# Celery: short broker timeouts so an outage is a clear error in seconds, not a hung request.
CELERY_BROKER_URL = CELERY_RESULT_BACKEND = celery_redis_url(REDIS_URL)
CELERY_BROKER_CONNECTION_TIMEOUT = 5
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600, "socket_timeout": 5, "socket_connect_timeout": 5}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE = {
    "sync-import-runs": {"task": "backend.runs.tasks.sync_import_runs", "schedule": 2.0, "options": {"expires": 10}},
}
LAUNCHPAD_RELOAD_ON_SAVE = env.bool("LAUNCHPAD_RELOAD_ON_SAVE", default=True)
LAUNCHPAD_PREFLIGHT_MAX_MB = env.int("LAUNCHPAD_PREFLIGHT_MAX_MB", default=200)  # largest file "Check a file" takes
# Analytics hub: warehouse schemas its read-only role may read besides those of configured tables; the role's name;
# limits on every query run from user or model input.
LAUNCHPAD_HUB_EXTRA_SCHEMAS = env.list("LAUNCHPAD_HUB_EXTRA_SCHEMAS", default=[])
LAUNCHPAD_HUB_READER_ROLE = env("LAUNCHPAD_HUB_READER_ROLE", default="launchpad_hub_reader")
LAUNCHPAD_HUB_MAX_ROWS = env.int("LAUNCHPAD_HUB_MAX_ROWS", default=5000)
LAUNCHPAD_HUB_TIMEOUT_S = env.float("LAUNCHPAD_HUB_TIMEOUT_S", default=10.0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
}

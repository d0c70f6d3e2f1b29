"""Django settings, all read from the environment through django-environ.

Every option can be set as an environment variable or in a `.env` file next
to manage.py. The scheduler's options are `SCHEDULER_<OPTION>` with Luigi's
`[scheduler]` option names upper-cased; see `scheduler/conf.py` for the list
and the defaults (Luigi's).
"""

import sys
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

_DEV_SECRET_KEY = "django-insecure-development-only-key-do-not-use-in-production"
SECRET_KEY = env.str("SECRET_KEY", default="") or (_DEV_SECRET_KEY if DEBUG else "")
if not SECRET_KEY:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "SECRET_KEY is not set. Set the SECRET_KEY environment variable "
        "(or DEBUG=true for a development-only default)."
    )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])

INSTALLED_APPS = [
    # workers first: its `runworker` command must win over the one channels ships.
    # "daphne" is not an app here: its app imports Twisted into every process (runworker,
    # migrate, ...); `runscheduler` and the `daphne` command load it where they serve.
    "workers",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "corsheaders",
    "django_q",
    "scheduler",
    "history",
    "visualiser",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "scheduler.middleware.BodySizeLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "scheduler.middleware.DatabaseUnavailableMiddleware",
    "scheduler.middleware.RejectNulMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "scheduler.middleware.ViewerRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "pipelines_project.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
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

WSGI_APPLICATION = "pipelines_project.wsgi.application"
ASGI_APPLICATION = "pipelines_project.asgi.application"

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'pipelines.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the one writer; IMMEDIATE transactions take the
    # write lock up front, so concurrent writers wait (busy timeout) instead of
    # failing half-way with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": env.float("SQLITE_BUSY_TIMEOUT", default=30.0),
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
# Under ASGI every Django request runs in a thread of its own, so persistent
# connections would pile up (Django's advice: CONN_MAX_AGE=0 under ASGI, and pool).
# PostgreSQL connections come from psycopg's pool; the Luigi protocol's fast path
# (scheduler.asgi) keeps its one connection open itself.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# django-q2's qcluster forks its worker processes after connections exist, and a
# psycopg pool is not fork-safe (children would share its sockets): no pool there.
_QCLUSTER = sys.argv[1:2] == ["qcluster"]
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env.bool(
    "DATABASE_POOL", default=not _QCLUSTER
):
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DATABASE_POOL_MIN", default=1),
        "max_size": env.int("DATABASE_POOL_MAX", default=10),
        "timeout": env.float("DATABASE_POOL_TIMEOUT", default=10.0),
    }
# Server-side binding with prepared statements: psycopg prepares a statement the
# second time a connection runs it, so PostgreSQL parses and plans each of the
# scheduler's statements once per connection instead of on every call (planning,
# with the task table's indexes, cost more than running most of them).
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env.bool(
    "DATABASE_PREPARED_STATEMENTS", default=True
):
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        server_side_binding=True,
        prepare_threshold=env.int("DATABASE_PREPARE_THRESHOLD", default=2),
    )
# Pipeline mode (scheduler.service.pipelining): the hot operations send the
# statements whose results they do not read without waiting for each. Off for a
# connection pooler or proxy that does not support the extended protocol's pipelining.
SCHEDULER_DATABASE_PIPELINE = env.bool("DATABASE_PIPELINE", default=True)
# PostgreSQL: a registration's COMMIT (add_task PENDING, add_tasks of PENDING tasks)
# does not wait for its WAL to reach the disk (synchronous_commit off for that
# transaction; see scheduler.service.pipelining.commit_without_flush).
SCHEDULER_ASYNC_REGISTRATION_COMMIT = env.bool("DATABASE_ASYNC_REGISTRATION_COMMIT", default=True)
# PostgreSQL's JIT compiles a query whose estimated cost is high; the recursive
# queries behind the UPSTREAM_* statuses are estimated far above what they cost (a
# few ms) and JIT would add hundreds of ms to each. Short OLTP queries never gain.
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and not env.bool(
    "DATABASE_JIT", default=False
):
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("options", "-c jit=off")

# Threads answering Luigi's protocol (scheduler.asgi) in each server process: calls
# wait on the database most of the time, so on PostgreSQL several run at once. Keep
# it below DATABASE_POOL_MAX: each thread holds one connection.
PROTOCOL_THREADS = env.int(
    "PROTOCOL_THREADS",
    default=4 if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" else 1,
)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "staticfiles")))
# WhiteNoise serves from the finders (no collectstatic needed for the embedded
# default) but expects STATIC_ROOT to exist; the SQLite default lives in var/ too.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # redis-py 8 reads with a 5 s socket timeout by default, which cuts the
            # layer's 5 s blocking pops short (channels_redis#422): allow longer.
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 15}]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Live updates (visualiser.feed): seconds between reads of the StatusEvent outbox,
# and how long a gap in its ids (a PostgreSQL transaction not yet committed) is
# waited for before later events go out.
LIVE_POLL_INTERVAL = env.float("LIVE_POLL_INTERVAL", default=0.1)
LIVE_GAP_GRACE = env.float("LIVE_GAP_GRACE", default=1.0)

# Luigi's add_task payloads list every dependency; allow large ones, refuse beyond.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=32 * 1024 * 1024)
# Largest WebSocket message runscheduler sends or accepts (daphne's own default, 1 MiB,
# holds the snapshot of about 2,000 tasks); a larger snapshot goes out as its task count.
LIVE_MAX_MESSAGE_SIZE = env.int("LIVE_MAX_MESSAGE_SIZE", default=32 * 1024 * 1024)

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # API tokens (Bearer, or Basic with the token as password) first: its Basic
    # challenge makes missing credentials a 401. Sessions (with CSRF) for browsers.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "scheduler.auth.drf.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["scheduler.permissions.ReadOrOperate"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # REST API: one error shape ({"error", "detail"}) and page-number pagination everywhere.
    "EXCEPTION_HANDLER": "scheduler.api.errors.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "scheduler.api.pagination.ApiPagination",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Pipelines scheduler API",
    "DESCRIPTION": "REST API of the Luigi-compatible scheduler (Luigi's own protocol is at "
    "/api/<method>).",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # UI assets from the drf-spectacular-sidecar package: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "scheduler.api.schema.add_error_responses",
    ],
}

Q_CLUSTER = {
    "name": "pipelines",
    "orm": "default",
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": env.int("Q_TIMEOUT", default=3600),
    "retry": env.int("Q_TIMEOUT", default=3600) + 100,
    # A schedule missed while the cluster was down fires once when it is back
    # (PipelineSchedule's missed-run policy then runs or skips it).
    "catch_up": False,
    # Seconds between the cluster's health checks; its scheduler runs every 30 s
    # (and at start when this is 30 or more).
    "guard_cycle": env.float("Q_GUARD_CYCLE", default=0.5),
}

# Pipeline runs and schedules (workers.conf has every option and its default).
# Modules whose pipelines may be run over the REST API or on a schedule.
PIPELINES_ALLOWED_MODULES = env.list("PIPELINES_ALLOWED_MODULES", default=["examples.daily"])
# Schedules defined here are kept in step with the database on migrate, e.g.
# {"name": "daily report", "module": "examples.daily", "family": "DailyReport",
#  "params": {"date": "2026-11-21"}, "cron": "0 2 * * *", "missed": "run_once"}
PIPELINES_SCHEDULES: list[dict] = []

# Scheduler options: SCHEDULER_<OPTION> environment variables, Luigi's
# [scheduler] option names upper-cased. Only the ones set are collected here;
# scheduler.conf fills in Luigi's defaults and the luigi.cfg values.
SCHEDULER = {
    key.removeprefix("SCHEDULER_").lower(): value
    for key, value in env.ENVIRON.items()
    if key.startswith("SCHEDULER_")
}

# Authentication and roles (scheduler.auth, README "Authentication and roles").
# SCHEDULER_AUTH: tokens or a session needed for /api/ and the pages; off, the
# Luigi protocol is open as luigid's (runscheduler then stays on loopback).
SCHEDULER_AUTH = env.bool("SCHEDULER_AUTH", default=False)
# Reads without credentials; unset: on with auth off, and with auth on only while
# runscheduler listens on loopback or a unix socket.
SCHEDULER_ANONYMOUS_READ = env.bool("SCHEDULER_ANONYMOUS_READ", default=None)
# /metrics without credentials (e.g. a Prometheus on a private network).
SCHEDULER_METRICS_PUBLIC = env.bool("SCHEDULER_METRICS_PUBLIC", default=False)
LOGIN_URL = env.str("LOGIN_URL", default="/admin/login/")
# CORS for /api/ (django-cors-headers): origins allowed to call it from a browser.
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/api/.*$"
CORS_ALLOW_CREDENTIALS = env.bool("CORS_ALLOW_CREDENTIALS", default=False)

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

"""A minimal host site that embeds the pipelines apps (the embedding test leg).

It has its own auth pages, its own templates and its own app literally named
``history`` (label, tables, URL namespace and templates all "history"), and
mounts the pipelines under /pipelines/. What it adds for the pipelines is only
what the README's embedding section asks for: the apps in INSTALLED_APPS, one
``include("pipelines_project.embed_urls")``, and ``migrate``. Every pipelines
setting keeps its documented default.
"""

from pathlib import Path

import environ

HERE = Path(__file__).resolve().parent
VAR_DIR = HERE.parents[1] / "var"
VAR_DIR.mkdir(exist_ok=True)

env = environ.Env()

SECRET_KEY = "embedded-host-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # the host's own app called "history"
    "tests.embedded_host.history",
    # the pipelines
    "workers",
    "rest_framework",
    "django_q",
    "scheduler",
    "history",
    "visualiser",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "tests.embedded_host.urls"
LOGIN_URL = "login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [HERE / "templates"],
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

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'embedded-host.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-embedded-host.sqlite3")}
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 30

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "static/"

# django-q2 with its ORM broker (no extra service): the one setting the
# pipelines need from a host besides INSTALLED_APPS (README: embedding).
Q_CLUSTER = {"name": "host", "orm": "default", "timeout": 3600, "retry": 3700}

# Optional: the OpenAPI schema and docs at <prefix>api/v1/schema/ and .../docs/
# (drf-spectacular, UI assets from its sidecar package).
INSTALLED_APPS += ["drf_spectacular", "drf_spectacular_sidecar"]
REST_FRAMEWORK = {"DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema"}
SPECTACULAR_SETTINGS = {
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The error shape, 401/403 and anonymous reads, documented on every operation.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "scheduler.api.schema.add_error_responses",
    ],
}

"""Settings of pipeline runs and schedules, read lazily with documented defaults.

A host project needs none of them; each is read with ``getattr`` when used.

``PIPELINES_ALLOWED_MODULES`` (default ``[]``: nothing may be run over the API)
    Modules whose pipelines may be run on demand or on a schedule. An entry allows
    that module and its submodules (``"examples"`` allows ``examples.daily``).
``PIPELINES_SCHEDULES`` (default ``[]``)
    Schedules defined in settings, kept in step with the database on ``migrate``:
    ``{"name", "module", "family", "params", "workers", "cron" or
    "interval_minutes", "missed": "run_once" | "skip", "enabled"}``.
``PIPELINES_SCHEDULE_GRACE`` (default 300 seconds)
    How late a firing may be and still count as on time; later ones are missed
    runs, run once or skipped by the schedule's policy.
``PIPELINES_RUN_MAX_WORKERS`` (default 16)
    The most child processes a run may ask for.
``PIPELINES_RUN_TIMEOUT`` (default: django-q2's ``timeout`` minus 60 s, else none)
    Seconds a run may take before ``runworker`` is stopped (SIGTERM, then SIGKILL).
``PIPELINES_RUN_LOG_CHARS`` (default 20000)
    How much of the end of ``runworker``'s output a run keeps.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings


def allowed_modules() -> list[str]:
    value = getattr(settings, "PIPELINES_ALLOWED_MODULES", None) or []
    if isinstance(value, str):
        value = value.split(",")
    return [name.strip() for name in value if name and name.strip()]


def is_allowed(module: str) -> bool:
    return any(module == name or module.startswith(name + ".") for name in allowed_modules())


def settings_schedules() -> list[dict[str, Any]]:
    return list(getattr(settings, "PIPELINES_SCHEDULES", None) or [])


def schedule_grace() -> float:
    return float(getattr(settings, "PIPELINES_SCHEDULE_GRACE", 300))


def max_workers() -> int:
    return int(getattr(settings, "PIPELINES_RUN_MAX_WORKERS", 16))


def run_timeout() -> float | None:
    configured = getattr(settings, "PIPELINES_RUN_TIMEOUT", None)
    if configured:
        return float(configured)
    q_timeout = (getattr(settings, "Q_CLUSTER", None) or {}).get("timeout")
    return max(float(q_timeout) - 60, 60.0) if q_timeout else None


def log_chars() -> int:
    return int(getattr(settings, "PIPELINES_RUN_LOG_CHARS", 20000))

"""System checks: misconfiguration fails `manage.py check` with a stable id."""

from __future__ import annotations

from django.core.checks import Error, register

from . import luigi_config
from .conf import build_config


@register()
def scheduler_configuration(app_configs=None, **kwargs) -> list[Error]:
    try:
        luigi_config.load()
    except luigi_config.ConfigFileError as exc:
        return [
            Error(
                str(exc),
                hint="Fix the file named by LUIGI_CONFIG_PATH (or luigi.cfg in the working "
                "directory).",
                id="scheduler.E002",
            )
        ]
    try:
        config = build_config()
    except ValueError as exc:
        return [
            Error(
                str(exc),
                hint="Scheduler options come from SCHEDULER_<OPTION> environment variables "
                "and the [scheduler] section of luigi.cfg.",
                id="scheduler.E001",
            )
        ]
    errors = []
    for name in ("worker_disconnect_delay", "prune_interval", "remove_delay"):
        if getattr(config, name) < 0:
            errors.append(
                Error(f"scheduler option {name!r} must not be negative", id="scheduler.E003")
            )
    for name, amount in config.resources:
        if amount < 0:
            errors.append(
                Error(f"resource {name!r} has a negative capacity {amount}", id="scheduler.E004")
            )
    return errors

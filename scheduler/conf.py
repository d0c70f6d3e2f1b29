"""The scheduler's options: Luigi's ``[scheduler]`` names and defaults.

Resolution order for each option, first match wins:

1. Django setting ``SCHEDULER`` (a dict; settings.py fills it from the
   ``SCHEDULER_<OPTION>`` environment variables),
2. the ``[scheduler]`` section of a Luigi config file (``scheduler.luigi_config``),
3. Luigi's default.

Resource capacities come from ``[resources]`` in the Luigi config and from
``SCHEDULER_RESOURCES`` (``name=amount,name=amount``); the database copy
(editable at run time) wins once a resource has been updated.

Nothing is read at import time: ``get_config()`` builds the object on first use
and ``reset()`` drops it (tests, setting changes).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed

from . import luigi_config


@dataclass(frozen=True)
class SchedulerConfig:
    retry_delay: float = 900.0
    remove_delay: float = 600.0
    worker_disconnect_delay: float = 60.0
    disable_window: float = 3600.0
    retry_count: int = 999999999
    disable_hard_timeout: float = 999999999.0
    disable_persist: float = 86400.0
    max_shown_tasks: int = 100000
    max_graph_nodes: int = 100000
    record_task_history: bool = True
    prune_on_get_work: bool = False
    pause_enabled: bool = True
    send_messages: bool = True
    stable_done_cooldown_secs: float = 10.0
    # Seconds between maintenance passes run lazily by the read/write paths.
    prune_interval: float = 60.0
    history_retention_days: int = 90
    # Seconds the StatusEvent outbox keeps changes for live views to catch up on.
    event_retention: float = 86400.0
    resources: tuple[tuple[str, int], ...] = ()

    @property
    def resource_limits(self) -> dict[str, int]:
        return dict(self.resources)


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _coerce(name: str, kind: type, value: Any) -> Any:
    if kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError(f"scheduler option {name!r}: expected true or false, got {value!r}")
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ValueError(
            f"scheduler option {name!r}: expected {kind.__name__}, got {value!r}"
        ) from None


def _parse_resources(text: str) -> dict[str, int]:
    result: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, amount = item.partition("=")
        result[name.strip()] = _coerce(f"resources.{name.strip()}", int, amount)
    return result


def build_config() -> SchedulerConfig:
    file_options = luigi_config.section("scheduler")
    overrides = {
        luigi_config.normalise(k): v for k, v in getattr(settings, "SCHEDULER", {}).items()
    }
    kinds = {f.name: f.type for f in fields(SchedulerConfig)}
    type_map = {"float": float, "int": int, "bool": bool}
    values: dict[str, Any] = {}
    for name, annotation in kinds.items():
        if name == "resources":
            continue
        kind = type_map[str(annotation)]
        for source in (overrides, file_options):
            if name in source:
                values[name] = _coerce(name, kind, source[name])
                break
    resources = {
        name: _coerce(f"resources.{name}", int, amount)
        for name, amount in luigi_config.section("resources").items()
    }
    if isinstance(overrides.get("resources"), str):
        resources.update(_parse_resources(overrides["resources"]))
    elif isinstance(overrides.get("resources"), dict):
        resources.update({k: int(v) for k, v in overrides["resources"].items()})
    values["resources"] = tuple(sorted(resources.items()))
    return SchedulerConfig(**values)


@lru_cache(maxsize=1)
def get_config() -> SchedulerConfig:
    return build_config()


def reset(**_: Any) -> None:
    get_config.cache_clear()
    luigi_config.clear_cache()


setting_changed.connect(reset)

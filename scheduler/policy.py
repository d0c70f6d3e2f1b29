"""Scheduling rules as plain functions: no database, no Django models.

The service module does the queries and locking around these decisions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .conf import SchedulerConfig
from .status import STATUS_TO_UPSTREAM, UPSTREAM_SEVERITY, Status

POLICY_KEYS = ("retry_count", "disable_hard_timeout", "disable_window")


@dataclass(frozen=True)
class RetryPolicy:
    retry_count: int
    disable_hard_timeout: float
    disable_window: float

    def as_dict(self) -> dict:
        return {
            "retry_count": self.retry_count,
            "disable_hard_timeout": self.disable_hard_timeout,
            "disable_window": self.disable_window,
        }


def retry_policy(config: SchedulerConfig, overrides: Mapping | None) -> RetryPolicy:
    """Scheduler defaults overridden by the non-null entries of a task's retry_policy_dict."""
    values = {key: getattr(config, key) for key in POLICY_KEYS}
    for key in POLICY_KEYS:
        if overrides and overrides.get(key) is not None:
            values[key] = overrides[key]
    return RetryPolicy(**values)


def record_failure(failures: list[float], now: float, window: float) -> list[float]:
    """The failure timestamps still inside the window, plus this one."""
    return [t for t in failures if t >= now - window] + [now]


def excessive_failures(
    failures: list[float], first_failure_time: float | None, now: float, policy: RetryPolicy
) -> bool:
    """Too many failures: disable instead of retrying."""
    if first_failure_time is not None and now >= first_failure_time + policy.disable_hard_timeout:
        return True
    recent = [t for t in failures if t >= now - policy.disable_window]
    return len(recent) >= policy.retry_count


def has_capacity(
    wanted: Mapping[str, int] | None,
    used: Mapping[str, int],
    capacity: Mapping[str, int],
) -> bool:
    """Every requested amount fits next to what is used; undeclared resources hold 1."""
    for name, amount in (wanted or {}).items():
        if amount + used.get(name, 0) > capacity.get(name, 1):
            return False
    return True


def add_amounts(total: dict[str, int], amounts: Mapping[str, int] | None) -> None:
    for name, amount in (amounts or {}).items():
        total[name] = total.get(name, 0) + amount


def upstream_contribution(status: str, has_deps: bool) -> str | None:
    """The label a dependency contributes by itself, or None if it must be
    evaluated through its own dependencies (a PENDING task that has some)."""
    if status == Status.DONE:
        return ""
    if status == Status.PENDING and has_deps:
        return None
    return STATUS_TO_UPSTREAM.get(status, "")


def most_severe(labels: Iterable[str]) -> str:
    best = ""
    for label in labels:
        if UPSTREAM_SEVERITY[label] > UPSTREAM_SEVERITY[best]:
            best = label
    return best


def task_id_family_guess(task_id: str) -> str:
    """Luigi's guess of a family from an id: the text before the first '_' or '('."""
    for i, ch in enumerate(task_id):
        if ch in "_(":
            return task_id[:i] or "UNKNOWN"
    return "UNKNOWN"


def parse_max_batch_size(value) -> int | None:
    """Luigi sends Infinity for 'no limit'; store that as None."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if number != number or number == float("inf") or number > 2**31:
        return None
    return max(1, int(number))

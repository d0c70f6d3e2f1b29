"""Task statuses: Luigi's wire strings, with the groups the scheduler reasons about."""

from __future__ import annotations

from django.db import models


class Status(models.TextChoices):
    # Wants to run: waiting for dependencies, resources or a worker.
    PENDING = "PENDING"
    # Handed to a worker (worker_running) by get_work.
    RUNNING = "RUNNING"
    # Member of a batch whose combined task is running.
    BATCH_RUNNING = "BATCH_RUNNING"
    # Complete; dependants may run.
    DONE = "DONE"
    # The last run failed; becomes PENDING again after retry_delay.
    FAILED = "FAILED"
    # Not to be run: too many failures (scheduler) or disabled by the task class (worker).
    DISABLED = "DISABLED"
    # Placeholder for a dependency not registered yet, or a task a worker could not check.
    UNKNOWN = "UNKNOWN"


# Statuses in which a worker holds the task.
ACTIVE = frozenset({Status.RUNNING, Status.BATCH_RUNNING})
# Statuses a worker may report through add_task; SUSPENDED is Luigi's legacy PENDING.
REPORTABLE = frozenset(
    {Status.PENDING, Status.RUNNING, Status.DONE, Status.FAILED, Status.DISABLED, Status.UNKNOWN}
)
LEGACY_ALIASES = {"SUSPENDED": Status.PENDING}


class Upstream(models.TextChoices):
    """Derived labels for PENDING tasks (never stored), in increasing severity."""

    RUNNING = "UPSTREAM_RUNNING"
    MISSING_INPUT = "UPSTREAM_MISSING_INPUT"
    FAILED = "UPSTREAM_FAILED"
    DISABLED = "UPSTREAM_DISABLED"


UPSTREAM_SEVERITY = {
    "": 0,
    Upstream.RUNNING: 1,
    Upstream.MISSING_INPUT: 2,
    Upstream.FAILED: 3,
    Upstream.DISABLED: 4,
}

# What a non-PENDING (or leaf PENDING) dependency contributes to its dependants.
STATUS_TO_UPSTREAM = {
    Status.FAILED: Upstream.FAILED,
    Status.RUNNING: Upstream.RUNNING,
    Status.BATCH_RUNNING: Upstream.RUNNING,
    Status.PENDING: Upstream.MISSING_INPUT,
    Status.DISABLED: Upstream.DISABLED,
}

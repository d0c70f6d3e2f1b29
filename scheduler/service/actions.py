"""Operator actions on one task or worker, for the REST API: the same service
functions as the Luigi methods and the admin's actions (so the same effects and
history records), after checking that the action applies to the current state.

The check and the action run in one transaction with the task row locked, so a
concurrent change cannot slip between them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import NotApplicable, NotFound
from ..models import Worker
from ..status import ACTIVE, Status
from .base import Ctx, lock_task, operation
from .operations import disable_task, forgive_failures, mark_as_done, re_enable_task
from .workers import disable_worker

TASK_ACTIONS = ("re_enable", "retry", "mark_done", "disable")

# Why an action does not apply (the 409's message).
RULES = {
    "re_enable": "only a task the scheduler disabled after too many failures can be re-enabled",
    "retry": "only a FAILED task, or one the scheduler disabled after too many failures, "
    "can be retried",
    "mark_done": "only a RUNNING, FAILED or DISABLED task can be marked done",
    "disable": "a running task or a disabled one cannot be disabled",
}


def applicable(status: str, scheduler_disabled: bool) -> dict[str, bool]:
    """Which operator actions change a task in this state (a pure rule).

    - re_enable: lifts a scheduler disable; the task becomes FAILED with a clean
      failure history and PENDING again after retry_delay (Luigi's re_enable_task).
    - retry: the task becomes PENDING at once, so the next get_work can hand it out:
      Luigi's forgive_failures for a FAILED task; a scheduler-disabled task is
      re-enabled first (re_enable_task, then forgive_failures).
    - mark_done: Luigi's mark_as_done (RUNNING, FAILED, DISABLED -> DONE).
    - disable: an operator disable, lifted by mark done or the next report of a worker.
    """
    return {
        "re_enable": status == Status.DISABLED and scheduler_disabled,
        "retry": status == Status.FAILED or (status == Status.DISABLED and scheduler_disabled),
        "mark_done": status in (Status.RUNNING, Status.FAILED, Status.DISABLED),
        "disable": status not in ACTIVE and status != Status.DISABLED,
    }


def _retry(ctx: Ctx, task_id: str, user: str | None, status: str) -> None:
    if status == Status.DISABLED:
        re_enable_task(ctx, task_id=task_id, user=user)
    forgive_failures(ctx, task_id=task_id, user=user)


_CALLS: dict[str, Callable[..., Any]] = {
    "re_enable": lambda ctx, task_id, user, status: re_enable_task(ctx, task_id=task_id, user=user),
    "retry": _retry,
    "mark_done": lambda ctx, task_id, user, status: mark_as_done(ctx, task_id=task_id, user=user),
    "disable": lambda ctx, task_id, user, status: disable_task(ctx, task_id=task_id, user=user),
}


@operation
def act_on_task(ctx: Ctx, action: str, task_id: str, *, user: str | None = None) -> None:
    """Apply one operator action; NotFound for an unknown task, NotApplicable (with the
    rule) when the action does not apply to the task's current status."""
    if action not in _CALLS:
        raise ValueError(f"unknown action {action!r}; expected one of {TASK_ACTIONS}")
    task = lock_task(task_id)
    if task is None:
        raise NotFound(f"no task with id {task_id!r}")
    if not applicable(task.status, task.scheduler_disable_time is not None)[action]:
        state = task.status
        if task.status == Status.DISABLED and task.scheduler_disable_time is None:
            state += " (disabled by a worker or an operator, not by the scheduler)"
        raise NotApplicable(
            f"cannot {action.replace('_', ' ')} task {task_id!r}: it is {state}; {RULES[action]}"
        )
    _CALLS[action](ctx, task_id, user, task.status)


@operation
def disable_worker_once(ctx: Ctx, worker_id: str) -> None:
    """Disable a known, enabled worker (Luigi's disable_worker would create an unknown one)."""
    worker = Worker.objects.select_for_update().filter(pk=worker_id).first()
    if worker is None:
        raise NotFound(f"no worker with id {worker_id!r}")
    if worker.disabled:
        raise NotApplicable(f"worker {worker_id!r} is already disabled")
    disable_worker(ctx, worker=worker_id)

"""The one function every status change goes through, and the bookkeeping around it.

``set_status`` applies Luigi's transition rules to a locked Task row, keeps the
readiness counters of its dependants right, and emits the transition signals.
"""

from __future__ import annotations

import functools
import logging

from django.db import transaction

from .. import policy
from ..models import Dependency, Task
from ..signals import task_status_changed
from ..status import ACTIVE, Status
from . import counters, outbox, sql
from .base import Ctx, StatusChange, logger, operation_scope

STATUS_FIELDS = [
    "status",
    "updated",
    "failures",
    "first_failure_time",
    "scheduler_disable_time",
    "retry_at",
    "remove_at",
    "batch_id",
]


_DEFERRED = __name__ + ".deferred_done_changes"


def _done_changed(task_id: str, now_done: bool) -> None:
    """A dependency became DONE (or stopped being DONE): adjust its dependants' counters
    (now, or at ``apply_deferred_done_changes`` if the operation deferred them).

    Relative updates commute, so concurrent changes of two dependencies of one
    task cannot lose each other's effect."""
    scope = operation_scope()
    deferred = scope.data.get(_DEFERRED) if scope is not None else None
    if deferred is not None:
        deferred.append((task_id, now_done))
        return
    sql.execute(_ADJUST_DEPENDANTS, [-1 if now_done else 1, task_id])


_ADJUST_DEPENDANTS = (
    f"UPDATE {Task._meta.db_table} SET unmet_deps = unmet_deps + %s WHERE task_id IN "
    f"(SELECT task_id FROM {Dependency._meta.db_table} WHERE dep_id = %s)"
)


def defer_done_changes() -> None:
    """Hold back the running operation's dependants' counter updates until
    ``apply_deferred_done_changes``: they lock the dependants' rows, which other
    workers' reports into the same fan-in task need too, so they are best taken
    just before the end of the transaction. Until then the dependants' counters are
    too high, never too low (nothing is handed out early); nothing in between may
    set a task's counter from its dependencies' statuses (registering its deps)."""
    scope = operation_scope()
    if scope is not None:
        scope.data.setdefault(_DEFERRED, [])


def apply_deferred_done_changes() -> bool:
    """Run the held-back counter updates; whether one made a PENDING task ready."""
    scope = operation_scope()
    deferred = scope.data.pop(_DEFERRED, None) if scope is not None else None
    ready = False
    for task_id, now_done in deferred or []:
        rows = sql.fetch(
            f"{_ADJUST_DEPENDANTS} RETURNING unmet_deps = 0 AND status = %s",
            [-1 if now_done else 1, task_id, Status.PENDING],
        )
        ready = ready or any(row[0] for row in rows)
    return ready


def set_status(
    ctx: Ctx,
    task: Task,
    new_status: str,
    *,
    cause: str,
    worker: str | None = None,
    host: str | None = None,
    user: str | None = None,
    save: bool = True,
) -> None:
    """Apply Luigi's transition rules; saves the task's status fields unless the
    caller saves the row itself (save=False)."""
    config = ctx.config
    if new_status == Status.DISABLED and task.status in ACTIVE:
        return
    remove_on_failure = task.batch_id is not None and not task.batchable

    if task.status == Status.DISABLED:
        if new_status == Status.DONE:
            clear_disable(task)
        elif task.scheduler_disable_time is not None and new_status != Status.DISABLED:
            return  # a worker cannot override a scheduler disable

    if task.status == Status.RUNNING and task.batch_id is not None and new_status != Status.RUNNING:
        for member in Task.objects.select_for_update().filter(
            batch_id=task.batch_id, status=Status.BATCH_RUNNING
        ):
            set_status(ctx, member, new_status, cause=cause, worker=worker)
            member.batch_id = None
            member.save(update_fields=["batch_id"])
        task.batch_id = None

    if new_status == Status.FAILED and task.status != Status.DISABLED:
        rules = policy.retry_policy(config, task.retry_policy)
        if task.first_failure_time is None:
            task.first_failure_time = ctx.now
        task.failures = policy.record_failure(task.failures or [], ctx.now, rules.disable_window)
        if policy.excessive_failures(task.failures, task.first_failure_time, ctx.now, rules):
            task.scheduler_disable_time = ctx.now
            new_status = Status.DISABLED
            logger.warning(
                "disabling %s: %d failures within %ss",
                task.task_id,
                len(task.failures),
                rules.disable_window,
            )
    elif new_status == Status.DISABLED:
        task.scheduler_disable_time = None

    old_status = task.status
    if new_status != old_status:
        task.status = new_status
        task.updated = ctx.now
        _log_when_committed(task.task_id, old_status, new_status, cause, worker)
    if new_status == Status.FAILED:
        task.retry_at = ctx.now + config.retry_delay
        if remove_on_failure:
            task.remove_at = ctx.now
    if save:
        sql.save_fields(task, STATUS_FIELDS)

    if new_status != old_status:
        counters.status_changed(task, old_status, new_status)
        if (old_status == Status.DONE) != (new_status == Status.DONE):
            _done_changed(task.task_id, new_status == Status.DONE)
        emit(ctx, task, old_status, new_status, cause, worker=worker, host=host, user=user)


def _log_when_committed(
    task_id: str, old_status: str, new_status: str, cause: str, worker: str | None
) -> None:
    """Log the change once its transaction has committed: an attempt that rolls back
    (two workers registering one new task at once, a deadlock retried) logs nothing."""
    if logger.isEnabledFor(logging.INFO):
        transaction.on_commit(
            functools.partial(
                logger.info,
                "task %s: %s -> %s (%s%s)",
                task_id,
                old_status or "new",
                new_status,
                cause,
                f", worker {worker}" if worker else "",
            )
        )


def clear_disable(task: Task) -> None:
    task.scheduler_disable_time = None
    task.failures = []
    task.first_failure_time = None


def re_enable(ctx: Ctx, task: Task, *, cause: str, user: str | None = None) -> None:
    """Lift a scheduler disable: FAILED with a clean failure history (PENDING after retry_delay)."""
    clear_disable(task)
    set_status(ctx, task, Status.FAILED, cause=cause, user=user)
    task.failures = []
    task.first_failure_time = None
    task.save(update_fields=["failures", "first_failure_time"])


def emit(
    ctx: Ctx,
    task: Task,
    old_status: str,
    new_status: str,
    cause: str,
    *,
    worker: str | None = None,
    host: str | None = None,
    user: str | None = None,
) -> None:
    change = StatusChange(
        seq=0,  # the outbox id, known at the end of the transaction
        task_id=task.task_id,
        family=task.family,
        old_status=old_status,
        new_status=new_status,
        at=ctx.now,
        cause=cause,
        worker=worker,
        host=host,
        user=user,
        params=task.params,
    )
    task_status_changed.send(sender=Task, change=change, task=task)
    outbox.record(ctx, [change])


def task_deleted(task: Task) -> None:
    """A task row is about to be deleted: a missing dependency is an unmet one."""
    if task.status == Status.DONE:
        _done_changed(task.task_id, now_done=False)

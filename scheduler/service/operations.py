"""Operator actions and global switches (spec §2.8). The admin, the REST API and
the dashboard call these same functions."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidArgument
from ..models import Resource, SchedulerFlag
from ..status import Status
from .base import Ctx, column_length, lock_task, operation, require_str
from .maintenance import prune_now
from .reads import serialize_one
from .registry import flag, set_flag
from .transitions import re_enable, set_status

_NAME = column_length(Resource, "name")


@operation
def re_enable_task(ctx: Ctx, task_id: Any = None, user: str | None = None, **_: Any) -> dict:
    task = lock_task(require_str("task_id", task_id))
    if task is None or not task.re_enable_able:
        return {}
    re_enable(ctx, task, cause="re_enable_task", user=user)
    return serialize_one(ctx, task, include_deps=True)


@operation
def forgive_failures(ctx: Ctx, task_id: Any = None, user: str | None = None, **_: Any) -> dict:
    task_id = require_str("task_id", task_id)
    task = lock_task(task_id)
    if task is None:
        return {"task_id": task_id, "status": None}
    if task.status == Status.FAILED:
        set_status(ctx, task, Status.PENDING, cause="forgive_failures", user=user)
    return {"task_id": task_id, "status": task.status}


@operation
def mark_as_done(ctx: Ctx, task_id: Any = None, user: str | None = None, **_: Any) -> dict:
    task_id = require_str("task_id", task_id)
    task = lock_task(task_id)
    if task is None:
        return {"task_id": task_id, "status": None}
    if task.status in (Status.RUNNING, Status.FAILED, Status.DISABLED):
        set_status(ctx, task, Status.DONE, cause="mark_as_done", user=user)
    return {"task_id": task_id, "status": task.status}


@operation
def disable_task(ctx: Ctx, task_id: Any = None, user: str | None = None, **_: Any) -> dict:
    """Operator disable (not a Luigi RPC): like a worker-set DISABLED, re-enabled by
    any later status report or by mark_as_done."""
    task_id = require_str("task_id", task_id)
    task = lock_task(task_id)
    if task is None:
        return {"task_id": task_id, "status": None}
    set_status(ctx, task, Status.DISABLED, cause="disable_task", user=user)
    return {"task_id": task_id, "status": task.status}


@operation
def release_task(ctx: Ctx, task_id: Any = None, worker: Any = None, **_: Any) -> dict:
    """Not in Luigi's protocol: the worker running a task hands it back (it is
    stopping), so it is PENDING again at once and does not count as a failure."""
    task_id = require_str("task_id", task_id)
    worker_id = require_str("worker", worker)
    task = lock_task(task_id)
    if task is None:
        return {"task_id": task_id, "status": None}
    if task.status == Status.RUNNING and task.worker_running == worker_id:
        set_status(ctx, task, Status.PENDING, cause="released by its worker", worker=worker_id)
    return {"task_id": task_id, "status": task.status}


def is_pause_enabled(ctx: Ctx, **_: Any) -> dict:
    return {"enabled": ctx.config.pause_enabled}


def is_paused(ctx: Ctx, **_: Any) -> dict:
    return {"paused": bool(flag(SchedulerFlag.PAUSED, False))}


@operation
def pause(ctx: Ctx, **_: Any) -> None:
    if ctx.config.pause_enabled:
        set_flag(SchedulerFlag.PAUSED, True)


@operation
def unpause(ctx: Ctx, **_: Any) -> None:
    if ctx.config.pause_enabled:
        set_flag(SchedulerFlag.PAUSED, False)


def has_task_history(ctx: Ctx, **_: Any) -> bool:
    return ctx.config.record_task_history


MAX_AMOUNT = 2**31 - 1  # the column is a 32-bit integer on every database


@operation
def update_resource(ctx: Ctx, resource: Any = None, amount: Any = None, **_: Any) -> bool:
    name = require_str("resource", resource, max_length=_NAME)
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 <= amount <= MAX_AMOUNT:
        return False
    Resource.objects.update_or_create(pk=name, defaults={"amount": amount})
    return True


@operation
def update_resources(ctx: Ctx, **resources: Any) -> None:
    for name, amount in resources.items():
        if isinstance(amount, bool) or not isinstance(amount, int) or not 0 <= amount <= MAX_AMOUNT:
            raise InvalidArgument(
                name, f"a resource amount must be an integer from 0 to {MAX_AMOUNT}"
            )
    for name, amount in resources.items():
        require_str("resource", name, max_length=_NAME)
        Resource.objects.update_or_create(pk=name, defaults={"amount": amount})


def prune(ctx: Ctx, **_: Any) -> None:
    prune_now(ctx)


def announce_scheduling_failure(ctx: Ctx, **kwargs: Any) -> None:
    """Luigi uses this for batched failure e-mails only; accepted and logged."""
    from .base import logger

    logger.warning(
        "scheduling failure reported by %s for %s: %s",
        kwargs.get("worker"),
        kwargs.get("task_name"),
        str(kwargs.get("expl"))[:500],
    )

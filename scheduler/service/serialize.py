"""Luigi's serialized task object (spec §2.2), built for many tasks with few queries."""

from __future__ import annotations

from collections.abc import Iterable

from ..models import Task
from ..status import Status
from .base import Ctx
from .registry import deps_map, workers_map


def _number(value: float | None):
    if value is not None and float(value).is_integer():
        return int(value)
    return value


def serialize(
    ctx: Ctx,
    task: Task,
    *,
    workers: list[str],
    deps: list[str] | None = None,
    include_deps: bool = False,
    display_name: bool = True,
) -> dict:
    data = {
        "status": task.status,
        "workers": workers,
        "worker_running": task.worker_running,
        "time_running": task.time_running,
        "start_time": task.time,
        "last_updated": task.updated,
        "params": task.public_params,
        "name": task.family,
        "priority": _number(task.priority),
        "resources": task.resources,
        "resources_running": task.resources_running,
        "tracking_url": task.tracking_url,
        "status_message": task.status_message,
        "progress_percentage": _number(task.progress_percentage),
    }
    if display_name:
        data = {"display_name": task.display_name, **data}
    if task.status == Status.DISABLED:
        data["re_enable_able"] = task.scheduler_disable_time is not None
    if include_deps:
        data["deps"] = sorted(deps or [])
    if ctx.config.send_messages and task.status == Status.RUNNING:
        data["accepts_messages"] = task.accepts_messages
    return data


def serialize_many(ctx: Ctx, tasks: Iterable[Task], *, include_deps: bool = False) -> dict:
    tasks = list(tasks)
    ids = [t.task_id for t in tasks]
    workers = workers_map(ids)
    deps = deps_map(ids) if include_deps else {}
    return {
        t.task_id: serialize(
            ctx,
            t,
            workers=workers.get(t.task_id, []),
            deps=deps.get(t.task_id, []),
            include_deps=include_deps,
        )
        for t in tasks
    }


def unknown_task(task_id: str, *, display_name: bool) -> dict:
    """How graph responses show a referenced task that is not (fully) known."""
    from ..policy import task_id_family_guess

    data = {
        "deps": [],
        "status": Status.UNKNOWN.value,
        "workers": [],
        "start_time": "UNKNOWN",
        "params": {"task_id": task_id},
        "name": task_id_family_guess(task_id),
        "priority": 0,
    }
    if display_name:
        data["display_name"] = task_id
    return data

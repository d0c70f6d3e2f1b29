"""Luigi's serialized task object (spec §2.2), built for many tasks with few queries."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from ..models import Dependency, RunnableBy, Task, visible_params
from ..status import Status
from . import sql
from .base import Ctx
from .registry import deps_map, workers_map


def _number(value: float | None):
    if value is not None and float(value).is_integer():
        return int(value)
    return value


def serialize(
    ctx: Ctx,
    task: Task | _Row,
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


_COLUMNS = (
    "task_id",
    "status",
    "worker_running",
    "time_running",
    "time",
    "updated",
    "params",
    "param_visibilities",
    "family",
    "display_name",
    "priority",
    "resources",
    "resources_running",
    "tracking_url",
    "status_message",
    "progress_percentage",
    "scheduler_disable_time",
    "accepts_messages",
)
_JSON = {"params", "param_visibilities", "resources", "resources_running"}


def _json(value):
    return json.loads(value) if isinstance(value, str | bytes) else value


def serialize_where(
    ctx: Ctx,
    where: str = "1 = 1",
    params: Sequence = (),
    *,
    include_deps: bool = False,
    limit: int | None = None,
) -> dict[str, dict]:
    """Serialize the tasks matching a WHERE clause on the task table (alias t), oldest
    first, in a fixed number of queries (no per-task work in SQL, no model instances)."""
    task_table, link_table = sql.table(Task), sql.table(RunnableBy)
    columns = ", ".join(f"t.{c}" for c in _COLUMNS)
    suffix = f" LIMIT {int(limit)}" if limit is not None else ""
    rows = sql.fetch(
        f"SELECT {columns} FROM {task_table} t WHERE {where} ORDER BY t.time, t.task_id{suffix}",
        params,
    )
    if not rows:
        return {}
    workers: dict[str, list[str]] = {}
    for task_id, worker_id in sql.fetch(
        f"SELECT r.task_id, r.worker_id FROM {link_table} r JOIN {task_table} t "
        f"ON t.task_id = r.task_id WHERE {where} ORDER BY r.id",
        params,
    ):
        workers.setdefault(task_id, []).append(worker_id)
    deps: dict[str, list[str]] = {}
    if include_deps:
        for task_id, dep_id in sql.fetch(
            f"SELECT d.task_id, d.dep_id FROM {sql.table(Dependency)} d JOIN {task_table} t "
            f"ON t.task_id = d.task_id WHERE {where}",
            params,
        ):
            deps.setdefault(task_id, []).append(dep_id)
    return {
        row[0]: serialize(
            ctx,
            _Row(row),
            workers=workers.get(row[0], []),
            deps=deps.get(row[0], []),
            include_deps=include_deps,
        )
        for row in rows
    }


class _Row:
    """A task row fetched by serialize_where, with the attributes serialize() reads."""

    __slots__ = _COLUMNS

    def __init__(self, values: Sequence) -> None:
        for name, value in zip(_COLUMNS, values, strict=True):
            setattr(self, name, _json(value) if name in _JSON else value)
        self.accepts_messages = bool(self.accepts_messages)

    @property
    def public_params(self) -> dict:
        return visible_params(self.params, self.param_visibilities)

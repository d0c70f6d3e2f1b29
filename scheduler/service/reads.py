"""Read methods for the visualiser and tools (spec §2.7)."""

from __future__ import annotations

from collections import deque
from typing import Any

from django.db import connection

from ..errors import InvalidArgument
from ..models import Dependency, Resource, RunnableBy, Task, Worker
from ..status import Status, Upstream
from .base import Ctx, require_str
from .registry import CHUNK, capacities, chunks, deps_map, workers_map
from .serialize import serialize, serialize_many, unknown_task

_BASE = {
    Upstream.DISABLED: "up.status = 'DISABLED'",
    Upstream.FAILED: "up.status = 'FAILED'",
    Upstream.RUNNING: "up.status IN ('RUNNING', 'BATCH_RUNNING')",
    Upstream.MISSING_INPUT: (
        "up.status = 'PENDING' AND NOT EXISTS "
        "(SELECT 1 FROM {dep} d2 WHERE d2.task_id = up.task_id)"
    ),
}

_REACH_SQL = """
WITH RECURSIVE s(task_id) AS (
    SELECT d.task_id FROM {dep} d
    JOIN {task} up ON up.task_id = d.dep_id AND ({base})
    JOIN {task} t ON t.task_id = d.task_id AND t.status = 'PENDING'
  UNION
    SELECT d.task_id FROM {dep} d
    JOIN s ON d.dep_id = s.task_id
    JOIN {task} t ON t.task_id = d.task_id AND t.status = 'PENDING'
)
SELECT task_id FROM s
"""

_SEVERITY_ORDER = [Upstream.DISABLED, Upstream.FAILED, Upstream.MISSING_INPUT, Upstream.RUNNING]


def reaching(label: str) -> set[str]:
    """PENDING tasks with a path of PENDING tasks to a dependency contributing `label`."""
    tables = {"dep": Dependency._meta.db_table, "task": Task._meta.db_table}
    sql = _REACH_SQL.format(base=_BASE[label].format(**tables), **tables)
    with connection.cursor() as cursor:
        cursor.execute(sql)
        ids = {row[0] for row in cursor.fetchall()}
    if label == Upstream.MISSING_INPUT:
        leaves = Task.objects.filter(status=Status.PENDING).exclude(
            pk__in=Dependency.objects.values("task_id")
        )
        ids |= set(leaves.values_list("task_id", flat=True))
    return ids


def with_upstream_label(label: str) -> set[str]:
    """PENDING tasks whose most severe upstream label is exactly `label`."""
    index = _SEVERITY_ORDER.index(label)
    result = reaching(label)
    for more_severe in _SEVERITY_ORDER[:index]:
        if result:
            result -= reaching(more_severe)
    return result


def _bool(name: str, value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, int | str):
        return str(value).lower() not in ("0", "false", "")
    raise InvalidArgument(name, "true or false is required")


def task_list(
    ctx: Ctx,
    status: Any = "",
    upstream_status: Any = "",
    limit: Any = True,
    search: Any = None,
    max_shown_tasks: Any = None,
    **_: Any,
) -> dict:
    status = status or ""
    upstream_status = upstream_status or ""
    if status and status not in Status.values:
        raise InvalidArgument("status", f"unknown status {status!r}")
    if upstream_status and upstream_status not in Upstream.values:
        raise InvalidArgument("upstream_status", f"unknown upstream status {upstream_status!r}")
    if search is not None and not isinstance(search, str):
        raise InvalidArgument("search", "a string is required")
    limit = _bool("limit", limit, True)
    if max_shown_tasks is not None and (
        isinstance(max_shown_tasks, bool) or not isinstance(max_shown_tasks, int)
    ):
        raise InvalidArgument("max_shown_tasks", "an integer is required")
    cap = max_shown_tasks or ctx.config.max_shown_tasks

    tasks = Task.objects.filter(status=status) if status else Task.objects.all()
    if not search:
        if limit:
            count = tasks.count()
            if count > cap:
                return {"num_tasks": -1 if upstream_status else count}
    else:
        for term in search.split():
            tasks = tasks.filter(display_name__icontains=term)
    tasks = tasks.order_by("time", "task_id")
    if upstream_status and status in ("", Status.PENDING):
        labelled = with_upstream_label(upstream_status)
        tasks = [t for t in tasks if t.status != Status.PENDING or t.task_id in labelled]
    if limit:
        count = len(tasks) if isinstance(tasks, list) else tasks.count()
        if count > cap:
            return {"num_tasks": count}
    return serialize_many(ctx, tasks)


def serialize_one(ctx: Ctx, task: Task, *, include_deps: bool = False) -> dict:
    workers = workers_map([task.task_id]).get(task.task_id, [])
    deps = deps_map([task.task_id]).get(task.task_id, [])
    return serialize(ctx, task, workers=workers, deps=deps, include_deps=include_deps)


def _traverse(
    ctx: Ctx, root: str, *, inverse: bool, include_done: bool, seen: set[str] | None = None
) -> dict:
    seen = set() if seen is None else seen
    if root in seen:
        return {}
    seen.add(root)
    out: dict[str, dict] = {}
    queue = deque([root])
    cap = ctx.config.max_graph_nodes
    while queue:
        # Fetch a whole breadth-first layer at once.
        layer = [queue.popleft() for _ in range(min(len(queue), CHUNK))]
        tasks = {t.task_id: t for t in Task.objects.filter(pk__in=layer)}
        if inverse:
            edges: dict[str, list[str]] = {}
            for task_id, dep_id in (
                Dependency.objects.filter(dep_id__in=layer)
                .order_by()
                .values_list("task_id", "dep_id")
            ):
                edges.setdefault(dep_id, []).append(task_id)
        else:
            edges = deps_map(layer)
        neighbours = {n for ids in edges.values() for n in ids}
        done = set()
        if not include_done:
            for part in chunks(neighbours):
                done.update(
                    Task.objects.filter(pk__in=part, status=Status.DONE).values_list(
                        "task_id", flat=True
                    )
                )
        workers = workers_map(layer)
        for task_id in layer:
            task = tasks.get(task_id)
            if task is None or not task.family:
                node = unknown_task(task_id, display_name=task_id == root)
            else:
                deps = sorted(d for d in edges.get(task_id, []) if d not in done)
                node = serialize(
                    ctx,
                    task,
                    workers=workers.get(task_id, []),
                    deps=deps,
                    include_deps=True,
                    display_name=task_id == root,
                )
                for dep in deps:
                    if dep not in seen:
                        seen.add(dep)
                        queue.append(dep)
            out[task_id] = node
            if len(out) >= cap:
                return out
    return out


def dep_graph(ctx: Ctx, task_id: Any = None, include_done: Any = True, **_: Any) -> dict:
    task_id = require_str("task_id", task_id)
    if not Task.objects.filter(pk=task_id).exists():
        return {}
    return _traverse(
        ctx, task_id, inverse=False, include_done=_bool("include_done", include_done, True)
    )


def inverse_dep_graph(ctx: Ctx, task_id: Any = None, include_done: Any = True, **_: Any) -> dict:
    task_id = require_str("task_id", task_id)
    if not Task.objects.filter(pk=task_id).exists():
        return {}
    return _traverse(
        ctx, task_id, inverse=True, include_done=_bool("include_done", include_done, True)
    )


def graph(ctx: Ctx, **_: Any) -> dict:
    seen: set[str] = set()
    out: dict[str, dict] = {}
    for task_id in Task.objects.order_by("time", "task_id").values_list("task_id", flat=True):
        if task_id not in seen:
            out.update(_traverse(ctx, task_id, inverse=False, include_done=True, seen=seen))
    return out


def task_search(ctx: Ctx, task_str: Any = None, **_: Any) -> dict:
    if not isinstance(task_str, str):
        raise InvalidArgument("task_str", "a string is required")
    tasks = Task.objects.filter(task_id__contains=task_str).order_by("time", "task_id")
    if connection.vendor == "sqlite":
        # SQLite's LIKE ignores case; Luigi's search is case-sensitive.
        tasks = [t for t in tasks if task_str in t.task_id]
    result: dict[str, dict] = {}
    for task_id, data in serialize_many(ctx, tasks).items():
        result.setdefault(data["status"], {})[task_id] = data
    return result


def fetch_error(ctx: Ctx, task_id: Any = None, **_: Any) -> dict:
    task_id = require_str("task_id", task_id)
    task = Task.objects.filter(pk=task_id).first()
    if task is None:
        return {"taskId": task_id, "error": ""}
    return {
        "taskId": task_id,
        "error": task.expl,
        "displayName": task.display_name,
        "taskParams": task.params,
        "taskModule": task.module,
        "taskFamily": task.family,
    }


def worker_list(ctx: Ctx, include_running: Any = True, **_: Any) -> list:
    include_running = _bool("include_running", include_running, True)
    workers = list(Worker.objects.order_by("-started"))
    first_ids = {
        w.info.get("first_task") for w in workers if isinstance(w.info.get("first_task"), str)
    }
    names = dict(Task.objects.filter(pk__in=first_ids).values_list("task_id", "display_name"))
    result = []
    for w in workers:
        first = w.info.get("first_task", "")
        item = {
            "name": w.worker_id,
            "last_active": w.last_active,
            "started": w.started,
            "state": w.state,
            "first_task_display_name": names.get(first, first),
            "num_unread_rpc_messages": len(w.messages),
            **w.info,
        }
        result.append(item)
    if include_running:
        running: dict[str, dict] = {}
        tasks = Task.objects.filter(status=Status.RUNNING, worker_running__isnull=False)
        for task_id, data in serialize_many(ctx, tasks).items():
            running.setdefault(data["worker_running"], {})[task_id] = data
        num_pending: dict[str, int] = {}
        num_uniques: dict[str, int] = {}
        pending_links = RunnableBy.objects.filter(task__status=Status.PENDING).values_list(
            "task_id", "worker_id"
        )
        by_task: dict[str, list[str]] = {}
        for task_id, worker_id in pending_links:
            by_task.setdefault(task_id, []).append(worker_id)
            num_pending[worker_id] = num_pending.get(worker_id, 0) + 1
        for ids in by_task.values():
            if len(ids) == 1:
                num_uniques[ids[0]] = num_uniques.get(ids[0], 0) + 1
        for item in result:
            tasks_of = running.get(item["name"], {})
            item["num_running"] = len(tasks_of)
            item["num_pending"] = num_pending.get(item["name"], 0)
            item["num_uniques"] = num_uniques.get(item["name"], 0)
            item["running"] = tasks_of
    return result


def resource_list(ctx: Ctx, **_: Any) -> list:
    limits = capacities(ctx)
    running = list(Task.objects.filter(status=Status.RUNNING))
    serialized = serialize_many(ctx, running) if running else {}
    result = []
    for name in sorted(
        set(ctx.config.resource_limits) | set(Resource.objects.values_list("name", flat=True))
    ):
        consumers = {
            t.task_id: serialized[t.task_id] for t in running if name in (t.resources or {})
        }
        used = sum((t.resources_running or {}).get(name, 0) for t in running)
        result.append(
            {
                "name": name,
                "num_total": limits.get(name, 0),
                "num_used": used,
                "num_consumer": len(consumers),
                "running": consumers,
            }
        )
    return result

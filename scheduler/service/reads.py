"""Read methods for the visualiser and tools (spec §2.7)."""

from __future__ import annotations

from collections import deque
from typing import Any

from django.db import connection

from ..errors import InvalidArgument
from ..models import Dependency, Resource, RunnableBy, Task, Worker
from ..status import Status, Upstream
from . import sql
from .base import Ctx, require_str
from .registry import capacities, deps_map, workers_map
from .serialize import serialize, serialize_where, unknown_task
from .sql import CHUNK, chunks

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

    where, params = ["1 = 1"], []
    if status:
        where.append("t.status = %s")
        params.append(status)
    for term in (search or "").split():
        where.append("LOWER(t.display_name) LIKE %s ESCAPE '!'")
        escaped = term.lower().replace("!", "!!").replace("%", "!%").replace("_", "!_")
        params.append(f"%{escaped}%")
    clause = " AND ".join(where)
    if limit and (not search or not upstream_status):
        count = sql.fetch(f"SELECT COUNT(*) FROM {sql.table(Task)} t WHERE {clause}", params)[0][0]
        if count > cap:
            return {"num_tasks": -1 if upstream_status else count}
    tasks = serialize_where(ctx, clause, params)
    if upstream_status and status in ("", Status.PENDING):
        labelled = with_upstream_label(upstream_status)
        tasks = {
            task_id: data
            for task_id, data in tasks.items()
            if data["status"] != Status.PENDING or task_id in labelled
        }
    if limit and len(tasks) > cap:
        return {"num_tasks": len(tasks)}
    return tasks


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
    """Every task with its deps, as breadth-first traversals from each task not yet
    reached (oldest first); each traversal's root keeps display_name, as in Luigi.
    Built from three bulk queries, whatever the number of tasks."""
    nodes = serialize_where(ctx, include_deps=True)
    cap = ctx.config.max_graph_nodes
    out: dict[str, dict] = {}
    seen: set[str] = set()
    for root in list(nodes):
        if root in seen:
            continue
        seen.add(root)
        queue = deque([root])
        size = 0
        while queue and size < cap:
            task_id = queue.popleft()
            node = nodes.pop(task_id, None)
            if node is None or not node["name"]:
                node = unknown_task(task_id, display_name=task_id == root)
            else:
                if task_id != root:
                    del node["display_name"]
                for dep in node["deps"]:
                    if dep not in seen:
                        seen.add(dep)
                        queue.append(dep)
            out[task_id] = node
            size += 1
    return out


def task_search(ctx: Ctx, task_str: Any = None, **_: Any) -> dict:
    if not isinstance(task_str, str):
        raise InvalidArgument("task_str", "a string is required")
    escaped = task_str.replace("!", "!!").replace("%", "!%").replace("_", "!_")
    found = serialize_where(ctx, "t.task_id LIKE %s ESCAPE '!'", [f"%{escaped}%"])
    result: dict[str, dict] = {}
    for task_id, data in found.items():
        if task_str in task_id:  # LIKE ignores case on SQLite; Luigi's search does not
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
        found = serialize_where(ctx, "t.status = 'RUNNING' AND t.worker_running IS NOT NULL")
        for task_id, data in found.items():
            running.setdefault(data["worker_running"], {})[task_id] = data
        task_table, link_table = sql.table(Task), sql.table(RunnableBy)
        num_pending = dict(
            sql.fetch(
                f"SELECT r.worker_id, COUNT(*) FROM {link_table} r JOIN {task_table} t "
                "ON t.task_id = r.task_id WHERE t.status = 'PENDING' GROUP BY r.worker_id"
            )
        )
        # A task with one runnable worker: that worker is also the last one added.
        num_uniques = dict(
            sql.fetch(
                f"SELECT t.last_worker, COUNT(*) FROM {task_table} t WHERE t.status = 'PENDING' "
                "AND t.n_workers = 1 GROUP BY t.last_worker"
            )
        )
        for item in result:
            tasks_of = running.get(item["name"], {})
            item["num_running"] = len(tasks_of)
            item["num_pending"] = num_pending.get(item["name"], 0)
            item["num_uniques"] = num_uniques.get(item["name"], 0)
            item["running"] = tasks_of
    return result


def resource_list(ctx: Ctx, **_: Any) -> list:
    limits = capacities(ctx)
    running = serialize_where(ctx, "t.status = 'RUNNING'")
    result = []
    for name in sorted(
        set(ctx.config.resource_limits) | set(Resource.objects.values_list("name", flat=True))
    ):
        consumers = {
            task_id: data for task_id, data in running.items() if name in (data["resources"] or {})
        }
        used = sum((data["resources_running"] or {}).get(name, 0) for data in running.values())
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


def status_counts(ctx: Ctx) -> dict[str, int]:
    """How many tasks are in each status (one grouped query)."""
    counts = dict.fromkeys(Status.values, 0)
    for status, count in sql.fetch(
        f"SELECT status, COUNT(*) FROM {sql.table(Task)} GROUP BY status"
    ):
        counts[status] = count
    return counts

"""Checks of the scheduler's stored invariants, for tests and `manage.py` diagnostics.

Each maintained value (readiness counters, link summaries, per-worker counters)
is recomputed from the rows it summarises and compared. The scheduling promises
are checked too: no task stays running on a worker that the last maintenance
pass found dead, no dependency edge points to a task that was never created
(Luigi leaves such edges only once a maintenance pass removed the dependency,
or when a disabled or assistant registration created none),
and tasks claimed through ``get_work`` never hold more of a resource than its
configured limit.
"""

from __future__ import annotations

from django.db import connection

from ..conf import SchedulerConfig, get_config
from ..models import (
    Dependency,
    Resource,
    RunnableBy,
    SchedulerFlag,
    Stakeholder,
    StatusEvent,
    Task,
    Worker,
    WorkerCounters,
)
from ..policy import add_amounts
from ..status import Status
from .registry import flag


def _rows(sql: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


def violations(limit: int = 20, config: SchedulerConfig | None = None) -> list[str]:
    config = config or get_config()
    last_prune = float(flag(SchedulerFlag.LAST_PRUNE, 0) or 0)
    task, dep = Task._meta.db_table, Dependency._meta.db_table
    link, worker = RunnableBy._meta.db_table, WorkerCounters._meta.db_table
    found: list[str] = []
    for task_id, stored, actual in _rows(
        f"SELECT t.task_id, t.unmet_deps, (SELECT COUNT(*) FROM {dep} d LEFT JOIN {task} u "
        f"ON u.task_id = d.dep_id WHERE d.task_id = t.task_id "
        f"AND (u.status IS NULL OR u.status <> 'DONE')) FROM {task} t"
    ):
        if stored != actual:
            found.append(f"task {task_id}: unmet_deps {stored}, actually {actual}")
    for task_id, n, last, actual_n, actual_last in _rows(
        f"SELECT t.task_id, t.n_workers, t.last_worker, "
        f"(SELECT COUNT(*) FROM {link} r WHERE r.task_id = t.task_id), "
        f"(SELECT r.worker_id FROM {link} r WHERE r.task_id = t.task_id ORDER BY r.id DESC "
        f"LIMIT 1) FROM {task} t"
    ):
        if n != actual_n or (actual_n and last != actual_last):
            found.append(
                f"task {task_id}: n_workers/last_worker {n}/{last}, "
                f"actually {actual_n}/{actual_last}"
            )
    counted = "('PENDING', 'FAILED')"
    for row in _rows(
        f"SELECT w.worker_id, w.n_pending, w.n_unique, w.n_last_scheduled, "
        f"(SELECT COUNT(*) FROM {link} r JOIN {task} t ON t.task_id = r.task_id "
        f"WHERE r.worker_id = w.worker_id AND t.status IN {counted}), "
        f"(SELECT COUNT(*) FROM {link} r JOIN {task} t ON t.task_id = r.task_id "
        f"WHERE r.worker_id = w.worker_id AND t.status IN {counted} AND "
        f"(SELECT COUNT(*) FROM {link} r2 WHERE r2.task_id = t.task_id) = 1), "
        f"(SELECT COUNT(*) FROM {task} t WHERE t.status IN {counted} AND w.worker_id = "
        f"(SELECT r.worker_id FROM {link} r WHERE r.task_id = t.task_id ORDER BY r.id DESC "
        f"LIMIT 1)) FROM {worker} w"
    ):
        worker_id, stored, actual = row[0], row[1:4], row[4:7]
        if tuple(stored) != tuple(actual):
            found.append(f"worker {worker_id}: counters {stored}, actually {actual}")
    for task_id in Task.objects.filter(
        status__in=[Status.RUNNING, Status.BATCH_RUNNING], worker_running__isnull=True
    ).values_list("task_id", flat=True):
        found.append(f"task {task_id}: running without a worker")
    found.extend(_dead_runners(last_prune, config))
    found.extend(_dangling_dependencies(last_prune))
    found.extend(_over_limits(config))
    return found[:limit]


def _dead_runners(last_prune: float, config: SchedulerConfig) -> list[str]:
    """Tasks still running on a worker that the last maintenance pass saw as dead."""
    found = []
    running = Task.objects.filter(
        status__in=[Status.RUNNING, Status.BATCH_RUNNING], worker_running__isnull=False
    ).values_list("task_id", "worker_running")
    seen = dict(Worker.objects.values_list("worker_id", "last_active"))
    for task_id, worker_id in running:
        if worker_id not in seen:
            found.append(f"task {task_id}: running on {worker_id}, a worker no longer known")
        elif seen[worker_id] < last_prune - config.worker_disconnect_delay:
            found.append(
                f"task {task_id}: running on {worker_id}, silent since {seen[worker_id]:.3f}, "
                f"past worker_disconnect_delay at the maintenance pass of {last_prune:.3f}"
            )
    return found


def _dangling_dependencies(last_prune: float) -> list[str]:
    """Edges to missing tasks from tasks a worker registered after the last maintenance
    pass: registering creates the missing dependencies, and only a pass deletes tasks."""
    task, dep = Task._meta.db_table, Dependency._meta.db_table
    stake = Stakeholder._meta.db_table
    rows = _rows(
        f"SELECT d.task_id, d.dep_id FROM {dep} d JOIN {task} t ON t.task_id = d.task_id "
        f"WHERE t.status <> 'DISABLED' AND t.time > {float(last_prune)!r} "
        f"AND EXISTS (SELECT 1 FROM {stake} s WHERE s.task_id = d.task_id) "
        f"AND NOT EXISTS (SELECT 1 FROM {task} u WHERE u.task_id = d.dep_id)"
    )
    return [f"task {task_id}: dependency {dep_id} does not exist" for task_id, dep_id in rows]


def _over_limits(config: SchedulerConfig) -> list[str]:
    """Resources held by tasks that get_work handed out, above their configured limit.

    Limits changed at run time (update_resource) are left out: lowering one below
    what running tasks hold is allowed, as in Luigi; so are tasks a worker
    reported RUNNING itself (add_task), which no claim checked."""
    changed = set(Resource.objects.values_list("name", flat=True))
    running = dict(
        Task.objects.filter(status=Status.RUNNING).values_list("task_id", "resources_running")
    )
    latest: dict[str, str] = {}  # the cause of each task's last change to RUNNING
    for task_id, cause in (
        StatusEvent.objects.filter(task_id__in=list(running), new_status=Status.RUNNING)
        .order_by("id")
        .values_list("task_id", "cause")
    ):
        latest[task_id] = cause
    claimed = [task_id for task_id, cause in latest.items() if cause.startswith("get_work")]
    used: dict[str, int] = {}
    for task_id in claimed:
        add_amounts(used, running[task_id])
    limits = config.resource_limits
    return [
        f"resource {name}: {amount} in use by claimed tasks, limit {limits.get(name, 1)}"
        for name, amount in sorted(used.items())
        if name not in changed and amount > limits.get(name, 1)
    ]

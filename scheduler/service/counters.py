"""count_pending's per-worker counters, kept current as statuses and runnable links change.

For a worker W and the tasks it may run that are PENDING or FAILED:
``n_pending`` counts them, ``n_unique`` those W alone may run, and
``n_last_scheduled`` those W was the last worker added to. Every change goes
through relative updates (they commute under concurrency); the rare events
that remove links (disabled or pruned workers, deleted tasks) recount instead.
"""

from __future__ import annotations

from django.db import connection

from ..models import RunnableBy, Task, WorkerCounters
from ..status import Status
from .base import is_postgres

COUNTED = (Status.PENDING, Status.FAILED)


def status_changed(task: Task, old_status: str, new_status: str) -> None:
    was, now = old_status in COUNTED, new_status in COUNTED
    if was == now or task.n_workers == 0:
        return
    delta = 1 if now else -1
    sole = 1 if task.n_workers == 1 else 0
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {WorkerCounters._meta.db_table} SET n_pending = n_pending + %s, "
            "n_unique = n_unique + %s, "
            "n_last_scheduled = n_last_scheduled + CASE WHEN worker_id = %s THEN %s ELSE 0 END "
            f"WHERE worker_id IN (SELECT worker_id FROM {RunnableBy._meta.db_table} "
            "WHERE task_id = %s)",
            [delta, delta * sole, task.last_worker, delta, task.task_id],
        )


def link_added(task: Task, worker_id: str) -> None:
    """A new runnable link (task, worker) was inserted; the caller saves the task row."""
    old_n, old_last = task.n_workers, task.last_worker
    task.n_workers = old_n + 1
    task.last_worker = worker_id
    if task.status not in COUNTED:
        return
    # The new worker: one more pending, and it is now the last one added (and
    # the only one if there was none). The previous last worker loses "last";
    # a previously sole worker loses "unique".
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {WorkerCounters._meta.db_table} SET "
            "n_pending = n_pending + CASE WHEN worker_id = %s THEN 1 ELSE 0 END, "
            "n_last_scheduled = n_last_scheduled + CASE WHEN worker_id = %s THEN 1 ELSE -1 END, "
            "n_unique = n_unique + CASE WHEN worker_id = %s THEN %s ELSE %s END "
            "WHERE worker_id IN (%s, %s)",
            [
                worker_id,
                worker_id,
                worker_id,
                1 if old_n == 0 else 0,
                -1 if old_n == 1 else 0,
                worker_id,
                old_last or worker_id,
            ],
        )


def recount(task_ids: list[str] | None = None) -> None:
    """Recompute the link summaries of these tasks (all if None) and every worker's
    counters from scratch, after links were removed."""
    task_table, link_table = Task._meta.db_table, RunnableBy._meta.db_table
    worker_table = WorkerCounters._meta.db_table
    statuses = "('PENDING', 'FAILED')"
    with connection.cursor() as cursor:
        if is_postgres():
            cursor.execute(f"LOCK TABLE {worker_table} IN EXCLUSIVE MODE")
        summary = (
            f"UPDATE {task_table} SET "
            f"n_workers = (SELECT COUNT(*) FROM {link_table} r "
            f"WHERE r.task_id = {task_table}.task_id), "
            f"last_worker = (SELECT r.worker_id FROM {link_table} r "
            f"WHERE r.task_id = {task_table}.task_id ORDER BY r.id DESC LIMIT 1)"
        )
        if task_ids is None:
            cursor.execute(summary)
        else:
            for start in range(0, len(task_ids), 5000):
                part = task_ids[start : start + 5000]
                marks = ", ".join(["%s"] * len(part))
                cursor.execute(f"{summary} WHERE task_id IN ({marks})", part)
        cursor.execute(
            f"UPDATE {worker_table} SET "
            f"n_pending = (SELECT COUNT(*) FROM {link_table} r JOIN {task_table} t "
            f"ON t.task_id = r.task_id WHERE r.worker_id = {worker_table}.worker_id "
            f"AND t.status IN {statuses}), "
            f"n_unique = (SELECT COUNT(*) FROM {link_table} r JOIN {task_table} t "
            f"ON t.task_id = r.task_id WHERE r.worker_id = {worker_table}.worker_id "
            f"AND t.status IN {statuses} AND t.n_workers = 1), "
            f"n_last_scheduled = (SELECT COUNT(*) FROM {task_table} t "
            f"WHERE t.last_worker = {worker_table}.worker_id AND t.status IN {statuses})"
        )

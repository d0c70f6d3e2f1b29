"""Checks of the scheduler's stored invariants, for tests and `manage.py` diagnostics.

Each maintained value (readiness counters, link summaries, per-worker counters)
is recomputed from the rows it summarises and compared.
"""

from __future__ import annotations

from django.db import connection

from ..models import Dependency, RunnableBy, Task, WorkerCounters
from ..status import Status


def _rows(sql: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


def violations(limit: int = 20) -> list[str]:
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
    return found[:limit]

"""Small shared queries: workers, runnable links, dependency sets, resources."""

from __future__ import annotations

from django.db import connection
from django.db.models import Q

from ..models import Dependency, Resource, RunnableBy, SchedulerFlag, Task, Worker
from .base import Ctx


def touch_worker(ctx: Ctx, worker_id: str, *, get_work: bool = False, host=None) -> Worker:
    """The worker's row, created if new, with last_active (and last_get_work) set to now."""
    fields = {"last_active": ctx.now}
    if get_work:
        fields["last_get_work"] = ctx.now
        fields["host"] = host
    updated = Worker.objects.filter(pk=worker_id).update(**fields)
    if not updated:
        Worker.objects.bulk_create(
            [Worker(worker_id=worker_id, started=ctx.now, **fields)], ignore_conflicts=True
        )
        Worker.objects.filter(pk=worker_id).update(**fields)
    return Worker.objects.get(pk=worker_id)


def touch_worker_disabled(ctx: Ctx, worker_id: str) -> bool:
    """Set the worker's last_active to now (creating it if new); whether it is disabled."""
    table = Worker._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET last_active = %s WHERE worker_id = %s RETURNING disabled",
            [ctx.now, worker_id],
        )
        row = cursor.fetchone()
    if row is not None:
        return bool(row[0])
    Worker.objects.bulk_create(
        [Worker(worker_id=worker_id, started=ctx.now, last_active=ctx.now)], ignore_conflicts=True
    )
    return Worker.objects.filter(pk=worker_id, disabled=True).exists()


def deps_with_state(task_id: str) -> dict[str, tuple[str, float] | None]:
    """The task's dependencies with their (status, priority); None where not registered."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT d.dep_id, t.status, t.priority FROM {Dependency._meta.db_table} d "
            f"LEFT JOIN {Task._meta.db_table} t ON t.task_id = d.dep_id WHERE d.task_id = %s",
            [task_id],
        )
        return {
            dep: None if status is None else (status, prio)
            for dep, status, prio in cursor.fetchall()
        }


def get_or_create_worker(ctx: Ctx, worker_id: str) -> Worker:
    worker = Worker.objects.filter(pk=worker_id).first()
    if worker is None:
        Worker.objects.bulk_create(
            [Worker(worker_id=worker_id, started=ctx.now, last_active=ctx.now)],
            ignore_conflicts=True,
        )
        worker = Worker.objects.get(pk=worker_id)
    return worker


CHUNK = 5000  # ids per IN (...) list: far below SQLite's limit on query parameters


def chunks(ids) -> list[list[str]]:
    ids = list(ids)
    return [ids[i : i + CHUNK] for i in range(0, len(ids), CHUNK)]


def deps_map(task_ids) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for part in chunks(task_ids):
        rows = Dependency.objects.filter(task_id__in=part).values_list("task_id", "dep_id")
        for task_id, dep_id in rows:
            result.setdefault(task_id, []).append(dep_id)
    return result


def workers_map(task_ids) -> dict[str, list[str]]:
    """Runnable workers of each task, in the order they were first added."""
    result: dict[str, list[str]] = {}
    for part in chunks(task_ids):
        rows = (
            RunnableBy.objects.filter(task_id__in=part)
            .order_by("id")
            .values_list("task_id", "worker_id")
        )
        for task_id, worker_id in rows:
            result.setdefault(task_id, []).append(worker_id)
    return result


def capacities(ctx: Ctx) -> dict[str, int]:
    """Configured resource capacities, overridden by the ones set at run time."""
    limits = dict(ctx.config.resource_limits)
    limits.update(dict(Resource.objects.values_list("name", "amount")))
    return limits


def flag(name: str, default=None):
    row = SchedulerFlag.objects.filter(pk=name).first()
    return default if row is None else row.value


def set_flag(name: str, value) -> None:
    SchedulerFlag.objects.update_or_create(pk=name, defaults={"value": value})


def worker_task_ids(worker_id: str, *statuses: str):
    return Task.objects.filter(runnable_links__worker_id=worker_id, status__in=statuses)


def active_q() -> Q:
    return Q(status__in=["RUNNING", "BATCH_RUNNING"])

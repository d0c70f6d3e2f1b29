"""Small shared queries: workers, runnable links, dependency sets, resources."""

from __future__ import annotations

from ..models import (
    Dependency,
    Resource,
    RunnableBy,
    SchedulerFlag,
    Task,
    Worker,
    WorkerCounters,
)
from . import counters, sql
from .base import Ctx, operation_scope

# OperationScope.data key: {worker id: disabled} of the workers this operation touched.
_TOUCHED = __name__ + ".touched"


def create_worker(ctx: Ctx, worker_id: str, **fields) -> None:
    """Insert the worker's rows if it is new (concurrent creators do not collide)."""
    fields.setdefault("last_active", ctx.now)
    sql.insert_many([Worker(worker_id=worker_id, started=ctx.now, **fields)], ignore_conflicts=True)
    sql.insert_many([WorkerCounters(worker_id=worker_id)], ignore_conflicts=True)


def touch_worker(ctx: Ctx, worker_id: str, *, get_work: bool = False, host=None) -> Worker:
    """The worker's row, created if new, with last_active (and last_get_work) set to now."""
    fields = {"last_active": ctx.now}
    if get_work:
        fields["last_get_work"] = ctx.now
        fields["host"] = host
    assignments = ", ".join(f"{name} = %s" for name in fields)
    found = sql.update_returning(
        Worker, assignments, "worker_id = %s", [*fields.values(), worker_id]
    )
    if found:
        return found[0]
    create_worker(ctx, worker_id, **fields)
    return sql.load(Worker, "worker_id = %s", [worker_id])[0]


def touch_worker_disabled(ctx: Ctx, worker_id: str) -> bool:
    """Set the worker's last_active to now (creating it if new); whether it is disabled.
    Once per operation: add_tasks registering task by task would write the same
    values again for every task."""
    touched = touched_disabled(worker_id)
    if touched is not None:
        return touched
    rows = sql.fetch(
        f"UPDATE {sql.table(Worker)} SET last_active = %s WHERE worker_id = %s RETURNING disabled",
        [ctx.now, worker_id],
    )
    return _disabled_or_created(ctx, worker_id, rows)


def touched_disabled(worker_id: str) -> bool | None:
    """Whether the worker is disabled, if the running operation has touched it
    already; None if it has not (or outside an operation)."""
    scope = operation_scope()
    return scope.data.get(_TOUCHED, {}).get(worker_id) if scope is not None else None


def touch_statement(ctx: Ctx, worker_id: str) -> tuple[str, list]:
    """A WITH clause (PostgreSQL) that sets the worker's last_active to now as part of
    another statement, which may read ``(SELECT disabled FROM touched)``: NULL if the
    worker has no row yet (then ``worker_disabled`` creates it)."""
    return (
        f"WITH touched AS (UPDATE {sql.table(Worker)} SET last_active = %s "
        "WHERE worker_id = %s RETURNING disabled) ",
        [ctx.now, worker_id],
    )


def worker_disabled(ctx: Ctx, worker_id: str) -> bool:
    """After ``touch_statement`` ran without telling: whether the worker is disabled,
    creating it if new (as ``touch_worker_disabled`` does)."""
    rows = sql.fetch(f"SELECT disabled FROM {sql.table(Worker)} WHERE worker_id = %s", [worker_id])
    return _disabled_or_created(ctx, worker_id, rows)


def _disabled_or_created(ctx: Ctx, worker_id: str, rows: list[tuple]) -> bool:
    """``disabled`` from the worker's row as read (``rows``), or the worker created if
    it had none; remembered as touched by the running operation."""
    if rows:
        disabled = bool(rows[0][0])
    else:
        create_worker(ctx, worker_id)
        disabled = Worker.objects.filter(pk=worker_id, disabled=True).exists()
    remember_touched(worker_id, disabled)
    return disabled


def remember_touched(worker_id: str, disabled: bool) -> None:
    """The running operation has set this worker's last_active already."""
    scope = operation_scope()
    if scope is not None:
        scope.data.setdefault(_TOUCHED, {})[worker_id] = disabled


def get_or_create_worker(ctx: Ctx, worker_id: str) -> Worker:
    found = sql.load(Worker, "worker_id = %s", [worker_id])
    if not found:
        create_worker(ctx, worker_id)
        found = sql.load(Worker, "worker_id = %s", [worker_id])
    return found[0]


def worker_counters(
    worker_id: str, stored: tuple[int | None, int | None, int | None] | None = None
) -> tuple[int, int, int]:
    """The worker's count_pending counters: ``stored`` (the row as read, if the caller
    read it already) plus what the running operation has added but not written."""
    if stored is None:
        rows = sql.fetch(
            f"SELECT n_pending, n_unique, n_last_scheduled FROM {sql.table(WorkerCounters)} "
            "WHERE worker_id = %s",
            [worker_id],
        )
        stored = rows[0] if rows else (0, 0, 0)
    # Changes of the running operation are written at its end: count them too.
    return tuple(
        (a or 0) + b for a, b in zip(stored, counters.pending_deltas(worker_id), strict=True)
    )


def deps_with_state(task_id: str) -> dict[str, tuple[str, float] | None]:
    """The task's dependencies with their (status, priority); None where not registered."""
    rows = sql.fetch(
        f"SELECT d.dep_id, t.status, t.priority FROM {Dependency._meta.db_table} d "
        f"LEFT JOIN {Task._meta.db_table} t ON t.task_id = d.dep_id WHERE d.task_id = %s",
        [task_id],
    )
    return {dep: None if status is None else (status, prio) for dep, status, prio in rows}


def deps_map(task_ids) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for part in sql.chunks(task_ids):
        rows = Dependency.objects.filter(task_id__in=part).values_list("task_id", "dep_id")
        for task_id, dep_id in rows:
            result.setdefault(task_id, []).append(dep_id)
    return result


def workers_map(task_ids) -> dict[str, list[str]]:
    """Runnable workers of each task, in the order they were first added."""
    result: dict[str, list[str]] = {}
    for part in sql.chunks(task_ids):
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

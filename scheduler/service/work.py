"""Handing out work: get_work and count_pending (spec §3.7, §3.8, §3.9)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from django.db import connection

from ..errors import InvalidArgument
from ..models import (
    Batcher,
    Dependency,
    RunnableBy,
    SchedulerFlag,
    Task,
    Worker,
    WorkerCounters,
)
from ..policy import add_amounts, has_capacity
from ..status import Status
from . import sql
from .base import Ctx, is_postgres, operation, operation_scope, require_str
from .maintenance import prune_if_due
from .registration import parse_for_worker
from .registry import (
    capacities,
    get_or_create_worker,
    remember_touched,
    touch_worker,
    worker_counters,
    workers_map,
)
from .tasks import register
from .transitions import (
    STATUS_FIELDS,
    apply_deferred_done_changes,
    defer_done_changes,
    set_status,
)

RANK = ("-priority", "time", "task_id")
CHUNK = 200

_UPSTREAM_DISABLED_SQL = """
WITH RECURSIVE ud(task_id) AS (
    SELECT d.task_id FROM {dep} d
    JOIN {task} up ON up.task_id = d.dep_id AND up.status = 'DISABLED'
    JOIN {task} t ON t.task_id = d.task_id AND t.status = 'PENDING'
  UNION
    SELECT d.task_id FROM {dep} d
    JOIN ud ON d.dep_id = ud.task_id
    JOIN {task} t ON t.task_id = d.task_id AND t.status = 'PENDING'
)
"""

_UD_COUNTS_SQL = """
SELECT COUNT(*),
       COALESCE(SUM(CASE WHEN t.n_workers = 1 THEN 1 ELSE 0 END), 0),
       COALESCE(SUM(CASE WHEN t.last_worker = %s THEN 1 ELSE 0 END), 0)
FROM {runnable} r JOIN {task} t ON t.task_id = r.task_id
WHERE r.worker_id = %s AND t.task_id IN (SELECT task_id FROM ud)
"""


def _tables() -> dict[str, str]:
    return {
        "task": Task._meta.db_table,
        "dep": Dependency._meta.db_table,
        "runnable": RunnableBy._meta.db_table,
    }


def _any_disabled() -> bool:
    return Task.objects.filter(status=Status.DISABLED).exists()


# The RUNNING tasks a worker may run (Luigi's get_work reply lists them), oldest first.
_RUNNING_SQL = (
    "SELECT t.task_id, t.worker_running, w.info, t.time FROM {task} t "
    "JOIN {worker} w ON w.worker_id = t.worker_running "
    "WHERE t.status = 'RUNNING' AND EXISTS (SELECT 1 FROM {runnable} r "
    # A probe of the (task, worker) index per running task: as a join, the plan
    # kept for this prepared statement walked every link of the worker for each
    # running task (1.2 ms per get_work at 5,000 links, against 0.1).
    "WHERE r.task_id = t.task_id AND r.worker_id = %s LIMIT 1 OFFSET 0) "
    "ORDER BY t.time, t.task_id"
)


def _running_tables() -> dict[str, str]:
    return {
        "task": sql.table(Task),
        "worker": sql.table(Worker),
        "runnable": sql.table(RunnableBy),
    }


def count_pending_reply(
    ctx: Ctx,
    worker: Worker,
    any_disabled: bool | None = None,
    stored: tuple[int | None, int | None, int | None] | None = None,
    running: list[tuple[str, str, dict]] | None = None,
) -> dict:
    """The worker's maintained counters (``stored`` if the caller read them), less its
    upstream-disabled tasks, and the running tasks it may run (``running``, rows of
    ``_RUNNING_SQL``, if the caller read them)."""
    n_pending, n_unique, n_last = worker_counters(worker.worker_id, stored)
    if _any_disabled() if any_disabled is None else any_disabled:
        tables = _tables()
        query = _UPSTREAM_DISABLED_SQL.format(**tables) + _UD_COUNTS_SQL.format(**tables)
        with connection.cursor() as cursor:
            cursor.execute(query, [worker.worker_id, worker.worker_id])
            ud_pending, ud_unique, ud_last = cursor.fetchone()
        n_pending -= ud_pending
        n_unique -= ud_unique
        n_last -= ud_last

    if running is None:
        info_field = Worker._meta.get_field("info")
        running = [
            (task_id, runner, info_field.from_db_value(info, None, connection))
            for task_id, runner, info, _time in sql.fetch(
                _RUNNING_SQL.format(**_running_tables()), [worker.worker_id]
            )
        ]
    running_tasks = [
        {"task_id": task_id, "worker": runner, **info} for task_id, runner, info in running
    ]
    return {
        "n_pending_tasks": int(n_pending),
        "n_unique_pending": int(n_unique),
        "n_pending_last_scheduled": int(n_last),
        "worker_state": worker.state,
        "running_tasks": running_tasks,
    }


def count_pending(ctx: Ctx, worker: Any = None, **_: Any) -> dict:
    worker_id = require_str("worker", worker)
    get_or_create_worker(ctx, worker_id)
    return count_pending_reply(ctx, Worker.objects.get(pk=worker_id))


def _rank_key(task: Task) -> tuple:
    return (-task.priority, task.time, task.task_id)


def _resend_and_reset_orphans(ctx: Ctx, worker_id: str, current: set[str]) -> Task | None:
    """The highest-ranked task this worker runs but did not list (it missed the reply),
    and batch members handed to it whose batch it never claimed go back to PENDING."""
    held = sql.load(
        Task,
        "worker_running = %s AND status IN ('RUNNING', 'BATCH_RUNNING')",
        [worker_id],
        suffix="FOR UPDATE" if is_postgres() else "",
    )
    running = [t for t in held if t.status == Status.RUNNING]
    missed = sorted((t for t in running if t.task_id not in current), key=_rank_key)
    claimed_batches = {t.batch_id for t in running if t.batch_id}
    for task in held:
        if task.status == Status.BATCH_RUNNING and task.batch_id not in claimed_batches:
            set_status(ctx, task, Status.PENDING, cause="batch not claimed", worker=worker_id)
    return missed[0] if missed else None


@dataclass(frozen=True)
class _Probe:
    trivial: bool  # no PENDING task this worker may run needs resources
    any_disabled: bool  # some task is DISABLED (count_pending subtracts its dependents)
    paused: bool  # the scheduler is paused
    holds: bool  # the worker runs a task (get_work may have to resend it)
    counters: tuple[int | None, int | None, int | None]  # its stored count_pending counters
    # (task_id, worker_running, worker info) of _RUNNING_SQL (PostgreSQL), None if not read
    running: list[tuple[str, str, dict]] | None


def _probe_columns(worker_id: str) -> tuple[str, list]:
    """The select list of get_work's probe (``_probe``), with its parameters; the
    worker's counters row is joined as ``c``."""
    task = sql.table(Task)
    # The statement is prepared: with has_resources a parameter, the plan PostgreSQL
    # keeps for it walked every PENDING task looking for one (20-28 ms at 50,000).
    # Written in, the value lets the partial index pl_task_needs_resources answer.
    # On PostgreSQL the reply's running tasks come along, as one JSON array.
    running = (
        "(SELECT json_agg(json_build_array(r.task_id, r.worker_running, r.info) "
        "ORDER BY r.time, r.task_id)::text "
        f"FROM ({_RUNNING_SQL.format(**_running_tables())}) r)"
        if is_postgres()
        else "NULL"
    )
    return (
        f"EXISTS (SELECT 1 FROM {task} WHERE status = 'PENDING' AND has_resources), "
        f"EXISTS (SELECT 1 FROM {task} WHERE status = 'DISABLED'), "
        f"(SELECT value FROM {sql.table(SchedulerFlag)} WHERE name = %s), "
        f"EXISTS (SELECT 1 FROM {task} WHERE worker_running = %s "
        "AND status IN ('RUNNING', 'BATCH_RUNNING')), "
        f"c.n_pending, c.n_unique, c.n_last_scheduled, {running}",
        [SchedulerFlag.PAUSED, worker_id, *([worker_id] if is_postgres() else [])],
    )


def _probe(worker: Worker) -> _Probe:
    """What get_work needs to know before it searches, in one round trip."""
    columns, params = _probe_columns(worker.worker_id)
    row = sql.fetch(
        f"SELECT {columns} FROM (SELECT 1 AS one) one "
        f"LEFT JOIN {sql.table(WorkerCounters)} c ON c.worker_id = %s",
        [*params, worker.worker_id],
    )[0]
    return _probe_row(worker, row)


def _probe_row(worker: Worker, row: tuple) -> _Probe:
    """The probe of ``worker`` from its columns (``_probe_columns``)."""
    task = sql.table(Task)
    any_resources, any_disabled, paused, holds = row[:4]
    found = _Probe(
        trivial=True,
        any_disabled=bool(any_disabled),
        paused=bool(_flag_value(paused)),
        holds=bool(holds),
        counters=tuple(row[4:7]),
        running=_running_rows(row[7]) if is_postgres() else None,
    )
    if worker.assistant:
        return replace(found, trivial=False)
    if not any_resources:
        return found
    mine = sql.fetch(
        f"SELECT 1 FROM {task} t WHERE t.status = 'PENDING' AND t.has_resources AND EXISTS "
        f"(SELECT 1 FROM {sql.table(RunnableBy)} r WHERE r.task_id = t.task_id "
        "AND r.worker_id = %s) LIMIT 1",
        [worker.worker_id],
    )
    return replace(found, trivial=not mine)


def _running_rows(text: str | None) -> list[tuple[str, str, dict]]:
    return [tuple(row) for row in json.loads(text)] if text else []  # NULL: no rows


def _ready(queryset=None):
    queryset = Task.objects.all() if queryset is None else queryset
    return queryset.filter(status=Status.PENDING, unmet_deps=0)


def _choose_trivial(worker: Worker) -> Task | None:
    suffix = "ORDER BY priority DESC, time, task_id LIMIT 1"
    if is_postgres():
        suffix += " FOR UPDATE SKIP LOCKED"
    # Walk the ready tasks in rank order and probe each one's link to this worker.
    # An OFFSET keeps the probe a per-row subquery: flattened into a join, its plan
    # depends on the statistics, and on a freshly filled table (or in a generic
    # plan prepared then) PostgreSQL chose a join scanning every link of the
    # worker for every ready task (33 ms instead of 1 at 500 tasks).
    found = sql.load(
        Task,
        f"status = 'PENDING' AND unmet_deps = 0 AND EXISTS (SELECT 1 FROM "
        f"{sql.table(RunnableBy)} r WHERE r.task_id = {sql.table(Task)}.task_id "
        "AND r.worker_id = %s LIMIT 1 OFFSET 0)",
        [worker.worker_id],
        suffix=suffix,
    )
    return found[0] if found else None


def _used_resources() -> dict[str, int]:
    used: dict[str, int] = {}
    running = Task.objects.filter(status=Status.RUNNING).values_list("resources_running", flat=True)
    for amounts in running:
        add_amounts(used, amounts)
    return used


def _choose_with_resources(ctx: Ctx, worker: Worker, assistant: bool) -> Task | None:
    """Luigi's greedy scan, over RUNNING tasks and ready PENDING tasks in rank order."""
    if is_postgres():
        SchedulerFlag.objects.get_or_create(pk=SchedulerFlag.RESOURCE_LOCK)
        SchedulerFlag.objects.select_for_update().get(pk=SchedulerFlag.RESOURCE_LOCK)
    capacity = capacities(ctx)
    used = _used_resources()
    greedy: dict[str, int] = {}
    horizon = ctx.now - ctx.config.worker_disconnect_delay
    budget = {
        w.worker_id: w.processes
        for w in Worker.objects.filter(last_get_work__gt=horizon, disabled=False)
    }
    running = sorted(Task.objects.filter(status=Status.RUNNING), key=_rank_key)
    me = worker.worker_id

    def advance(task: Task) -> None:
        # RUNNING tasks ranked above `task` hold resources in the greedy reservation.
        nonlocal ri
        while ri < len(running) and _rank_key(running[ri]) < _rank_key(task):
            holder = running[ri].worker_running
            if holder in budget:
                budget[holder] -= 1
                add_amounts(greedy, running[ri].resources_running or running[ri].resources)
            ri += 1

    def fits(task: Task) -> bool:
        return has_capacity(task.resources, greedy, capacity)

    def consider(task: Task, runners: list[str]) -> bool:
        if not fits(task):
            return False
        mine = (assistant and task.runnable) or me in runners
        if mine and has_capacity(task.resources, used, capacity):
            return True
        candidates = [*runners, me] if assistant else runners
        for runner in candidates:
            if budget.get(runner, 0) > 0:
                budget[runner] -= 1
                add_amounts(greedy, task.resources)
                break
        return False

    ri = 0
    ready = _ready().order_by(*RANK)
    offset = 0
    while any(v > 0 for v in budget.values()):
        # Small first: usually one of the first few candidates is chosen.
        size = min(CHUNK, 16 * 4 ** min(offset // 16, 3)) if offset else 16
        chunk = list(ready[offset : offset + size])
        offset += len(chunk)
        runners = workers_map([t.task_id for t in chunk])
        for task in chunk:
            advance(task)
            if consider(task, runners.get(task.task_id, [])):
                return task
        if len(chunk) < size:
            return None
    # No greedy budget left, so nothing more is reserved for other workers: only
    # this worker's own ready tasks can still be chosen (re-checking earlier ones
    # is harmless: the reservation only grew since they were turned down).
    mine = ready.filter(runnable=True) if assistant else ready.filter(runnable_links__worker_id=me)
    for task in _in_chunks(mine):
        advance(task)
        if fits(task) and has_capacity(task.resources, used, capacity):
            return task
    return None


def _in_chunks(ordered: Any) -> Iterator[Task]:
    """The rows of an ordered queryset, read CHUNK at a time. (Not
    ``QuerySet.iterator``: its server-side cursor is refused in pipeline mode.)"""
    offset = 0
    while True:
        chunk = list(ordered[offset : offset + CHUNK])
        yield from chunk
        if len(chunk) < CHUNK:
            return
        offset += CHUNK


def _collect_batch(best: Task, worker: Worker, trivial: bool) -> tuple[list[Task], dict]:
    batcher = Batcher.objects.filter(worker_id=worker.worker_id, family=best.family).first()
    if batcher is None or not batcher.batched_args or not best.batchable:
        return [best], {}
    names = list(batcher.batched_args)
    if any(name not in best.params for name in names):
        return [best], {}
    limit = batcher.max_batch_size or 10**9
    unbatched = {k: v for k, v in best.params.items() if k not in names}
    batched = {name: [best.params[name]] for name in names}
    members = [best]
    candidates = _ready().filter(family=best.family, batchable=True).exclude(pk=best.pk)
    if trivial:
        candidates = candidates.filter(runnable_links__worker_id=worker.worker_id)
    best_rank = _rank_key(best)
    for task in _in_chunks(candidates.order_by(*RANK)):
        if len(members) >= limit:
            break
        if _rank_key(task) < best_rank:
            continue
        if task.resources != best.resources:
            continue
        if any(task.params.get(k) != v for k, v in unbatched.items()):
            continue
        for name in names:
            batched[name].append(task.params.get(name))
        members.append(task)
    return members, batched


def _lock_if_still_ready(task: Task) -> Task | None:
    locked = Task.objects.select_for_update().filter(
        pk=task.pk, status=Status.PENDING, unmet_deps=0
    )
    return locked.first()


def get_work(
    ctx: Ctx,
    host: Any = None,
    assistant: Any = False,
    current_tasks: Any = None,
    worker: Any = None,
    **_: Any,
) -> dict:
    return _hand_out(ctx, *_work_arguments(worker, host, assistant, current_tasks))


def report_and_get_work(
    ctx: Ctx,
    report: Any = None,
    host: Any = None,
    assistant: Any = False,
    current_tasks: Any = None,
    worker: Any = None,
    **_: Any,
) -> dict:
    """Ours, not Luigi's: ``add_task(**report)`` (a worker reporting the task it
    finished), then ``get_work``, in one call and one transaction: one round trip
    instead of two, and the reply may hand out a task the report made ready. Any
    failure rolls both back, so a client may send the whole call again."""
    # Every argument is checked before the report is applied.
    arguments = _work_arguments(worker, host, assistant, current_tasks)
    return _report_and_hand_out(ctx, parse_for_worker("report", report, arguments[0]), arguments)


@operation(pipelined=True)
def _report_and_hand_out(ctx: Ctx, report: Any, arguments: tuple) -> dict:
    # The worker's row is touched once, for both parts (register reads whether it is
    # disabled from the operation's cache).
    _touch_for_work(ctx, arguments[0], arguments[1])
    # The report's dependants' counters are updated after the claim: those rows (a
    # fan-in task every finished dependency decrements) are then held only for the
    # transaction's last statements, as long as a report of its own held them.
    defer_done_changes()
    register(ctx, report)
    reply = _hand_out_now(ctx, *arguments)
    made_ready = apply_deferred_done_changes()
    if made_ready and reply.get("task_id") is None and not reply.get("batch_id"):
        # Nothing else was ready: hand out what the report made ready.
        reply = _hand_out_now(ctx, *arguments)
    return reply


def _work_arguments(
    worker: Any, host: Any, assistant: Any, current_tasks: Any
) -> tuple[str, str | None, bool, list | None]:
    worker_id = require_str("worker", worker)
    if current_tasks is not None and not isinstance(current_tasks, list):
        raise InvalidArgument("current_tasks", "a list of task ids or null is required")
    return worker_id, None if host is None else str(host)[:255], bool(assistant), current_tasks


def _hand_out_now(
    ctx: Ctx,
    worker_id: str,
    host: str | None,
    assistant: bool,
    current_tasks: list | None,
) -> dict:
    """get_work inside the caller's transaction."""
    if ctx.config.prune_on_get_work:
        prune_if_due(ctx, force=True)

    w, probed = _touch_and_probe(ctx, worker_id, host)
    if w.disabled:
        return {
            "n_pending_tasks": 0,
            "running_tasks": [],
            "task_id": None,
            "n_unique_pending": 0,
            "worker_state": "disabled",
        }
    if assistant and not w.assistant:
        w.info = {**w.info, "assistant": True}
        sql.save_fields(w, ["info"])

    best = None
    probe = _probe(w) if probed is None else _probe_row(w, probed)
    if current_tasks is not None and probe.holds:
        best = _resend_and_reset_orphans(ctx, worker_id, {str(t) for t in current_tasks})
        # Batch members it reset are PENDING again: probe anew.
        probe = _probe(w)

    members: list[Task] = []
    batched: dict = {}
    if best is None and not probe.paused:
        trivial = probe.trivial
        for _attempt in range(5):
            found = _choose_trivial(w) if trivial else _choose_with_resources(ctx, w, assistant)
            if found is None:
                break
            best = found if trivial else _lock_if_still_ready(found)
            if best is not None:
                break
        if best is not None and best.batchable:
            members, batched = _collect_batch(best, w, trivial)

    reply = count_pending_reply(ctx, w, probe.any_disabled, probe.counters, probe.running)
    if len(members) > 1:
        batch_id = hashlib.md5(
            "|".join(t.task_id for t in members).encode(), usedforsecurity=False
        ).hexdigest()
        for task in members:
            set_status(
                ctx,
                task,
                Status.BATCH_RUNNING,
                cause="get_work batch",
                worker=worker_id,
                save=False,
            )
            task.batch_id = batch_id
            _mark_running(ctx, task, worker_id)
        reply.update(
            task_id=None,
            task_family=best.family,
            task_module=best.module,
            task_params={**best.params, **batched},
            batch_id=batch_id,
            batch_task_ids=[t.task_id for t in members],
        )
    elif best is not None:
        set_status(
            ctx, best, Status.RUNNING, cause="get_work", worker=worker_id, host=host, save=False
        )
        _mark_running(ctx, best, worker_id)
        reply.update(
            task_id=best.task_id,
            task_family=best.family,
            task_module=best.module,
            task_params=best.params,
        )
    else:
        reply["task_id"] = None
    return reply


_hand_out = operation(_hand_out_now, pipelined=True)


def _mark_running(ctx: Ctx, task: Task, worker_id: str) -> None:
    task.worker_running = worker_id
    task.resources_running = dict(task.resources or {})
    task.time_running = ctx.now
    sql.save_fields(task, [*STATUS_FIELDS, "worker_running", "resources_running", "time_running"])


_TOUCH_FOR_WORK = "last_active = %s, last_get_work = %s, host = %s"


def _touch_for_work(ctx: Ctx, worker_id: str, host: str | None) -> Worker:
    """The worker's row with last_active, last_get_work and host set, once per
    operation (report_and_get_work touches it before the report)."""
    return _touch_and_probe(ctx, worker_id, host, probe=False)[0]


def _touch_and_probe(
    ctx: Ctx, worker_id: str, host: str | None, *, probe: bool = True
) -> tuple[Worker, tuple | None]:
    """``_touch_for_work``, and with ``probe`` on PostgreSQL, where the worker's row is
    not touched yet in this operation, the probe's columns (``_probe_columns``) read by
    the same statement (None where they were not read): one statement fewer per
    get_work."""
    scope = operation_scope()
    cache = scope.data.setdefault(_WORKERS, {}) if scope is not None else {}
    w = cache.get(worker_id)
    if w is not None:
        return w, None
    params = [ctx.now, ctx.now, host, worker_id]
    probed = None
    if probe and is_postgres():
        columns, extra = _probe_columns(worker_id)
        found = sql.update_returning_with(
            Worker,
            _TOUCH_FOR_WORK,
            "worker_id = %s",
            params,
            columns,
            extra,
            joins=f"LEFT JOIN {sql.table(WorkerCounters)} c ON c.worker_id = u.worker_id",
        )
        w, probed = found[0] if found else (None, None)
    else:
        found = sql.update_returning(Worker, _TOUCH_FOR_WORK, "worker_id = %s", params)
        w = found[0] if found else None
    if w is None:  # a new worker
        w = touch_worker(ctx, worker_id, get_work=True, host=host)
    cache[worker_id] = w
    remember_touched(worker_id, w.disabled)
    return w, probed


_WORKERS = __name__ + ".workers"


def _flag_value(raw: Any) -> Any:
    if raw is None:
        return None
    return SchedulerFlag._meta.get_field("value").from_db_value(raw, None, connection)

"""add_tasks: many add_task calls of one worker in one transaction, set-based.

A worker registers its whole graph before it runs anything (Luigi's workers
call add_task once per task; runworker sends them here in chunks). Called one
by one, each registration costs about ten statements; here a run of plain
registrations costs about ten statements in all:

- a *new* task registered PENDING (runnable, no batch, no tracking URL), or
- an *existing* PENDING task registered PENDING again with the same
  dependencies (another worker joining the same graph),

are applied together: the rows are read and locked once, the Task rows
inserted or updated in bulk, the edges, runnable links and stakeholders
inserted in bulk, the count_pending counters moved once per worker, and the
status changes recorded in the outbox with one INSERT and handed to history
and metrics as one ``task_status_changed_many``. Every other registration
(DONE, FAILED, RUNNING, a changed dependency set, a disabled worker, a task
registered twice in one call, ...) goes through add_task's own code, in order,
inside the same transaction. The result is the same as the calls made one by
one, in the order given.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ..errors import InvalidArgument
from ..models import Dependency, RunnableBy, Stakeholder, Task
from ..policy import retry_policy
from ..signals import task_status_changed_many
from ..status import Status
from . import counters, outbox, sql
from .base import Ctx, StatusChange, is_postgres, lock_for_share, logger, operation, require_str
from .counters import COUNTED
from .pipelining import commit_without_flush
from .registry import touch_worker_disabled
from .sql import chunks
from .tasks import Registration, parse_add_task, raise_priority, register

#: Most registrations one add_tasks call may carry.
MAX_TASKS = 1000
#: pg_advisory_xact_lock key serialising registrations (see _serialise).
ADVISORY_LOCK_KEY = 0x72756E776B  # "runwk"


@operation(pipelined=True)
def add_tasks(ctx: Ctx, worker: Any = None, tasks: Any = None, **_: Any) -> dict:
    """Register ``tasks`` (add_task argument objects) for ``worker``, in order."""
    worker_id = require_str("worker", worker)
    if not isinstance(tasks, list):
        raise InvalidArgument("tasks", "a list of add_task argument objects is required")
    if len(tasks) > MAX_TASKS:
        raise InvalidArgument("tasks", f"{len(tasks)} registrations; at most {MAX_TASKS} per call")
    parsed = [parse_for_worker(f"tasks[{i}]", item, worker_id) for i, item in enumerate(tasks)]
    if all(r.status == Status.PENDING for r in parsed):
        commit_without_flush()  # registrations only, no report
    _serialise()
    disabled = touch_worker_disabled(ctx, worker_id)
    start = bulk = one_by_one = 0
    while start < len(parsed):
        if not disabled and not one_by_one:
            taken, one_by_one = _plain_run(ctx, worker_id, parsed, start)
            bulk += taken
            start += taken
            if taken:
                continue
        if start < len(parsed):
            register(ctx, parsed[start])
            start += 1
            one_by_one = max(0, one_by_one - 1)
    logger.info("registered %d tasks for worker %s (%d in bulk)", len(parsed), worker_id, bulk)
    return {"registered": len(parsed)}


def parse_for_worker(name: str, item: Any, worker_id: str) -> Registration:
    """One add_task argument object sent by ``worker_id`` (argument ``name`` of the
    call), checked; errors name the argument inside it (``tasks[3].priority``)."""
    if not isinstance(item, dict):
        raise InvalidArgument(name, "an object of add_task arguments is required")
    if item.get("worker", worker_id) != worker_id:
        raise InvalidArgument(f"{name}.worker", "must be the calling worker (or absent)")
    arguments = {k: v for k, v in item.items() if isinstance(k, str) and k.isidentifier()}
    arguments["worker"] = worker_id
    try:
        return parse_add_task(**arguments)
    except InvalidArgument as exc:
        raise InvalidArgument(f"{name}.{exc.argument}", str(exc).split(": ", 1)[-1]) from None


def _serialise() -> None:
    """One registration transaction at a time on PostgreSQL: several workers
    registering the same graph would take the same rows in different orders
    (each deadlock costs the server's deadlock_timeout). SQLite's IMMEDIATE
    transactions serialise writers anyway."""
    if is_postgres():
        sql.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK_KEY])


def _plain(r: Registration) -> bool:
    """May take the bulk path, whatever the task's stored state."""
    return (
        r.status == Status.PENDING
        and bool(r.runnable)
        and not r.new_deps
        and r.batch_id is None
        and r.tracking_url is None
    )


def _plain_run(ctx: Ctx, worker_id: str, parsed: list[Registration], start: int) -> tuple[int, int]:
    """Apply the longest run of plain registrations from ``start``: how many, and how
    many of those after them are known to need add_task's own path (see
    ``_Run.blocked``), so that no bulk run is tried again for each of them."""
    window: list[Registration] = []
    seen: set[str] = set()
    for r in parsed[start:]:
        if not _plain(r) or r.task_id in seen:
            break
        seen.add(r.task_id)
        window.append(r)
    if not window:
        return 0, 0
    run = _Run(ctx, worker_id, window)
    taken = run.apply()
    if taken:
        run.flush()
    return taken, run.blocked(taken)


def _edges_query(task_ids: list[str]) -> tuple[str, list]:
    """(task, dependency, its status, its priority) for every edge of these tasks."""
    dep, task = sql.table(Dependency), sql.table(Task)
    if is_postgres():
        # Index probes per task and per edge, whatever the plan (see sql.rows_by_pk).
        return (
            f"SELECT v.id, e.dep_id, t.status, t.priority FROM unnest({sql.TEXT_ARRAY}) AS v(id) "
            f"CROSS JOIN LATERAL (SELECT d.dep_id FROM {dep} d WHERE d.task_id = v.id "
            "OFFSET 0) e "
            f"LEFT JOIN LATERAL (SELECT t.status, t.priority FROM {task} t "
            "WHERE t.task_id = e.dep_id OFFSET 0) t ON true",
            [task_ids],
        )
    marks = ", ".join(["%s"] * len(task_ids))
    return (
        f"SELECT d.task_id, d.dep_id, t.status, t.priority FROM {dep} d "
        f"LEFT JOIN {task} t ON t.task_id = d.dep_id WHERE d.task_id IN ({marks})",
        task_ids,
    )


#: The fields ``_Run._fill`` and ``_Run._link`` set on an existing task: those
#: compared to find what to UPDATE. Both assign new values (never change a dict
#: or list in place), so the values read before need no copy.
FILLED_FIELDS = (
    "family",
    "module",
    "param_visibilities",
    "params",
    "display_name",
    "accepts_messages",
    "tracking_url",
    "batchable",
    "remove_at",
    "expl",
    "resources",
    "has_resources",
    "retry_policy",
    "runnable",
    "priority",
    "n_workers",
    "last_worker",
)


class _Run:
    """The state read for a run of plain registrations, and the writes it collects."""

    def __init__(self, ctx: Ctx, worker_id: str, window: list[Registration]) -> None:
        self.ctx, self.worker_id, self.window = ctx, worker_id, window
        ids = [r.task_id for r in window]
        self.rows: dict[str, Task] = {}
        for part in chunks(sorted(ids)):  # locked in task id order
            for task in sql.load_by_pk(Task, part, lock="UPDATE"):
                self.rows[task.task_id] = task
        existing = sorted(self.rows)
        self.current: dict[str, dict[str, tuple[str, float] | None]] = defaultdict(dict)
        self.linked: set[str] = set()
        for part in chunks(existing):
            for task_id, dep, status, prio in sql.fetch(*_edges_query(part)):
                self.current[task_id][dep] = None if status is None else (status, prio)
            self.linked.update(
                row[0]
                for row in sql.fetch(
                    *sql.ids_having(RunnableBy, "task_id", part, "r.worker_id = %s", [worker_id])
                )
            )
        # Dependencies of new tasks: their state, held until commit (as add_task does).
        new_deps = {d for r in window if r.task_id not in self.rows for d in (r.deps or [])} - set(
            self.rows
        )
        self.shared = lock_for_share(new_deps)
        # Writes.
        self.inserted: list[Task] = []
        self.updated: list[tuple[Task, list[str]]] = []
        self.placeholders: dict[str, Task] = {}
        self.edges: list[tuple[str, str]] = []
        self.links: list[tuple[str, str]] = []
        self.stakes: list[tuple[str, str]] = []
        self.deltas: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        self.raises: dict[float, list[str]] = defaultdict(list)

    def _state(self, task_id: str, read: dict | None = None) -> tuple[str, float] | None:
        """(status, priority) of a dependency as this run sees it: what the run
        made or loaded, else what was read (``read``: an existing task's edges)."""
        task = self.placeholders.get(task_id) or self.rows.get(task_id)
        if task is not None:
            return task.status, task.priority
        return (read if read is not None else self.shared).get(task_id)

    def apply(self) -> int:
        taken = 0
        for r in self.window:
            if r.task_id in self.placeholders:
                break  # registered after a dependant made it UNKNOWN: add_task's path
            task = self.rows.get(r.task_id)
            if task is None:
                self._new(r)
            elif not self._existing(r, task):
                break
            taken += 1
        return taken

    def blocked(self, taken: int) -> int:
        """How many registrations of the window from ``taken`` on stop a bulk run
        where they stand: tasks that exist (as read, or as placeholders this run
        made) but cannot take them in bulk, e.g. the UNKNOWN placeholders a
        dependant registered first made. Registered root first, a graph is mostly
        such tasks; trying a bulk run (which reads and locks the whole window) before
        each of them would cost time quadratic in the window."""
        count = 0
        for r in self.window[taken:]:
            if r.task_id not in self.placeholders:
                task = self.rows.get(r.task_id)
                if task is None or self._fits(r, task):
                    break
            count += 1
        return count

    def _fits(self, r: Registration, task: Task) -> bool:
        """May the existing row ``task`` take registration ``r`` in bulk?"""
        if task.status != Status.PENDING or task.batch_id is not None:
            return False
        return r.deps is None or set(r.deps) == set(self.current.get(task.task_id, {}))

    def _fill(self, task: Task, r: Registration) -> None:
        """add_task's field updates for a plain registration."""
        if not task.family:
            task.family = r.family
        if not task.module:
            task.module = r.module
        if not task.param_visibilities:
            task.param_visibilities = r.visibilities
        if not task.params:
            task.params = r.params
        task.display_name = task.pretty_id()
        if r.accepts_messages is not None:
            task.accepts_messages = bool(r.accepts_messages)
        task.tracking_url = None
        if r.batchable is not None:
            task.batchable = bool(r.batchable)
        task.remove_at = None
        if r.expl is not None:
            task.expl = r.expl
        task.resources = r.resources
        task.has_resources = bool(r.resources)
        task.retry_policy = retry_policy(self.ctx.config, r.policy_dict).as_dict()
        task.runnable = True
        task.priority = max(task.priority, r.priority)

    def _link(self, task: Task) -> None:
        """counters.link_added, collected: (n_pending, n_unique, n_last_scheduled) deltas."""
        worker_id = self.worker_id
        old_n, old_last = task.n_workers, task.last_worker
        task.n_workers = old_n + 1
        task.last_worker = worker_id
        self.links.append((task.task_id, worker_id))
        if task.status not in COUNTED:
            return
        mine = self.deltas[worker_id]
        mine[0] += 1
        mine[1] += 1 if old_n == 0 else 0
        mine[2] += 1
        other = old_last or worker_id
        if other != worker_id:
            theirs = self.deltas[other]
            theirs[1] -= 1 if old_n == 1 else 0
            theirs[2] -= 1

    def _deps(self, task: Task, r: Registration, deps: list[str], read: dict | None) -> None:
        """Stakeholders, placeholders for unknown dependencies, priority inheritance."""
        lower = []
        priority = r.priority
        for dep in deps:
            state = self._state(dep, read)
            if state is None:
                if not r.assistant:
                    self.placeholders[dep] = Task(
                        task_id=dep,
                        status=Status.UNKNOWN,
                        priority=priority,
                        time=self.ctx.now,
                        updated=self.ctx.now,
                    )
                    if priority < task.priority:
                        lower.append(dep)
            elif state[1] < task.priority:
                lower.append(dep)
        if not r.assistant:
            self.stakes.extend((t, self.worker_id) for t in [task.task_id, *sorted(deps)])
        if lower:
            self.raises[task.priority].extend(lower)

    def _new(self, r: Registration) -> None:
        now = self.ctx.now
        task = Task(task_id=r.task_id, status=Status.PENDING, priority=r.priority, time=now)
        task.updated = now
        self._fill(task, r)
        deps = list(r.deps or [])
        task.unmet_deps = sum(1 for d in deps if (self._state(d) or (None,))[0] != Status.DONE)
        self._link(task)
        self.edges.extend((task.task_id, d) for d in sorted(deps))
        self._deps(task, r, deps, None)
        self.rows[task.task_id] = task
        self.inserted.append(task)

    def _existing(self, r: Registration, task: Task) -> bool:
        if not self._fits(r, task):
            return False
        current = self.current.get(task.task_id, {})
        loaded = [getattr(task, name) for name in FILLED_FIELDS]
        self._fill(task, r)
        if task.last_worker != self.worker_id and task.task_id not in self.linked:
            self._link(task)
        self._deps(task, r, sorted(current), current)
        changed = [
            name
            for name, old in zip(FILLED_FIELDS, loaded, strict=True)
            if getattr(task, name) != old
        ]
        if changed:
            self.updated.append((task, changed))
        return True

    def flush(self) -> None:
        ctx = self.ctx
        _insert(self.inserted)
        for fields, tasks in _by_fields(self.updated).items():
            sql.save_fields_many(tasks, fields)
        if self.placeholders:
            sql.insert_many(list(self.placeholders.values()), ignore_conflicts=True)
        sql.insert_ignore(Dependency, ("task", "dep_id"), self.edges)
        sql.insert_ignore(RunnableBy, ("task", "worker"), self.links)
        sql.insert_ignore(Stakeholder, ("task", "worker"), self.stakes)
        for worker_id, (pending, unique, last) in self.deltas.items():
            counters.add(worker_id, pending, unique, last)
        changes = _emit(ctx, self.inserted, self.worker_id)
        for priority, ids in self.raises.items():
            raise_priority(sorted(set(ids)), priority)
        if changes:
            tasks = {t.task_id: t for t in self.inserted}
            task_status_changed_many.send(sender=Task, changes=changes, tasks=tasks)


def _by_fields(updated: list[tuple[Task, list[str]]]) -> dict[tuple[str, ...], list[Task]]:
    groups: dict[tuple[str, ...], list[Task]] = defaultdict(list)
    for task, fields in updated:
        groups[tuple(fields)].append(task)
    return groups


def _insert(tasks: list[Task]) -> None:
    """INSERT the new rows; a row another transaction created meanwhile is an
    IntegrityError, and the operation runs again."""
    columns = [f.name for f in Task._meta.concrete_fields]
    sql.insert_rows(Task, columns, [[getattr(t, name) for name in columns] for t in tasks])


def _emit(ctx: Ctx, tasks: list[Task], worker_id: str) -> list[StatusChange]:
    """The new tasks' "" -> PENDING changes, queued for the outbox in registration order."""
    changes: list[StatusChange] = []
    for t in tasks:
        logger.debug("task %s: new -> PENDING (add_task, worker %s)", t.task_id, worker_id)
        changes.append(
            StatusChange(
                seq=0,
                task_id=t.task_id,
                family=t.family,
                old_status="",
                new_status=Status.PENDING,
                at=ctx.now,
                cause="add_task",
                worker=worker_id,
                params=t.params,
            )
        )
    outbox.record(ctx, changes)
    return changes


__all__ = ["MAX_TASKS", "add_tasks"]

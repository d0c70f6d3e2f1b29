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
from . import sql
from .base import is_postgres, operation_scope, references_written

COUNTED = (Status.PENDING, Status.FAILED)
# Runs before the other end-of-transaction writes (metrics): every transaction
# takes those row locks in one order.
FLUSH_RANK = 0


def add(worker_id: str, pending: int, unique: int, last: int) -> None:
    """Add to a worker's counters, at the end of the running operation's transaction.

    Many transactions add to the same few rows (every registration moves the
    registering worker's counters and the previous last worker's), so the rows
    are locked as late as possible, in worker order, after every other lock the
    transaction takes (deferred foreign-key checks included): a transaction that
    holds counter rows never waits for a task row, which is what made concurrent
    registrations deadlock."""
    if not (pending or unique or last):
        return
    scope = operation_scope()
    if scope is None:
        _write({worker_id: [pending, unique, last]}, last_statements=False)
        return
    deltas = scope.data.get(__name__)
    if deltas is None:
        deltas = scope.data[__name__] = {}
        scope.before_commit(lambda: _write(deltas), rank=FLUSH_RANK)
    mine = deltas.setdefault(worker_id, [0, 0, 0])
    mine[0] += pending
    mine[1] += unique
    mine[2] += last


def pending_deltas(worker_id: str) -> tuple[int, int, int]:
    """What the running operation has added to this worker's counters, not yet written."""
    scope = operation_scope()
    deltas = scope.data.get(__name__) if scope is not None else None
    return tuple((deltas or {}).get(worker_id, (0, 0, 0)))


def _write(deltas: dict[str, list[int]], last_statements: bool = True) -> None:
    rows = [(w, *d) for w, d in sorted(deltas.items()) if any(d)]
    if not rows:
        return
    if last_statements and is_postgres() and references_written():
        # Check the transaction's deferred foreign keys now (locking the rows they
        # reference) rather than at COMMIT, while the counter rows are held. (A
        # claim or a report of a linked task writes none: one statement fewer.)
        sql.send("SET CONSTRAINTS ALL IMMEDIATE")
    if len(rows) > 1 and is_postgres():
        _write_many(rows)
        return
    for worker_id, pending, unique, last in rows:
        sql.send(
            f"UPDATE {sql.table(WorkerCounters)} SET n_pending = n_pending + %s, "
            "n_unique = n_unique + %s, n_last_scheduled = n_last_scheduled + %s "
            "WHERE worker_id = %s",
            [pending, unique, last, worker_id],
        )


def _write_many(rows: list[tuple[str, int, int, int]]) -> None:
    """Several workers' counters in one statement (a task that four workers want
    moves four rows). The rows are locked in worker order first, as one UPDATE per
    row did: the UPDATE reaches a row only through the ordered locking scan."""
    table = sql.table(WorkerCounters)
    sql.send(
        "WITH v(worker_id, p, u, l) AS MATERIALIZED ("
        f"SELECT * FROM unnest({sql.TEXT_ARRAY}, %s::int[], %s::int[], %s::int[])), "
        f"locked AS MATERIALIZED (SELECT c.worker_id FROM {table} c "
        "WHERE c.worker_id IN (SELECT worker_id FROM v) ORDER BY c.worker_id FOR UPDATE) "
        f"UPDATE {table} SET n_pending = {table}.n_pending + v.p, "
        f"n_unique = {table}.n_unique + v.u, "
        f"n_last_scheduled = {table}.n_last_scheduled + v.l "
        f"FROM v JOIN locked ON locked.worker_id = v.worker_id "
        f"WHERE {table}.worker_id = v.worker_id",
        [list(column) for column in zip(*rows, strict=True)],
    )


def status_changed(task: Task, old_status: str, new_status: str) -> None:
    was, now = old_status in COUNTED, new_status in COUNTED
    if was == now or task.n_workers == 0:
        return
    delta = 1 if now else -1
    sole = 1 if task.n_workers == 1 else 0
    if task.n_workers == 1 and task.last_worker:
        linked = [task.last_worker]
    else:
        linked = [
            row[0]
            for row in sql.fetch(
                f"SELECT worker_id FROM {sql.table(RunnableBy)} WHERE task_id = %s",
                [task.task_id],
            )
        ]
    for worker_id in linked:
        add(worker_id, delta, delta * sole, delta if worker_id == task.last_worker else 0)


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
    add(worker_id, 1, 1 if old_n == 0 else 0, 1)
    other = old_last or worker_id
    if other != worker_id:
        add(other, 0, -1 if old_n == 1 else 0, -1)


def recount(task_ids: list[str] | None = None) -> None:
    """Recompute the link summaries of these tasks (all if None) and every worker's
    counters from scratch, after links were removed (the running operation's counter
    changes not yet written are dropped: the recount includes them)."""
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
            for part in sql.chunks(task_ids):
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
            # A task's last worker is one of its runnable workers (the summary above):
            # through the worker's links, as the other two (last_worker is in no index).
            f"n_last_scheduled = (SELECT COUNT(*) FROM {link_table} r JOIN {task_table} t "
            f"ON t.task_id = r.task_id WHERE r.worker_id = {worker_table}.worker_id "
            f"AND t.status IN {statuses} AND t.last_worker = r.worker_id)"
        )
    # What the running operation has added so far is in the rows just counted (its
    # status changes and links are written as they are made): adding it at the end
    # of the transaction as well would count it twice.
    scope = operation_scope()
    if scope is not None and __name__ in scope.data:
        scope.data[__name__].clear()

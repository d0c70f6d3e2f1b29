"""The StatusEvent outbox: an operation's status changes, written as its last statement.

A change's seq is its outbox row id, and live views deliver changes in seq order.
On PostgreSQL an id is taken when its row is inserted while transactions commit
in any order, so a live feed that sees id 12 before 11 holds 12 back until 11
commits (or a grace period passes). Rows inserted in the middle of a transaction
kept such gaps open for the rest of it: every change another worker committed
meanwhile waited. Here the operation's changes are queued and inserted by one
statement at the end of its transaction (after the counters and metrics), so a
gap lasts about as long as a COMMIT, and a transaction with many changes costs
one INSERT instead of one per change.

Inside the transaction a queued change has seq 0 (receivers of
``task_status_changed`` see it so); the call context's ``changes`` and
``task_status_committed`` get the changes with their ids. Outside an operation
(no scope to wait for) the rows are written at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from django.db import transaction

from ..models import StatusEvent, Task
from ..signals import task_status_committed
from . import pipelining, sql
from .base import Ctx, StatusChange, operation_scope
from .feed import EVENT_FIELDS

#: After counters (0) and metrics (1): the ids are taken just before COMMIT.
OUTBOX_RANK = 100

_COLUMNS = EVENT_FIELDS[1:]  # every event column but the id
_PG_TYPES = ("float8", "text", "text", "text", "text", "text", "text", "text", "text")


def record(ctx: Ctx, changes: Sequence[StatusChange]) -> None:
    """Queue ``changes`` (made under ``ctx``, in this order) for the outbox."""
    pending = [(ctx, change) for change in changes]
    scope = operation_scope()
    if scope is None:
        _write(pending)
        return
    queued = scope.data.get(__name__)
    if queued is None:
        queued = scope.data[__name__] = []
        scope.before_commit(lambda: _write(queued), rank=OUTBOX_RANK)
    queued.extend(pending)


def _write(pending: list[tuple[Ctx, StatusChange]]) -> None:
    if not pending:
        return

    def numbered(ids: list[int]) -> None:
        written = []
        for (ctx, change), seq in zip(pending, ids, strict=True):
            final = dataclasses.replace(change, seq=seq)
            ctx.changes.append(final)
            written.append(final)
        transaction.on_commit(lambda: _committed(written))

    _insert([_row(change) for _, change in pending], numbered)


def _row(change: StatusChange) -> tuple:
    return (
        change.at,
        change.task_id,
        change.family,
        change.old_status,
        change.new_status,
        change.cause[:64],
        change.worker,
        change.host,
        change.user,
    )


#: Rows per multi-row VALUES insert; more changes (a registration) go as arrays.
VALUES_ROWS = 20


def _insert(rows: list[tuple], then: Callable[[list[int]], None]) -> None:
    """Insert the rows; call ``then`` with their ids, ascending in the order of
    ``rows``. In a pipelined transaction the ids are read when its last sync brings
    them (with the COMMIT's answer): one wait fewer."""
    table = sql.table(StatusEvent)
    names = sql.column_list(StatusEvent, _COLUMNS)
    if sql.is_postgres() and len(rows) > VALUES_ROWS:
        # Take the ids first and give the k-th smallest to the k-th row: ordered by
        # construction, whatever order the database inserts or returns rows in. One
        # statement text for any number of rows, but it costs about four times a
        # VALUES insert of a few rows (planned anew for its array parameters).
        arrays = ", ".join(sql.array_mark(t) for t in _PG_TYPES)
        aliases = ", ".join(f"c{i}" for i in range(len(_PG_TYPES)))
        _fetch_ids(
            "WITH ids AS (SELECT nextval((SELECT pg_get_serial_sequence(%s, 'id'))::regclass)"
            " AS id FROM generate_series(1, %s)), "
            "numbered AS (SELECT id, row_number() OVER (ORDER BY id) AS k FROM ids) "
            f"INSERT INTO {table} (id, {names}) SELECT n.id, {aliases} FROM numbered n "
            f"JOIN unnest({arrays}) WITH ORDINALITY AS v({aliases}, k) ON v.k = n.k "
            "RETURNING id",
            [table, len(rows), *(list(column) for column in zip(*rows, strict=True))],
            then,
        )
        return
    # A few rows (a report and the next claim: two): one VALUES list. Both databases
    # insert its rows in the order listed, each taking the next id as it is
    # inserted, so the k-th smallest id returned is the k-th row's (RETURNING's own
    # order is not promised).
    if len(rows) <= VALUES_ROWS:
        _fetch_ids(*sql.values_insert(StatusEvent, _COLUMNS, rows, "RETURNING id"), then)
        return
    ids: list[int] = []  # SQLite, many rows
    for start in range(0, len(rows), VALUES_ROWS):
        part = rows[start : start + VALUES_ROWS]
        found = sql.fetch(*sql.values_insert(StatusEvent, _COLUMNS, part, "RETURNING id"))
        ids += sorted(row[0] for row in found)
    then(ids)


def _fetch_ids(statement: str, params: list, then: Callable[[list[int]], None]) -> None:
    """One INSERT ... RETURNING id; ``then`` gets the ids in ascending order."""

    def sorted_ids(found: list[tuple]) -> None:
        then(sorted(row[0] for row in found))

    if not pipelining.fetch_after_sync(statement, params, sorted_ids):
        sorted_ids(sql.fetch(statement, params))


def _committed(changes: list[StatusChange]) -> None:
    for change in changes:
        task_status_committed.send(sender=Task, change=change)

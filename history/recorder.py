"""Writes history in the transaction of every status change (scheduler's
``task_status_changed``), on the scheduler's hot path.

Per change: one UPDATE of the task's latest run (found through the
``(task_id, -id)`` index, its decision whether the change joins that run in the
WHERE clause, the run id back through RETURNING) and one INSERT of the event.
When the change opens a new run (see ``history.models``), an INSERT of the run
takes the UPDATE's place after it matched nothing. No SELECT. On PostgreSQL the
three are one statement (data-modifying CTEs).

Status changes of one task are serialised by the scheduler's row lock on the
task, so two changes never race for the same task's latest run.
"""

from __future__ import annotations

import json
from collections import Counter
from functools import cache
from typing import Any

from django.db import connection

from scheduler.conf import get_config
from scheduler.service import sql

from .models import RUNNING_STATUSES, Event, Run

_RUNNING_SQL = ", ".join(f"'{s}'" for s in RUNNING_STATUSES)
# The latest run has not started yet, or is still running: a PENDING or RUNNING
# change belongs to it; otherwise that change opens the next run.
_JOINABLE = f"(started_at IS NULL OR status IN ({_RUNNING_SQL}))"


def _quote(name: str) -> str:
    return sql.quote(name)


def _latest(run: str) -> str:
    return f"id = (SELECT MAX(id) FROM {run} WHERE task_id = %s)"


@cache
def _start_sql() -> str:
    run = _quote(Run._meta.db_table)
    return (
        f"UPDATE {run} SET status = %s, updated_at = %s, "
        "host = CASE WHEN started_at IS NULL THEN %s ELSE host END, "
        "worker = CASE WHEN started_at IS NULL THEN %s ELSE worker END, "
        "started_at = COALESCE(started_at, %s) "
        f"WHERE {_latest(run)} AND {_JOINABLE} RETURNING id"
    )


@cache
def _follow_sql(opens_after_end: bool) -> str:
    run = _quote(Run._meta.db_table)
    ending = f"status IN ({_RUNNING_SQL})"
    condition = f" AND {_JOINABLE}" if opens_after_end else ""
    return (
        f"UPDATE {run} SET status = %s, updated_at = %s, error = COALESCE(%s, error), "
        f"outcome = CASE WHEN {ending} THEN %s ELSE outcome END, "
        f"ended_at = CASE WHEN {ending} THEN %s ELSE ended_at END, "
        f"duration = CASE WHEN {ending} THEN %s - started_at ELSE duration END "
        f"WHERE {_latest(run)}{condition} RETURNING id"
    )


_RUN_COLUMNS = (
    "task_id",
    "family",
    "params",
    "host",
    "worker",
    "status",
    "error",
    "opened_at",
    "updated_at",
    "started_at",
)


@cache
def _insert_run_sql() -> str:
    marks = ", ".join(["%s"] * len(_RUN_COLUMNS))
    return (
        f"INSERT INTO {_quote(Run._meta.db_table)} ({', '.join(_RUN_COLUMNS)}) "
        f"VALUES ({marks}) RETURNING id"
    )


@cache
def _insert_event_sql() -> str:
    columns = ", ".join(
        _quote(c)
        for c in ("run_id", "at", "old_status", "status", "cause", "worker", "host", "user")
    )
    return (
        f"INSERT INTO {_quote(Event._meta.db_table)} ({columns}) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
    )


def _public_params(task: Any) -> dict:
    params = getattr(task, "params", None) or {}
    visibility = getattr(task, "param_visibilities", None) or {}
    return {k: v for k, v in params.items() if visibility.get(k, 0) == 0}


def error_of(change: Any, task: Any) -> str | None:
    """The error text of a worker-reported failure: the task's ``expl`` right now.

    Only a worker's report carries a fresh explanation; after other causes
    (a lost worker, the scheduler) ``expl`` still holds an older one.
    """
    failed = change.new_status == "FAILED" or (
        change.new_status == "DISABLED" and change.old_status in RUNNING_STATUSES
    )
    if failed and change.cause == "add_task":
        return readable(getattr(task, "expl", None))
    return None


def readable(expl: str | None) -> str | None:
    """Luigi workers send the traceback JSON-encoded; keep it as text."""
    if expl and expl.startswith('"'):
        try:
            decoded = json.loads(expl)
        except ValueError:
            return expl
        if isinstance(decoded, str):
            return decoded
    return expl


def record(sender: Any = None, change: Any = None, task: Any = None, **_: Any) -> None:
    """Receiver of ``scheduler.signals.task_status_changed``."""
    if change is None or not get_config().record_task_history:
        return
    at = change.at
    status = change.new_status
    starts = status in RUNNING_STATUSES
    if starts:
        error = None
        update = _start_sql(), [status, at, change.host, change.worker, at, change.task_id]
    else:
        error = error_of(change, task)
        update = (
            _follow_sql(opens_after_end=status == "PENDING"),
            [status, at, error, status, at, at, change.task_id],
        )
    params = Run._meta.get_field("params").get_db_prep_save(
        _public_params(task) if task is not None else (change.params or {}), connection
    )
    run_values = [
        change.task_id,
        change.family or "",
        params,
        change.host if starts else None,
        change.worker if starts else None,
        status,
        error,
        at,
        at,
        at if starts else None,
    ]
    event_values = [
        at,
        change.old_status,
        status,
        (change.cause or "")[:64],
        change.worker,
        change.host,
        change.user,
    ]
    if sql.is_postgres():
        # One statement: the latest run joined, else a new one, and the event.
        sql.send(_one_statement_sql(update[0]), [*update[1], *run_values, *event_values])
        return
    with sql.cursor() as cursor:
        cursor.execute(*update)
        row = cursor.fetchone()
        if row is None:
            cursor.execute(_insert_run_sql(), run_values)
            row = cursor.fetchone()
        cursor.execute(_insert_event_sql(), [row[0], *event_values])


@cache
def _one_statement_sql(update: str) -> str:
    """PostgreSQL: UPDATE the latest run, INSERT a run if it matched nothing, INSERT
    the event into whichever run it is, as one statement (data-modifying CTEs)."""
    insert_run = _insert_run_sql().replace(" VALUES (", " SELECT ", 1)
    insert_run = insert_run.replace(
        ") RETURNING id", " WHERE NOT EXISTS (SELECT 1 FROM upd) RETURNING id"
    )
    insert_event = _insert_event_sql().replace(" VALUES (%s, ", " SELECT r.id, ", 1)
    insert_event = insert_event[: insert_event.rindex(")")] + (
        " FROM (SELECT id FROM upd UNION ALL SELECT id FROM ins) r"
    )
    return f"WITH upd AS ({update}), ins AS ({insert_run}) {insert_event}"


def record_many(sender: Any = None, changes: Any = (), tasks: Any = None, **_: Any) -> None:
    """Receiver of ``scheduler.signals.task_status_changed_many``: the changes of
    tasks without any run yet open their first runs with one INSERT per 200 (and
    their events with another); any other change is recorded as ``record`` does."""
    if not changes or not get_config().record_task_history:
        return
    tasks = tasks or {}
    ids = sorted({c.task_id for c in changes})
    with_runs: set[str] = set()
    for start in range(0, len(ids), 500):
        part = ids[start : start + 500]
        with_runs.update(row[0] for row in sql.fetch(*sql.ids_having(Run, "task_id", part)))
    counts = Counter(c.task_id for c in changes)
    first: list[Any] = []
    for change in changes:
        if change.task_id in with_runs or counts[change.task_id] > 1:
            record(sender, change=change, task=tasks.get(change.task_id))
        else:
            first.append(change)
    if first:
        _open_runs(first, tasks)


def _open_runs(changes: list[Any], tasks: dict) -> None:
    params_field = Run._meta.get_field("params")
    rows = []
    for change in changes:
        task = tasks.get(change.task_id)
        starts = change.new_status in RUNNING_STATUSES
        error = None if starts else error_of(change, task)
        params = _public_params(task) if task is not None else (change.params or {})
        rows.append(
            [
                change.task_id,
                change.family or "",
                params_field.get_db_prep_save(params, connection),
                change.host if starts else None,
                change.worker if starts else None,
                change.new_status,
                error,
                change.at,
                change.at,
                change.at if starts else None,
            ]
        )
    found = sql.insert_returning(
        _quote(Run._meta.db_table),
        _RUN_COLUMNS,
        ("text", "text", "jsonb", "text", "text", "text", "text", "float8", "float8", "float8"),
        rows,
        "id, task_id",
    )
    run_ids = {task_id: run_id for run_id, task_id in found}
    with connection.cursor() as cursor:
        events = [
            [
                run_ids[c.task_id],
                c.at,
                c.old_status,
                c.new_status,
                (c.cause or "")[:64],
                c.worker,
                c.host,
                c.user,
            ]
            for c in changes
        ]
        cursor.executemany(_insert_event_sql(), events)

"""Reading rows by many ids (sql.rows_by_pk, sql.ids_having, the registration's edges).

Statements are prepared on PostgreSQL, and PostgreSQL may keep a generic plan made
without the values. Registration reads 200 ids at a time; an IN list planned that
way became a sequential scan of the task table per call. The generic plans of these
reads must keep the indexes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import connection, transaction

from scheduler.models import RunnableBy, Task, Worker
from scheduler.service import registration, sql
from scheduler.service.base import lock_for_share


def test_rows_by_pk_finds_the_rows_of_the_ids_that_exist(sched):
    for task_id in ("A", "B", "C"):
        sched.add(task_id, worker="X")
    sched.add("B", worker="Y")
    with transaction.atomic():
        loaded = sql.load_by_pk(Task, ["A", "C", "nope"], lock="UPDATE")
        shared = lock_for_share(["B", "C", "gone"])
    assert sorted(t.task_id for t in loaded) == ["A", "C"]
    assert all(isinstance(t, Task) and t.status == "PENDING" for t in loaded)
    assert shared == {"B": ("PENDING", 0.0), "C": ("PENDING", 0.0)}
    having = sql.ids_having(RunnableBy, "task_id", ["A", "B", "nope"], "r.worker_id = %s", ["Y"])
    assert {row[0] for row in sql.fetch(*having)} == {"B"}
    assert {row[0] for row in sql.fetch(*sql.ids_having(RunnableBy, "task_id", ["A", "B"]))} == {
        "A",
        "B",
    }


def test_edges_of_registered_tasks_with_their_dependencies_state(sched):
    sched.add("P", deps=["D1", "D2"])
    sched.add("D1")
    rows = sql.fetch(*registration._edges_query(["P", "D1", "nope"]))
    assert sorted(rows, key=lambda r: r[1]) == [
        ("P", "D1", "PENDING", 0.0),
        ("P", "D2", "UNKNOWN", 0.0),
    ]


def _generic_plan(statement: str, params: list) -> str:
    """EXPLAIN of ``statement`` as PostgreSQL's generic plan would run it."""
    numbered = iter(range(1, len(params) + 1))
    body = re.sub(r"%[sb]", lambda _: f"${next(numbered)}", statement)
    types = ", ".join(
        "text[]" if isinstance(p, list) else "float8" if isinstance(p, float) else "text"
        for p in params
    )
    raw = connection.connection
    with raw.cursor() as cursor:
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute(f"PREPARE generic_probe ({types}) AS {body}")
        try:
            from psycopg import sql as pgsql

            call = pgsql.SQL("EXPLAIN EXECUTE generic_probe ({})").format(
                pgsql.SQL(", ").join(pgsql.Literal(p) for p in params)
            )
            cursor.execute(call)
            return "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("DEALLOCATE generic_probe")


@pytest.mark.postgres_only  # generic plans are PostgreSQL's
def test_reads_by_many_ids_keep_the_indexes_in_a_generic_plan(db):
    # A table as a registration sees it: filled moments ago, never analyzed.
    ids = [f"T{i:05d}" for i in range(3000)]
    Task.objects.bulk_create(Task(task_id=t, time=0.0, updated=0.0) for t in ids)
    Worker.objects.create(worker_id="W", started=0.0, last_active=0.0)
    sql.execute(
        f"INSERT INTO {sql.table(RunnableBy)} (task_id, worker_id) "
        "SELECT t, 'W' FROM unnest(%s::text[]) AS t",
        [ids],
    )
    sample = ids[1000:1200]
    statements = {
        "task rows, locked": sql.rows_by_pk(Task, sample, "t.task_id", lock="UPDATE"),
        "lock for share": sql.rows_by_pk(Task, sample, "t.status", lock="SHARE"),
        "runnable links": sql.ids_having(RunnableBy, "task_id", sample, "r.worker_id = %s", ["W"]),
        "edges": registration._edges_query(sample),
    }
    with transaction.atomic():
        for name, (statement, params) in statements.items():
            plan = _generic_plan(statement, params)
            assert "Seq Scan" not in plan, f"{name}:\n{plan}"
            assert "Index" in plan, f"{name}:\n{plan}"


def _register(sched, worker: str, ids: list[str]) -> None:
    for start in range(0, len(ids), 1000):
        part = ids[start : start + 1000]
        sched("add_tasks", worker=worker, tasks=[{"task_id": t, "family": "T"} for t in part])


@contextmanager
def _captured() -> Iterator[list[tuple[str, list]]]:
    """The statements run inside, with their parameters (unlike CaptureQueriesContext,
    whose SQL has the values written in)."""
    statements: list[tuple[str, list]] = []

    def capture(execute, statement, params, many, context):
        statements.append((statement, list(params or [])))
        return execute(statement, params, many, context)

    with connection.execute_wrapper(capture):
        yield statements


@pytest.mark.postgres_only  # generic plans are PostgreSQL's
def test_the_running_tasks_of_a_reply_probe_the_links_in_a_generic_plan(sched):
    ids = [f"T{i:05d}" for i in range(3000)]
    _register(sched, "W", ids)
    for other in ("X", "Y", "Z"):  # run three of them
        _register(sched, other, ids[:3])
        assert sched.work(worker=other)["task_id"] in ids[:3]
    with _captured() as statements:
        reply = sched("count_pending", worker="W")
    assert len(reply["running_tasks"]) == 3
    [(statement, params)] = [s for s in statements if "worker_running, w.info" in s[0]]
    with transaction.atomic():
        plan = _generic_plan(statement, params)
    # The worker's link to each running task is one index probe (a SubPlan), not a
    # walk over all 3,000 links of the worker per running task.
    assert "SubPlan" in plan, plan
    assert f"Seq Scan on {RunnableBy._meta.db_table}" not in plan, plan


@pytest.mark.postgres_only  # generic plans are PostgreSQL's
def test_get_work_probe_finds_tasks_needing_resources_through_the_index(sched):
    ids = [f"T{i:05d}" for i in range(3000)]
    _register(sched, "W", ids)
    with _captured() as statements:
        assert sched.work(worker="W")["task_id"] == ids[0]
    # The probe (on PostgreSQL, part of the statement that touches the worker).
    [(statement, params)] = [s for s in statements if "AND has_resources), EXISTS" in s[0]]
    with transaction.atomic():
        plan = _generic_plan(statement, params)
    # With the value a parameter, the kept plan walked every PENDING task, filtering
    # on has_resources (20-28 ms at 50,000 pending).
    assert "Filter: has_resources" not in plan and "Filter: (has_resources" not in plan, plan


@pytest.mark.postgres_only  # the running tasks come with the probe on PostgreSQL
def test_get_work_reads_its_running_tasks_with_the_probe_through_the_links_index(sched):
    ids = [f"T{i:05d}" for i in range(3000)]
    _register(sched, "W", ids)
    for other in ("X", "Y"):
        _register(sched, other, ids[:2])
        assert sched.work(worker=other)["task_id"] in ids[:2]
    with _captured() as statements:
        reply = sched.work(worker="W")
    assert reply["task_id"] == ids[2]
    assert [(r["task_id"], r["worker"]) for r in reply["running_tasks"]] == [
        (ids[0], "X"),
        (ids[1], "Y"),
    ]
    running = [s for s in statements if "worker_running, w.info" in s[0]]
    [(statement, params)] = running  # one statement: the probe
    assert "AND has_resources), EXISTS" in statement
    with transaction.atomic():
        plan = _generic_plan(statement, params)
    assert f"Seq Scan on {RunnableBy._meta.db_table}" not in plan, plan

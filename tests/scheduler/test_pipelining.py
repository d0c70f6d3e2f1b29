"""Pipeline mode (scheduler.service.pipelining): the hot operations run their
transaction's statements in psycopg's pipeline mode on PostgreSQL. These tests commit for real
(``transactional_db``): inside a test's own transaction the mode is not used."""

from __future__ import annotations

import inspect
import time

import psycopg
import pytest
from django.db import IntegrityError, connection, transaction

from scheduler.models import Task, Worker
from scheduler.service import Ctx, sql
from scheduler.service.base import operation
from scheduler.service.pipelining import pipeline
from scheduler.signals import task_status_changed, task_status_changed_many

from . import test_lifecycle, test_report_and_get_work, test_scheduling
from .conftest import Scheduler

pytestmark = pytest.mark.postgres_only


def _in_pipeline() -> bool:
    return connection.connection.pgconn.pipeline_status != psycopg.pq.PipelineStatus.OFF


@pytest.fixture
def committed_sched(transactional_db):
    scheduler = Scheduler()
    yield scheduler
    from scheduler.service.invariants import violations

    assert violations(config=scheduler.config) == []


@pytest.fixture
def modes():
    """The pipeline status of the connection at every status change."""
    seen: list[bool] = []

    def note(**_):
        seen.append(_in_pipeline())

    for signal in (task_status_changed, task_status_changed_many):
        signal.connect(note, dispatch_uid="test-pipelining")
    yield seen
    for signal in (task_status_changed, task_status_changed_many):
        signal.disconnect(dispatch_uid="test-pipelining")


def test_registrations_claims_and_reports_run_in_pipeline_mode(committed_sched, modes):
    sched = committed_sched
    sched.add("A")  # add_task
    sched("add_tasks", worker="W", tasks=[{"task_id": "B"}, {"task_id": "C", "deps": ["B"]}])
    assert modes == [True, True]  # one change, and two in bulk
    assert sched.next_id() in ("A", "B")  # get_work
    modes.clear()
    reply = sched("report_and_get_work", worker="W", report={"task_id": "A", "status": "DONE"})
    assert modes and all(modes)
    assert Task.objects.get(pk="A").status == "DONE"
    assert reply["task_id"] is not None
    # Outside an operation (or inside an open transaction) nothing changes.
    assert not _in_pipeline()


def test_inside_an_open_transaction_the_mode_is_not_used(committed_sched, modes):
    with transaction.atomic():
        committed_sched.add("A")
    assert modes == [False]


def test_the_setting_turns_the_mode_off(committed_sched, modes, settings):
    settings.SCHEDULER_DATABASE_PIPELINE = False
    committed_sched.add("A")
    assert modes == [False]


def test_orm_statements_in_the_pipeline_see_their_rowcounts(committed_sched):
    committed_sched.add("A")
    committed_sched.add("B")
    with transaction.atomic(), pipeline():
        assert _in_pipeline()
        sql.send(f"UPDATE {sql.table(Task)} SET priority = 5 WHERE task_id = %s", ["A"])
        assert Task.objects.filter(pk__in=["A", "B", "C"]).update(expl="x") == 2
        assert sql.execute(f"UPDATE {sql.table(Task)} SET expl = 'y'") == 2
        assert sql.fetch(f"SELECT priority FROM {sql.table(Task)} WHERE task_id = 'A'") == [(5,)]
    assert Task.objects.get(pk="A").priority == 5


def test_fetched_rows_are_the_fetched_statements_after_sends(committed_sched):
    # Sent statements' results arrive later and are never read; they go to a cursor
    # of their own, so a fetch reads its own statement's rows.
    committed_sched.add("A")
    table = sql.table(Task)
    with transaction.atomic(), pipeline():
        for i in range(50):
            sql.send(f"UPDATE {table} SET priority = %s WHERE task_id = 'A'", [i])
            assert sql.fetch(f"SELECT priority FROM {table} WHERE task_id = 'A'") == [(i,)]
    with sql.cursor() as fetching, sql.cursor(sql.SENDING) as sending:
        assert fetching is not sending


def test_a_fetch_after_many_sent_rows_reads_its_own_result(committed_sched):
    # 2,000 one-row INSERTs (executemany: the JSON column rules out arrays) fill the
    # server's output buffer, so their results come back while the fetch goes out.
    table = sql.table(Worker)
    with transaction.atomic(), pipeline():
        for round_ in range(3):
            rows = [[f"W{round_}_{i}", 0.0, 0.0, False, {}, []] for i in range(2000)]
            columns = ("worker_id", "started", "last_active", "disabled", "info", "messages")
            sql.insert_rows(Worker, columns, rows)
            time.sleep(0.05)
            assert sql.fetch(f"SELECT count(*) FROM {table}") == [(2000 * (round_ + 1),)]


def test_a_sent_statement_fails_at_the_next_wait_as_djangos_error(committed_sched):
    committed_sched.add("A")
    insert = f"INSERT INTO {sql.table(Task)} (task_id) VALUES (%s)"
    with pytest.raises(IntegrityError), transaction.atomic(), pipeline():
        sql.send(insert, ["A"])  # a duplicate key (and NULLs in NOT NULL columns)
        sql.fetch("SELECT 1")
    # Rolled back as a whole, and the connection serves the next operation.
    assert Task.objects.count() == 1
    committed_sched.add("B")
    assert Task.objects.count() == 2


def test_an_operation_retries_after_a_sent_statement_broke_a_unique_key(transactional_db):
    Worker.objects.create(worker_id="Z", started=0, last_active=0)
    table = sql.table(Worker)
    attempts: list[int] = []

    @operation(pipelined=True)
    def duplicate_then_update(ctx: Ctx) -> None:
        attempts.append(len(attempts) + 1)
        if len(attempts) == 1:
            # Fails at the wait before the COMMIT, the only one after it: the
            # operation runs again.
            sql.send(f"INSERT INTO {table} SELECT * FROM {table} WHERE worker_id = 'Z'")
        sql.send(f"UPDATE {table} SET last_active = last_active + 1 WHERE worker_id = 'Z'")

    duplicate_then_update(Ctx.make())
    assert attempts == [1, 2]
    assert Worker.objects.get(pk="Z").last_active == 1  # the first attempt left nothing


# Counts the savepoints that a test's own transaction turns operations into.
_NEEDS_TEST_TRANSACTION = {"test_the_report_and_the_claim_are_one_transaction"}


def _scenarios():
    for module in (test_scheduling, test_report_and_get_work, test_lifecycle):
        for name, func in vars(module).items():
            if name in _NEEDS_TEST_TRANSACTION or not name.startswith("test_"):
                continue
            if list(inspect.signature(func).parameters) == ["sched"]:
                yield pytest.param(func, id=f"{module.__name__.rsplit('.', 1)[-1]}.{name}")


@pytest.mark.parametrize("scenario", list(_scenarios()))
def test_scenarios_give_the_same_results_in_pipeline_mode(scenario, committed_sched):
    """The scheduling, lifecycle and report tests, each committing its operations
    (resources, batches, retries and disabling included)."""
    scenario(committed_sched)

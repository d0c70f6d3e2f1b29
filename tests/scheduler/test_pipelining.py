"""Pipeline mode (scheduler.service.pipelining): the hot operations run their
transaction's statements in psycopg's pipeline mode on PostgreSQL. These tests commit for real
(``transactional_db``): inside a test's own transaction the mode is not used."""

from __future__ import annotations

import contextlib
import inspect
import time

import psycopg
import pytest
from django.db import IntegrityError, connection, transaction

from scheduler import rpc
from scheduler.models import RunnableBy, StatusEvent, Task, Worker
from scheduler.service import Ctx, sql
from scheduler.service.base import operation
from scheduler.service.pipelining import pipeline
from scheduler.signals import task_status_changed, task_status_changed_many, task_status_committed

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


@contextlib.contextmanager
def _at_every_change(probe):
    """What ``probe()`` returns at every status change (inside its transaction)."""
    seen: list = []

    def note(**_):
        seen.append(probe())

    uid = f"test-pipelining-{probe.__name__}"
    for signal in (task_status_changed, task_status_changed_many):
        signal.connect(note, dispatch_uid=uid)
    try:
        yield seen
    finally:
        for signal in (task_status_changed, task_status_changed_many):
            signal.disconnect(dispatch_uid=uid)


@pytest.fixture
def modes():
    """The pipeline status of the connection at every status change."""
    with _at_every_change(_in_pipeline) as seen:
        yield seen


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


def test_a_sent_statement_fails_at_the_next_wait_as_djangos_error(committed_sched, caplog):
    committed_sched.add("A")
    insert = f"INSERT INTO {sql.table(Task)} (task_id) VALUES (%s)"
    with pytest.raises(IntegrityError), transaction.atomic(), pipeline():
        sql.send(insert, ["A"])  # a duplicate key (and NULLs in NOT NULL columns)
        sql.fetch("SELECT 1")
    # Rolled back as a whole, and the connection serves the next operation.
    assert Task.objects.count() == 1
    committed_sched.add("B")
    assert Task.objects.count() == 2
    # An error that arrives while the next statement is sent is raised there; that
    # statement's result (aborted) is collected before psycopg leaves the pipeline,
    # which then has no error of its own to log (a race of two workers' first
    # registration of a task, retried, would otherwise log a WARNING).
    with pytest.raises(IntegrityError), transaction.atomic(), pipeline():
        sql.send(insert, ["A"])
        time.sleep(0.2)  # its error is back
        sql.send(insert, ["C"])
    assert not [r for r in caplog.records if r.name.startswith("psycopg")]


def test_an_operation_retries_after_a_sent_statement_broke_a_unique_key(transactional_db):
    Worker.objects.create(worker_id="Z", started=0, last_active=0)
    table = sql.table(Worker)
    attempts: list[int] = []

    @operation(pipelined=True)
    def duplicate_then_update(ctx: Ctx) -> None:
        attempts.append(len(attempts) + 1)
        if len(attempts) == 1:
            # Fails at the last wait, which carries the COMMIT: the operation runs
            # again.
            sql.send(f"INSERT INTO {table} SELECT * FROM {table} WHERE worker_id = 'Z'")
        sql.send(f"UPDATE {table} SET last_active = last_active + 1 WHERE worker_id = 'Z'")

    duplicate_then_update(Ctx.make())
    assert attempts == [1, 2]
    assert Worker.objects.get(pk="Z").last_active == 1  # the first attempt left nothing


@pytest.fixture
def waits(monkeypatch):
    """What each pipelined operation waits for: its pipeline's syncs, the flushes
    with which a cursor fetches a result, and the transaction commands psycopg
    sends on its own (BEGIN, COMMIT, ROLLBACK)."""
    from psycopg import _connection_base, _pipeline_base

    seen: list[str] = []
    enqueue_sync = _pipeline_base.BasePipeline._enqueue_sync
    fetch_gen = _pipeline_base.BasePipeline._fetch_gen
    exec_command = _connection_base.BaseConnection._exec_command

    def sync(self):
        seen.append("sync")
        return enqueue_sync(self)

    def fetch(self, *, flush):
        if flush:
            seen.append("flush")
        return fetch_gen(self, flush=flush)

    def command(self, command, *args, **kwargs):
        seen.append(bytes(command).decode().split()[0])
        return exec_command(self, command, *args, **kwargs)

    monkeypatch.setattr(_pipeline_base.BasePipeline, "_enqueue_sync", sync)
    monkeypatch.setattr(_pipeline_base.BasePipeline, "_fetch_gen", fetch)
    monkeypatch.setattr(_connection_base.BaseConnection, "_exec_command", command)
    return seen


def test_begin_commit_and_the_outbox_ids_travel_with_the_statements(committed_sched, waits):
    sched = committed_sched
    sched.add("A")  # the worker's row exists from here on
    ids = list(StatusEvent.objects.values_list("id", flat=True))
    waits.clear()
    ctx = sched.ctx()
    rpc.call("add_task", {"task_id": "B", "worker": "W", "family": "B"}, ctx=ctx)
    # Two waits: the locking read's result (which also tells whether the worker is
    # disabled), then the block's last sync, which carries everything else, the
    # COMMIT and the outbox's ids; no BEGIN of psycopg's (with a sync of its own),
    # no separate read of the worker, the ids or COMMIT.
    assert waits == ["flush", "sync", "flush"]
    assert len(ctx.changes) == 1 and ctx.changes[0].seq > max(ids)
    assert StatusEvent.objects.get(pk=ctx.changes[0].seq).task_id == "B"
    waits.clear()
    sched.add("B")  # no change: the locking read, and the COMMIT
    assert waits == ["flush", "sync", "flush"]
    assert Task.objects.get(pk="B").status == "PENDING"
    assert not connection.in_atomic_block and connection.get_autocommit()
    assert connection.connection.autocommit


def test_committed_receivers_get_the_changes_with_their_ids(committed_sched):
    got = []

    def note(change, **_):
        got.append((change.task_id, change.seq, connection.in_atomic_block))

    task_status_committed.connect(note, dispatch_uid="test-pipelining-committed")
    try:
        committed_sched.add("A")
    finally:
        task_status_committed.disconnect(dispatch_uid="test-pipelining-committed")
    (event,) = StatusEvent.objects.filter(task_id="A")
    assert got == [("A", event.id, False)]


def test_an_operation_marked_for_rollback_sends_rollback_instead(transactional_db, waits):
    table = sql.table(Worker)

    @operation(pipelined=True)
    def write_then_give_up(ctx: Ctx) -> None:
        sql.send(
            f"INSERT INTO {table} (worker_id, info, host, started, last_active, disabled, "
            "messages) VALUES ('Z', '{}', '', 0, 0, false, '[]')"
        )
        transaction.set_rollback(True)

    write_then_give_up(Ctx.make())
    assert "COMMIT" not in waits
    assert not Worker.objects.filter(pk="Z").exists()
    assert connection.get_autocommit() and connection.connection.autocommit


def test_a_commit_that_fails_raises_and_leaves_nothing(transactional_db):
    # A deferred foreign key is checked by the COMMIT, which now travels in the
    # pipeline: its error comes from the block's last sync.
    committed: list[int] = []

    @operation(pipelined=True)
    def dangling_link(ctx: Ctx) -> None:
        transaction.on_commit(lambda: committed.append(1))
        sql.send(
            f"INSERT INTO {sql.table(RunnableBy)} (task_id, worker_id) VALUES ('no-task', 'Z')"
        )

    with pytest.raises(IntegrityError):
        dangling_link(Ctx.make())
    assert committed == []
    assert not RunnableBy.objects.exists()
    assert connection.get_autocommit() and connection.connection.autocommit
    Worker.objects.create(worker_id="Y", started=0, last_active=0)  # the connection works


def test_the_begin_keeps_the_connections_isolation_level(transactional_db):
    @operation(pipelined=True)
    def isolation(ctx: Ctx) -> str:
        return sql.fetch("SELECT current_setting('transaction_isolation')")[0][0]

    assert isolation(Ctx.make()) == "read committed"
    connection.ensure_connection()
    connection.connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    try:
        assert isolation(Ctx.make()) == "repeatable read"
    finally:
        connection.connection.isolation_level = None


@pytest.fixture
def commit_modes():
    """synchronous_commit inside the transaction, at every status change."""

    def synchronous_commit() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('synchronous_commit')")
            return cursor.fetchone()[0]

    with _at_every_change(synchronous_commit) as seen:
        yield seen


def test_registrations_commit_without_waiting_for_the_disk(committed_sched, commit_modes):
    sched = committed_sched
    sched.add("A")
    sched("add_tasks", worker="W", tasks=[{"task_id": "B"}, {"task_id": "C", "deps": ["B"]}])
    assert commit_modes == ["off", "off"]
    commit_modes.clear()
    # Claims, reports, a registration of a finished task and operators' actions wait.
    assert sched.next_id() in ("A", "B")
    sched.finish("A")
    sched.add("D", status="DONE")
    sched("add_tasks", worker="W", tasks=[{"task_id": "E"}, {"task_id": "F", "status": "DONE"}])
    sched("mark_as_done", task_id="B")
    assert commit_modes and set(commit_modes) == {"on"}
    assert Task.objects.get(pk="A").status == "DONE"


def test_the_setting_keeps_registrations_waiting(committed_sched, commit_modes, settings):
    settings.SCHEDULER_ASYNC_REGISTRATION_COMMIT = False
    committed_sched.add("A")
    assert commit_modes == ["on"]


def test_inside_an_open_transaction_registrations_wait(committed_sched, commit_modes):
    with transaction.atomic():
        committed_sched.add("A")
        committed_sched.add("B")
    assert commit_modes == ["on", "on"]


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

"""report_and_get_work: a worker's report and its next get_work in one call, with the
state and reply of add_task followed by get_work.

The property test plays the same random runs twice, once with the two calls and
once with the combined one, each inside a transaction rolled back afterwards, and
compares every reply and everything the scheduler keeps. Workers stay alive (the
maintenance pass, when due, runs before the combined call, where it runs between the
two calls: a worker silent past worker_disconnect_delay would differ, legitimately)."""

from __future__ import annotations

import dataclasses

import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler import rpc
from scheduler.conf import get_config
from scheduler.errors import InvalidArgument, SchedulerUnavailable
from scheduler.models import Task, Worker, WorkerCounters
from scheduler.service import Ctx

from .conftest import T0
from .test_bulk_registration import rolled_back

WORKERS = ["A", "B", "C"]
LEAVES = [f"Leaf_{i}" for i in range(6)]

# A step: which worker reports (its running task, with this outcome) and asks again.
step = st.tuples(st.sampled_from(WORKERS), st.sampled_from(["DONE", "DONE", "FAILED"]))


def _register(ctx: Ctx) -> None:
    for worker in WORKERS:
        tasks = [{"task_id": leaf, "family": "Leaf"} for leaf in LEAVES]
        tasks.append({"task_id": "Root", "family": "Root", "deps": LEAVES, "priority": 5})
        rpc.call("add_tasks", {"worker": worker, "tasks": tasks}, ctx=ctx)


def _play(steps, combined: bool, config) -> tuple[list, dict, list[str]]:
    replies: list = []
    running: dict[str, str | None] = {w: None for w in WORKERS}

    def play() -> None:
        _register(Ctx(now=T0, config=config))
        for number, (worker, outcome) in enumerate(steps, start=1):
            ctx = Ctx(now=T0 + 10 * number, config=config)
            ask = {"worker": worker, "host": "h", "current_tasks": []}
            report = None
            if running[worker]:
                report = {"task_id": running[worker], "status": outcome, "expl": "x"}
            if report and combined:
                reply = rpc.call("report_and_get_work", {**ask, "report": report}, ctx=ctx)
            else:
                if report:
                    rpc.call("add_task", {**report, "worker": worker}, ctx=ctx)
                reply = rpc.call("get_work", ask, ctx=ctx)
            running[worker] = reply["task_id"]
            replies.append(reply)

    return (replies, *rolled_back(play, config))


@pytest.mark.django_db(transaction=False)
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(step, min_size=1, max_size=14))
def test_report_and_get_work_equals_add_task_then_get_work(steps):
    config = dataclasses.replace(get_config(), prune_interval=0.0, worker_disconnect_delay=1e6)
    two_calls = _play(steps, combined=False, config=config)
    one_call = _play(steps, combined=True, config=config)
    assert two_calls[2] == [] and one_call[2] == []
    assert one_call[0] == two_calls[0]
    for key in two_calls[1]:
        assert one_call[1][key] == two_calls[1][key], key


def test_the_reply_hands_out_what_the_report_made_ready(sched):
    sched.add("Leaf_1")
    sched.add("Root", deps=["Leaf_1"])
    assert sched.next_id() == "Leaf_1"
    sched.advance(5)
    reply = sched(
        "report_and_get_work",
        worker="W",
        current_tasks=[],
        report={"task_id": "Leaf_1", "status": "DONE"},
    )
    assert reply["task_id"] == "Root"
    assert (sched.status("Leaf_1"), sched.status("Root")) == ("DONE", "RUNNING")
    assert reply["n_pending_tasks"] == 1  # as Luigi counts it: the task handed out too
    worker = Worker.objects.get(pk="W")
    assert worker.last_active == worker.last_get_work == sched.now


def test_registrations_in_one_operation_write_the_worker_row_once(sched):
    """add_tasks with registrations off its bulk path (each one a register call)."""
    tasks = [{"task_id": f"Leaf_{i}", "status": "DONE"} for i in range(3)]
    with CaptureQueriesContext(connection) as queries:
        sched("add_tasks", worker="W", tasks=tasks)
    assert Task.objects.filter(status="DONE").count() == 3
    worker_table = Worker._meta.db_table
    updates = [q["sql"] for q in queries if q["sql"].startswith(f'UPDATE "{worker_table}"')]
    assert len(updates) == 1, updates


@pytest.mark.parametrize(
    "report, argument",
    [
        (None, "report"),
        ("Leaf_1", "report"),
        ({"task_id": "Leaf_1", "status": "SLEEPING"}, "report.status"),
        ({"status": "DONE"}, "report.task_id"),
        ({"task_id": "Leaf_1", "status": "DONE", "worker": "someone else"}, "report.worker"),
    ],
)
def test_a_bad_report_is_refused_and_nothing_is_claimed(sched, report, argument):
    sched.add("Leaf_1")
    sched.add("Leaf_2")
    assert sched.next_id() == "Leaf_1"
    with pytest.raises(InvalidArgument) as caught:
        sched("report_and_get_work", worker="W", current_tasks=[], report=report)
    assert caught.value.argument == argument
    assert dict(Task.objects.values_list("task_id", "status")) == {
        "Leaf_1": "RUNNING",
        "Leaf_2": "PENDING",
    }


def test_over_http(db, client):
    from tests.urls import at

    def post(method: str, data: str):
        return client.post(at(f"/api/{method}"), {"data": data})

    assert post("add_task", '{"worker": "W", "task_id": "A"}').status_code == 200
    assert post("get_work", '{"worker": "W"}').json()["response"]["task_id"] == "A"
    bad = post("report_and_get_work", '{"worker": "W", "report": {"task_id": "A", "status": 1}}')
    assert bad.status_code == 400 and "report.status" in bad.content.decode()
    done = '{"worker": "W", "report": {"task_id": "A", "status": "DONE"}}'
    ok = post("report_and_get_work", done)
    assert ok.status_code == 200
    assert ok.json()["response"]["task_id"] is None
    assert Task.objects.get(pk="A").status == "DONE"


@pytest.mark.parametrize(
    "failure",
    [SchedulerUnavailable("lock wait timed out"), OperationalError("could not extend file")],
)
def test_a_failed_get_work_part_rolls_the_report_back(db, client, monkeypatch, failure):
    """The report and the claim are one transaction: if get_work fails, the report is
    not applied either, and the client's retry of the whole call applies it once."""
    from scheduler.service import work
    from tests.urls import at

    def post(method: str, data: str):
        return client.post(at(f"/api/{method}"), {"data": data})

    post("add_task", '{"worker": "W", "task_id": "A"}')
    post("add_task", '{"worker": "W", "task_id": "B"}')
    assert post("get_work", '{"worker": "W"}').json()["response"]["task_id"] == "A"

    def broken(*args, **kwargs):
        raise failure

    report = '{"worker": "W", "report": {"task_id": "A", "status": "FAILED", "expl": "boom"}}'
    with monkeypatch.context() as patched:
        patched.setattr(work, "_hand_out_now", broken)
        reply = post("report_and_get_work", report)
    assert reply.status_code == 503
    untouched = Task.objects.get(pk="A")
    assert untouched.status == "RUNNING" and untouched.failures == []

    retried = post("report_and_get_work", report)
    assert retried.status_code == 200
    assert retried.json()["response"]["task_id"] == "B"
    failed = Task.objects.get(pk="A")
    assert failed.status == "FAILED" and len(failed.failures) == 1


def _report_and_ask(sched, task_id: str, status: str = "DONE") -> tuple[dict, list[str]]:
    """Worker W reports its task and asks for the next: the reply, the statements run."""
    with CaptureQueriesContext(connection) as queries:
        reply = sched(
            "report_and_get_work",
            worker="W",
            current_tasks=[],
            report={"task_id": task_id, "status": status},
        )
    return reply, [q["sql"] for q in queries]


def test_the_report_and_the_claim_are_one_transaction(sched):
    sched.configure(prune_interval=1e9)  # no maintenance pass (a transaction of its own)
    sched.add("Leaf_1")
    sched.add("Leaf_2")
    assert sched.next_id() == "Leaf_1"
    reply, statements = _report_and_ask(sched, "Leaf_1")
    assert reply["task_id"] == "Leaf_2"
    # Inside the test's transaction, each operation's transaction is a savepoint.
    assert len([s for s in statements if s.startswith("SAVEPOINT")]) == 1, statements
    # The worker's row is written once, for both parts.
    worker_table = Worker._meta.db_table
    assert len([s for s in statements if s.startswith(f'UPDATE "{worker_table}"')]) == 1


def test_dependants_are_counted_down_after_the_claim(sched):
    """A fan-in task's row, which every finished dependency counts down, is locked by
    the transaction's last statements only, not for the whole claim."""
    for leaf in ("Leaf_1", "Leaf_2", "Leaf_3"):
        sched.add(leaf)
    sched.add("Root", deps=["Leaf_1", "Leaf_2", "Leaf_3"])
    assert sched.next_id() == "Leaf_1"
    reply, statements = _report_and_ask(sched, "Leaf_1")
    assert reply["task_id"] == "Leaf_2"
    assert Task.objects.get(pk="Root").unmet_deps == 2
    task_table = Task._meta.db_table
    countdown = next(i for i, s in enumerate(statements) if "unmet_deps = unmet_deps" in s)
    claim = next(
        i
        for i, s in enumerate(statements)
        if s.startswith(f'UPDATE "{task_table}" SET "status" = \'RUNNING\'')
    )
    assert claim < countdown


def test_the_direct_client_reports_and_asks_in_one_call(db, monkeypatch):
    from workers.client import DirectClient

    calls = []
    real = rpc.call

    def recording(method, arguments, *args, **kwargs):
        calls.append(method)
        return real(method, arguments, *args, **kwargs)

    monkeypatch.setattr(rpc, "call", recording)
    client = DirectClient()
    client.call("add_task", worker="W", task_id="A")
    client.call("add_task", worker="W", task_id="B")
    assert client.call("get_work", worker="W")["task_id"] == "A"
    reply = client.report_and_get_work({"task_id": "A", "status": "DONE"}, worker="W")
    assert reply["task_id"] == "B"
    assert calls[3:] == ["report_and_get_work"]
    assert Task.objects.get(pk="A").status == "DONE"


def test_a_maintenance_pass_inside_the_call_does_not_count_the_report_twice(sched):
    """With prune_on_get_work, the pass runs after the report in the same transaction;
    its recount of the workers' counters already includes the report's change."""
    from scheduler.service.invariants import violations

    sched.configure(prune_on_get_work=True, prune_interval=1e10, worker_disconnect_delay=60)
    for worker in ("W", "B"):
        sched.add("X", worker=worker)
    sched.add("Z", worker="D")  # D falls silent: the pass removes it and recounts
    assert sched.next_id(worker="W") == "X"
    sched.advance(100)
    sched("ping", worker="B")
    reply = sched(
        "report_and_get_work",
        worker="W",
        current_tasks=[],
        report={"task_id": "X", "status": "FAILED", "expl": "boom"},
    )
    assert not Worker.objects.filter(pk="D").exists()
    assert reply["task_id"] is None
    assert violations(config=sched.config) == []


@pytest.mark.postgres_only  # deferred foreign keys are PostgreSQL's
def test_foreign_keys_are_checked_before_the_counters_only_where_rows_reference_others(sched):
    """Counter rows are locked last; deferred foreign-key checks, which lock the rows
    they reference, run before them where the transaction wrote such rows."""
    sched.configure(prune_interval=1e10)  # no maintenance pass (it deletes rows)

    counters = f'UPDATE "{WorkerCounters._meta.db_table}"'
    with CaptureQueriesContext(connection) as queries:
        sched.add("Leaf_1")  # links: checked
    added = [q["sql"] for q in queries]
    checks = [i for i, s in enumerate(added) if s == "SET CONSTRAINTS ALL IMMEDIATE"]
    assert len(checks) == 1
    assert checks[0] < next(i for i, s in enumerate(added) if s.startswith(counters))
    sched.add("Leaf_2")
    assert sched.next_id() == "Leaf_1"
    reply, cycle = _report_and_ask(sched, "Leaf_1")
    assert reply["task_id"] == "Leaf_2"
    assert any(s.startswith(counters) for s in cycle)
    assert "SET CONSTRAINTS ALL IMMEDIATE" not in cycle

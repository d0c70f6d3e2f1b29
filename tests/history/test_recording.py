"""Every status change is recorded, in runs, in the transaction of the change."""

from __future__ import annotations

import pytest
from django.test import override_settings

from history.models import Event, Run
from scheduler import service
from tests.scheduler.conftest import T0


def runs(task_id: str) -> list[Run]:
    return list(Run.objects.filter(task_id=task_id).order_by("id"))


def events(run: Run) -> list[tuple]:
    return [
        (e.old_status, e.status, e.cause, e.user)
        for e in Event.objects.filter(run=run).order_by("id")
    ]


def test_a_run_starts_at_running_and_ends_with_done(sched):
    sched.add("A_1", params={"x": "1"})
    sched.advance(5)
    assert sched.next_id(host="box") == "A_1"
    sched.advance(30)
    sched.finish("A_1")

    (run,) = runs("A_1")
    assert (run.family, run.params, run.host, run.worker) == ("A", {"x": "1"}, "box", "W")
    assert (run.status, run.outcome, run.error) == ("DONE", "DONE", None)
    assert run.started_at == T0 + 5
    assert run.ended_at == T0 + 35
    assert run.duration == 30
    assert events(run) == [
        ("", "PENDING", "add_task", None),  # registration opens the run
        ("PENDING", "RUNNING", "get_work", None),
        ("RUNNING", "DONE", "add_task", None),
    ]


def test_pending_before_a_run_belongs_to_the_next_run(sched):
    sched.configure(retry_delay=5)
    sched.add("A_1")
    sched.next_id(host="h1")
    sched.advance(10)
    sched.finish("A_1", status="FAILED", expl="Traceback: boom")
    sched.advance(6)
    assert sched.next_id(host="h2") == "A_1"  # the maintenance pass retried it first
    sched.advance(3)
    sched.finish("A_1")

    first, second = runs("A_1")
    assert (first.outcome, first.status, first.error, first.duration) == (
        "FAILED",
        "FAILED",
        "Traceback: boom",
        10,
    )
    assert events(first) == [
        ("", "PENDING", "add_task", None),
        ("PENDING", "RUNNING", "get_work", None),
        ("RUNNING", "FAILED", "add_task", None),
    ]
    assert events(second) == [
        ("FAILED", "PENDING", "retry_delay passed", None),
        ("PENDING", "RUNNING", "get_work", None),
        ("RUNNING", "DONE", "add_task", None),
    ]
    assert (second.host, second.outcome, second.duration, second.error) == ("h2", "DONE", 3, None)


def test_operator_actions_are_recorded_with_the_user(sched):
    sched.add("A_1")
    sched.next_id()
    sched.finish("A_1", status="FAILED", expl="boom")
    service.forgive_failures(sched.ctx(), task_id="A_1", user="alice")
    service.disable_task(sched.ctx(), task_id="A_1", user="bob")
    sched.advance(1)
    service.mark_as_done(sched.ctx(), task_id="A_1", user="carol")

    first, second = runs("A_1")
    assert first.outcome == "FAILED"
    assert events(second) == [
        ("FAILED", "PENDING", "forgive_failures", "alice"),
        ("PENDING", "DISABLED", "disable_task", "bob"),
        ("DISABLED", "DONE", "mark_as_done", "carol"),
    ]
    # Never started: no duration, and no outcome of an attempt.
    assert (second.status, second.outcome, second.started_at, second.duration) == (
        "DONE",
        None,
        None,
        None,
    )


def test_mark_as_done_after_a_failure_joins_the_failed_run(sched):
    sched.add("A_1")
    sched.next_id()
    sched.finish("A_1", status="FAILED", expl="boom")
    service.mark_as_done(sched.ctx(), task_id="A_1", user="alice")

    (run,) = runs("A_1")
    assert (run.status, run.outcome, run.error) == ("DONE", "FAILED", "boom")
    assert events(run)[-1] == ("FAILED", "DONE", "mark_as_done", "alice")


def test_auto_disable_ends_the_run_disabled_and_re_enable_is_recorded(sched):
    sched.configure(retry_count=1)
    sched.add("A_1")
    sched.next_id()
    sched.finish("A_1", status="FAILED", expl="boom")
    assert sched.status("A_1") == "DISABLED"
    service.re_enable_task(sched.ctx(), task_id="A_1", user="alice")

    (run,) = runs("A_1")
    assert (run.outcome, run.error, run.status) == ("DISABLED", "boom", "FAILED")
    assert events(run)[-2:] == [
        ("RUNNING", "DISABLED", "add_task", None),
        ("DISABLED", "FAILED", "re_enable_task", "alice"),
    ]


def test_a_lost_worker_ends_the_run_failed_without_a_stale_error(sched):
    sched.add("A_1")
    sched.next_id()
    sched.finish("A_1", status="FAILED", expl="old traceback")
    service.forgive_failures(sched.ctx(), task_id="A_1")
    sched.next_id()
    sched.advance(sched.config.worker_disconnect_delay + 1)
    sched("ping", worker="other")  # the maintenance pass drops W, fails its task

    second = runs("A_1")[1]
    assert (second.outcome, second.error) == ("FAILED", None)
    assert events(second)[-1] == ("RUNNING", "FAILED", "worker disconnected", None)


def test_a_task_already_complete_gets_a_run_that_never_started(sched):
    sched.add("A_1", status="DONE")

    (run,) = runs("A_1")
    assert (run.status, run.started_at, run.outcome) == ("DONE", None, None)
    assert events(run) == [("", "DONE", "add_task", None)]


def test_batch_members_runs_start_with_the_batch(sched):
    sched("add_task_batcher", worker="W", task_family="B", batched_args=["x"])
    for x in ("1", "2"):
        sched.add(f"B_{x}", family="B", params={"x": x}, batchable=True)
    reply = sched.work(host="box")
    assert sorted(reply["batch_task_ids"]) == ["B_1", "B_2"]
    sched.advance(4)
    sched.add(
        "B_1,2", family="B", params={"x": "1,2"}, status="RUNNING", batch_id=reply["batch_id"]
    )
    sched.advance(6)
    sched.finish("B_1,2", batch_id=reply["batch_id"])

    for member in ("B_1", "B_2"):
        (run,) = runs(member)
        assert (run.status, run.outcome, run.duration) == ("DONE", "DONE", 10), member


def test_hidden_parameters_are_not_recorded(sched):
    sched.add("A_1", params={"x": "1", "secret": "s3"}, param_visibilities={"secret": 1})
    sched.next_id()

    (run,) = runs("A_1")
    assert run.params == {"x": "1"}


@override_settings(SCHEDULER={"record_task_history": False})
def test_nothing_is_recorded_when_task_history_is_off(sched):
    sched.add("A_1")
    sched.next_id()
    sched.finish("A_1")

    assert not Run.objects.exists()
    assert sched("has_task_history") is True  # sched keeps its own config


@pytest.mark.django_db(transaction=True)
def test_history_rolls_back_with_the_change():
    from django.db import transaction

    from scheduler.service import Ctx

    with pytest.raises(RuntimeError), transaction.atomic():
        service.add_task(Ctx.make(), task_id="A_1", worker="W", status="DONE", family="A")
        assert Run.objects.filter(task_id="A_1").exists()
        raise RuntimeError("abort")
    assert not Run.objects.exists()
    assert not Event.objects.exists()


def history_statements(queries) -> list[str]:
    return [q["sql"].split()[0] for q in queries if "history_" in q["sql"]]


def test_recording_costs_two_statements_per_change_and_no_select(sched):
    """On SQLite; on PostgreSQL each change is one statement (data-modifying CTEs)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as opening:
        sched.add("A_1")  # opens a run: the UPDATE matches nothing, an INSERT follows
    with CaptureQueriesContext(connection) as starting:
        sched.next_id()
    with CaptureQueriesContext(connection) as following:
        sched.finish("A_1")

    if connection.vendor == "postgresql":
        for queries in (opening, starting, following):
            assert history_statements(queries.captured_queries) == ["WITH"]
    else:
        assert history_statements(opening.captured_queries) == ["UPDATE", "INSERT", "INSERT"]
        assert history_statements(starting.captured_queries) == ["UPDATE", "INSERT"]
        assert history_statements(following.captured_queries) == ["UPDATE", "INSERT"]
    # Either way one run with its three events.
    run = Run.objects.get(task_id="A_1")
    assert run.status == "DONE" and run.started_at is not None and run.ended_at is not None
    assert list(run.events.order_by("id").values_list("status", flat=True)) == [
        "PENDING",
        "RUNNING",
        "DONE",
    ]

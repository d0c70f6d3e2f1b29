"""The StatusEvent outbox: an operation's changes get their seqs at the end of its
transaction, in the order they were made, and leave it with those seqs."""

from __future__ import annotations

import threading

import pytest
from django.db import IntegrityError, connections

from scheduler import rpc
from scheduler.models import StatusEvent
from scheduler.service import Ctx, add_tasks
from scheduler.service.base import operation, operation_scope
from scheduler.service.outbox import OUTBOX_RANK, VALUES_ROWS
from scheduler.signals import task_status_changed, task_status_committed


def _outbox() -> list[tuple[int, str, str, str]]:
    return list(
        StatusEvent.objects.order_by("id").values_list("id", "task_id", "old_status", "new_status")
    )


def test_changes_of_one_transaction_take_seqs_in_the_order_made(sched):
    sched.add("A_1")
    ctx = sched.ctx()
    # One transaction, 30 registrations (bulk path, in process), then an
    # individual change of one of them in a second operation.
    add_tasks(ctx, worker="W", tasks=[{"task_id": f"B_{i}", "family": "B"} for i in range(30)])
    rpc.call("add_task", {"task_id": "B_7", "worker": "W", "status": "DONE"}, ctx=ctx)
    rows = _outbox()
    assert [r[1] for r in rows] == ["A_1", *(f"B_{i}" for i in range(30)), "B_7"]
    assert [(c.seq, c.task_id, c.old_status, c.new_status) for c in ctx.changes] == rows[1:]
    assert ctx.changes[-1].new_status == "DONE"


def test_seqs_inside_the_transaction_are_unknown_and_committed_ones_known(
    sched, django_capture_on_commit_callbacks
):
    inside: list[int] = []
    committed: list[tuple[int, str]] = []

    def on_change(sender, change, **_):
        inside.append(change.seq)

    def on_commit(sender, change, **_):
        committed.append((change.seq, change.new_status))

    task_status_changed.connect(on_change)
    task_status_committed.connect(on_commit)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            sched.add("A_1")
            sched.next_id()
            sched.finish("A_1")
    finally:
        task_status_changed.disconnect(on_change)
        task_status_committed.disconnect(on_commit)
    assert inside == [0, 0, 0]
    assert committed == [(r[0], r[3]) for r in _outbox()]
    assert [status for _, status in committed] == ["PENDING", "RUNNING", "DONE"]


@pytest.mark.django_db(transaction=True)
def test_a_retried_operation_reports_the_seqs_of_its_last_attempt():
    # The first attempt fails after its outbox rows were written (at its very end).
    attempts: list[int] = []

    def fail_once() -> None:
        if len(attempts) == 1:
            raise IntegrityError("a concurrent insert (simulated)")

    @operation
    def flaky(ctx: Ctx) -> None:
        rpc.call("add_task", {"task_id": "A_1", "worker": "W", "family": "A"}, ctx=ctx)
        attempts.append(1)
        operation_scope().before_commit(fail_once, rank=OUTBOX_RANK + 1)

    ctx = Ctx.make()
    flaky(ctx)
    assert len(attempts) == 2
    rows = _outbox()
    assert len(rows) == 1  # the first attempt rolled back
    assert [c.seq for c in ctx.changes] == [rows[0][0]]


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_change_committed_while_another_transaction_is_open_gets_the_lower_seq():
    # A live feed delivers in seq order: if the open transaction had taken its
    # seq first, the committed change would wait for it (a gap in the outbox).
    started, proceed = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    @operation
    def slow(ctx: Ctx) -> None:
        rpc.call("add_task", {"task_id": "SLOW", "worker": "w1", "family": "S"}, ctx=ctx)
        started.set()
        assert proceed.wait(30)

    def run_slow() -> None:
        try:
            slow(Ctx.make())
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run_slow)
    thread.start()
    try:
        assert started.wait(30)
        ctx = Ctx.make()
        rpc.call("add_task", {"task_id": "FAST", "worker": "w2", "family": "F"}, ctx=ctx)
        assert StatusEvent.objects.filter(task_id="FAST").exists()
        assert not StatusEvent.objects.filter(task_id="SLOW").exists()  # not yet committed
    finally:
        proceed.set()
        thread.join(60)
    assert not errors, errors
    assert [r[1] for r in _outbox()] == ["FAST", "SLOW"]


@pytest.mark.parametrize("count", [2, VALUES_ROWS, VALUES_ROWS + 1])
def test_a_few_changes_or_many_take_seqs_in_the_order_made(sched, count):
    """A few changes are one VALUES insert, more one array insert: both keep the order."""
    ctx = sched.ctx()
    names = [f"C_{i:02d}" for i in range(count)][::-1]  # not in id order
    add_tasks(ctx, worker="W", tasks=[{"task_id": name, "family": "C"} for name in names])
    rows = _outbox()
    assert [r[1] for r in rows] == names
    assert [(c.seq, c.task_id) for c in ctx.changes] == [(r[0], r[1]) for r in rows]


def _change_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if " -> " in r.getMessage()]


def test_a_status_change_is_logged_once_its_transaction_commits(
    sched, caplog, django_capture_on_commit_callbacks
):
    caplog.set_level("INFO", logger="scheduler")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        sched.add("A_1")
        assert _change_lines(caplog) == []  # not before the commit
    assert callbacks
    assert _change_lines(caplog) == ["task A_1: new -> PENDING (add_task, worker W)"]


def test_a_status_change_rolled_back_is_not_logged(
    sched, caplog, django_capture_on_commit_callbacks
):
    """A rolled-back attempt (e.g. the loser of two first registrations of a task,
    which then runs again) leaves no line claiming a change that did not happen."""
    caplog.set_level("INFO", logger="scheduler")

    @operation
    def register_then_fail(ctx):
        rpc.call("add_task", {"task_id": "A_1", "worker": "W"}, ctx=ctx)
        raise IntegrityError("as if another transaction had created the row")

    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(IntegrityError):
            register_then_fail(sched.ctx())
        sched.add("B_1")  # committed next to it: logged
    assert _change_lines(caplog) == ["task B_1: new -> PENDING (add_task, worker W)"]
    assert sched.status("A_1") is None

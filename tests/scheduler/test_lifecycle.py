"""Task lifecycle through the service: registration, ordering, reports, retries, disabling."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from scheduler.models import Task


def test_dependency_runs_first(sched):
    sched.add("A", deps=["B"])
    sched.add("B")
    assert sched.next_id() == "B"
    assert sched.next_id(current_tasks=["B"]) is None
    sched.finish("B")
    assert sched.next_id() == "A"


@pytest.mark.parametrize("known", [False, True])
def test_a_task_listed_as_its_own_dependency_counts_its_new_status(sched, known):
    # Luigi never sends such a cycle, but a hand-made call may: the dependency on
    # itself is met exactly when the task itself is DONE (the fixture checks the
    # stored counts against a recount).
    sched.add("B")
    if known:
        sched.add("A", deps=["B"])
    sched.add("A", status="DONE", deps=["A", "B"])
    assert Task.objects.get(pk="A").unmet_deps == 1
    sched.add("C", deps=["C", "B"])
    assert Task.objects.get(pk="C").unmet_deps == 2


def test_placeholder_dependency_blocks_until_registered_and_done(sched):
    sched.add("A", deps=["B"])
    assert sched.status("B") == "UNKNOWN"
    assert sched.next_id() is None
    sched.add("B")
    assert sched.status("B") == "PENDING"


def test_failed_dependency_blocks_dependant(sched):
    sched.add("A", deps=["B"])
    sched.add("B")
    assert sched.next_id() == "B"
    sched.finish("B", status="FAILED", expl='"boom"')
    assert sched.status("B") == "FAILED"
    assert sched.next_id() is None
    assert sched("fetch_error", task_id="B")["error"] == '"boom"'
    listed = sched("task_list", status="PENDING", upstream_status="UPSTREAM_FAILED")
    assert list(listed) == ["A"]


def test_only_the_running_worker_can_finish_a_running_task(sched):
    sched.add("A", worker="X")
    sched.add("A", worker="Y")
    assert sched.next_id("X") == "A"
    sched.finish("A", worker="Y", status="FAILED")
    assert sched.status("A") == "RUNNING"
    sched.finish("A", worker="Y", status="PENDING")
    assert sched.status("A") == "RUNNING"
    sched.finish("A", worker="X", status="DONE")
    assert sched.status("A") == "DONE"


def test_worker_only_gets_tasks_it_registered_as_runnable(sched):
    sched.add("A", worker="X")
    sched.add("B", worker="Y", runnable=False)
    assert sched.next_id("Y") is None
    assert sched.next_id("X") == "A"


def test_assistant_gets_any_runnable_task(sched):
    sched.add("A", worker="X")
    sched.add("B", worker="X", runnable=False)
    assert sched.next_id("helper", assistant=True) == "A"
    assert sched.next_id("helper", assistant=True, current_tasks=["A"]) is None


def test_failed_task_retries_after_retry_delay(sched):
    sched.configure(retry_delay=100)
    sched.add("A")
    assert sched.next_id() == "A"
    sched.finish("A", status="FAILED")
    sched.advance(50)
    assert sched.next_id() is None
    sched.advance(51)
    assert sched.next_id() == "A"


def test_negative_retry_delay_never_retries(sched):
    sched.configure(retry_delay=-1)
    sched.add("A")
    sched.next_id()
    sched.finish("A", status="FAILED")
    sched.advance(10**6)
    assert sched.next_id() is None
    assert sched.status("A") == "FAILED"


def test_too_many_failures_disable_and_re_enable(sched):
    sched.configure(retry_delay=0)
    policy = {"retry_count": 2, "disable_window": 100, "disable_hard_timeout": None}
    sched.add("A", retry_policy_dict=policy)
    for expected in ("FAILED", "DISABLED"):
        sched.advance(1)
        assert sched.next_id() == "A"
        sched.finish("A", status="FAILED", retry_policy_dict=policy)
        assert sched.status("A") == expected
    sched.advance(10)
    assert sched.next_id() is None
    listed = sched("task_list", status="DISABLED")
    assert listed["A"]["re_enable_able"] is True
    # A worker cannot override a scheduler disable.
    sched.add("A", retry_policy_dict=policy)
    assert sched.status("A") == "DISABLED"
    answer = sched("re_enable_task", task_id="A")
    assert answer["status"] == "FAILED" and "deps" in answer
    sched.advance(1)
    assert sched.next_id() == "A"


def test_failures_outside_the_window_do_not_count(sched):
    sched.configure(retry_delay=0)
    policy = {"retry_count": 2, "disable_window": 10}
    sched.add("A", retry_policy_dict=policy)
    for _ in range(3):
        sched.advance(11)
        assert sched.next_id() == "A"
        sched.finish("A", status="FAILED", retry_policy_dict=policy)
        assert sched.status("A") == "FAILED"


def test_disable_hard_timeout(sched):
    sched.configure(retry_delay=0)
    policy = {"retry_count": 100, "disable_hard_timeout": 50}
    sched.add("A", retry_policy_dict=policy)
    sched.next_id()
    sched.finish("A", status="FAILED", retry_policy_dict=policy)
    sched.advance(60)
    assert sched.next_id() == "A"
    sched.finish("A", status="FAILED", retry_policy_dict=policy)
    assert sched.status("A") == "DISABLED"


def test_disable_persist_re_enables_automatically(sched):
    sched.configure(retry_delay=0, disable_persist=30)
    policy = {"retry_count": 1}
    sched.add("A", retry_policy_dict=policy)
    sched.next_id()
    sched.finish("A", status="FAILED", retry_policy_dict=policy)
    assert sched.status("A") == "DISABLED"
    sched.advance(31)
    sched("prune")
    assert sched.status("A") == "FAILED"
    sched.advance(1)
    assert sched.next_id() == "A"
    assert Task.objects.get(pk="A").failures == []


def test_done_from_disabled_clears_the_disable(sched):
    sched.configure(retry_delay=0)
    sched.add("A", retry_policy_dict={"retry_count": 1})
    sched.next_id()
    sched.finish("A", status="FAILED", retry_policy_dict={"retry_count": 1})
    assert sched.status("A") == "DISABLED"
    sched.finish("A", status="DONE")
    task = Task.objects.get(pk="A")
    assert task.status == "DONE" and task.scheduler_disable_time is None


def test_worker_reported_disabled_can_be_overridden(sched):
    sched.add("A", status="DISABLED")
    assert sched("task_list", status="DISABLED")["A"]["re_enable_able"] is False
    sched.add("A", status="PENDING")
    assert sched.status("A") == "PENDING"


def test_disabled_request_on_running_task_is_ignored(sched):
    sched.add("A")
    sched.next_id()
    sched.finish("A", status="DISABLED")
    assert sched.status("A") == "RUNNING"


def test_stable_done_cooldown_ignores_pending_right_after_done(sched):
    sched.configure(stable_done_cooldown_secs=10)
    sched.add("A")
    sched.next_id()
    sched.finish("A")
    sched.advance(5)
    sched.add("A", worker="other")
    assert sched.status("A") == "DONE"
    sched.advance(6)
    sched.add("A", worker="other")
    assert sched.status("A") == "PENDING"


def test_dynamic_dependencies_return_running_task_to_pending(sched):
    sched.add("A")
    assert sched.next_id() == "A"
    sched("add_task", task_id="A", worker="W", status="PENDING", new_deps=["B"])
    assert sched.status("A") == "PENDING"
    sched.add("B")
    assert sched.next_id(current_tasks=[]) == "B"
    sched.finish("B")
    assert sched.next_id() == "A"


def test_resend_when_worker_missed_the_reply(sched):
    sched.add("A")
    sched.add("B")
    first = sched.next_id()
    again = sched.next_id(current_tasks=[])
    assert again == first
    other = sched.next_id(current_tasks=[first])
    assert other not in (None, first)


def test_a_worker_holding_nothing_is_not_searched_for_missed_replies(sched):
    sched.add("A")
    sched.add("B")
    with CaptureQueriesContext(connection) as queries:
        first = sched.next_id(current_tasks=[])
    assert first == "A" and _held_loads(queries) == []
    with CaptureQueriesContext(connection) as queries:
        assert sched.next_id(current_tasks=[]) == first  # holds A: searched, resent
    assert len(_held_loads(queries)) == 1


def _held_loads(queries) -> list[str]:
    """The statements loading a worker's running tasks (not the probe's EXISTS)."""
    return [
        q["sql"] for q in queries if "worker_running = " in q["sql"] and "EXISTS" not in q["sql"]
    ]


def test_dead_worker_loses_its_running_task(sched):
    sched.configure(worker_disconnect_delay=60, retry_delay=5)
    sched.add("A", worker="X")
    sched.add("A", worker="Y")
    assert sched.next_id("X") == "A"
    for _ in range(3):
        sched.advance(30)
        sched("ping", worker="Y")
    assert sched.status("A") == "FAILED"
    sched.advance(6)
    assert sched.next_id("Y") == "A"


def test_mark_as_done_and_forgive_failures(sched):
    sched.configure(retry_delay=1000)
    sched.add("A")
    sched.next_id()
    sched.finish("A", status="FAILED")
    assert sched("forgive_failures", task_id="A") == {"task_id": "A", "status": "PENDING"}
    assert sched("mark_as_done", task_id="A") == {"task_id": "A", "status": "PENDING"}
    sched.next_id()
    assert sched("mark_as_done", task_id="A") == {"task_id": "A", "status": "DONE"}
    assert sched("mark_as_done", task_id="nope") == {"task_id": "nope", "status": None}


def test_mark_as_done_unblocks_dependants(sched):
    sched.add("A", deps=["B"])
    sched.add("B", runnable=False)
    sched("add_task", task_id="B", worker="W", status="FAILED")
    assert sched.next_id() is None
    sched("mark_as_done", task_id="B")
    assert sched.next_id() == "A"


def test_orphaned_tasks_are_removed_after_remove_delay(sched):
    sched.configure(worker_disconnect_delay=10, remove_delay=100)
    sched.add("A", worker="X")
    sched.advance(11)
    sched("prune")
    assert sched.status("A") == "PENDING"
    sched.advance(101)
    sched("prune")
    assert sched.status("A") is None


def test_re_adding_cancels_removal(sched):
    sched.configure(worker_disconnect_delay=10, remove_delay=100)
    sched.add("A", worker="X")
    sched.advance(11)
    sched("prune")
    sched.add("A", worker="Y")
    sched.advance(101)
    sched("ping", worker="Y")
    sched("prune")
    assert sched.status("A") == "PENDING"


def test_removed_done_dependency_blocks_again(sched):
    sched.configure(worker_disconnect_delay=10, remove_delay=1)
    sched.add("B", worker="X")
    sched.next_id("X")
    sched.finish("B", worker="X")
    sched.add("A", worker="Y", deps=["B"])
    assert Task.objects.get(pk="A").unmet_deps == 0
    sched("disable_worker", worker="X")
    Task.objects.filter(pk="B").update(remove_at=sched.now)
    sched("prune")
    assert sched.status("B") is None
    assert Task.objects.get(pk="A").unmet_deps == 1
    assert sched.next_id("Y") is None


def test_pause_stops_handing_out_work(sched):
    sched.add("A")
    sched("pause")
    assert sched("is_paused") == {"paused": True}
    assert sched.next_id() is None
    sched("unpause")
    assert sched.next_id() == "A"


def test_pause_disabled_by_configuration(sched):
    sched.configure(pause_enabled=False)
    sched("pause")
    assert sched("is_paused") == {"paused": False}
    assert sched("is_pause_enabled") == {"enabled": False}


def test_disabled_worker_gets_nothing_and_cannot_add(sched):
    sched.add("A", worker="X")
    sched("disable_worker", worker="X")
    reply = sched.work("X")
    assert reply == {
        "n_pending_tasks": 0,
        "running_tasks": [],
        "task_id": None,
        "n_unique_pending": 0,
        "worker_state": "disabled",
    }
    sched.add("B", worker="X")
    assert sched.status("B") is None


def test_disabled_worker_may_finish_what_it_runs(sched):
    sched.add("A", worker="X")
    assert sched.next_id("X") == "A"
    sched("disable_worker", worker="X")
    sched.finish("A", worker="X")
    assert sched.status("A") == "DONE"


def test_tracking_url_status_message_and_progress(sched):
    sched.add("A")
    sched.next_id()
    sched("add_task", task_id="A", worker="W", status="RUNNING", tracking_url="http://x/1")
    sched("set_task_status_message", task_id="A", status_message="half")
    sched("set_task_progress_percentage", task_id="A", progress_percentage=50)
    listed = sched("task_list", status="RUNNING")["A"]
    assert listed["tracking_url"] == "http://x/1"
    assert sched("get_task_status_message", task_id="A") == {"taskId": "A", "statusMessage": "half"}
    assert sched("get_task_progress_percentage", task_id="A") == {
        "taskId": "A",
        "progressPercentage": 50,
    }
    assert sched("get_task_status_message", task_id="zz")["statusMessage"] == ""


@pytest.mark.parametrize("status", ["SUSPENDED", "PENDING"])
def test_legacy_suspended_is_pending(sched, status):
    sched.add("A", status=status)
    assert sched.status("A") == "PENDING"


def test_expl_and_params_are_kept(sched):
    sched.add("A_1", params={"x": "1", "h": "s"}, param_visibilities={"x": 0, "h": 1})
    listed = sched("task_list", status="PENDING")["A_1"]
    assert listed["params"] == {"x": "1"}
    assert listed["display_name"] == "A(x=1)"
    err = sched("fetch_error", task_id="A_1")
    assert err["taskParams"] == {"x": "1", "h": "s"}


def test_every_status_change_lands_in_the_outbox_in_order(sched):
    from scheduler.models import StatusEvent

    sched.add("A")
    sched.next_id()
    sched.finish("A", status="FAILED", expl='"x"')
    events = list(StatusEvent.objects.filter(task_id="A").order_by("id"))
    assert [(e.old_status, e.new_status) for e in events] == [
        ("", "PENDING"),  # registered
        ("PENDING", "RUNNING"),
        ("RUNNING", "FAILED"),
    ]
    assert events[1].cause == "get_work" and events[1].worker == "W"


def test_old_outbox_rows_are_trimmed(sched):
    from scheduler.models import StatusEvent

    sched.configure(event_retention=100, worker_disconnect_delay=1000)
    sched.add("A")
    sched.next_id()
    assert StatusEvent.objects.count() == 2
    sched.advance(101)
    sched("prune")
    assert StatusEvent.objects.count() == 0


def test_release_task_hands_a_running_task_back_without_a_failure(sched):
    sched.add("A", worker="X")
    sched.add("A", worker="Y")
    assert sched.next_id("X") == "A"
    # Only the worker running it may release it.
    assert sched("release_task", task_id="A", worker="Y") == {"task_id": "A", "status": "RUNNING"}
    assert sched("release_task", task_id="A", worker="X") == {"task_id": "A", "status": "PENDING"}
    assert Task.objects.get(pk="A").failures == []
    assert sched.next_id("Y") == "A"

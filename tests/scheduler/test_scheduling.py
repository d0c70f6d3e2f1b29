"""get_work decisions: priority, resources, greedy reservation, batching, counters."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from scheduler.models import Task, Worker


def test_higher_priority_first_then_oldest(sched):
    sched.add("A", priority=1)
    sched.advance(1)
    sched.add("B", priority=5)
    sched.advance(1)
    sched.add("C", priority=5)
    order = []
    for _ in range(3):
        task_id = sched.next_id(current_tasks=order)
        order.append(task_id)
    assert order == ["B", "C", "A"]


def test_priority_flows_to_dependencies_and_never_drops(sched):
    sched.add("Low", priority=0)
    sched.add("Top", priority=10, deps=["Mid"])
    sched.add("Mid", priority=1, deps=["Low"])
    assert Task.objects.get(pk="Mid").priority == 10
    assert Task.objects.get(pk="Low").priority == 10
    sched.add("Mid", priority=0)
    assert Task.objects.get(pk="Mid").priority == 10


def test_priority_propagates_through_a_deep_chain(sched):
    depth = 1500
    for i in range(depth):
        sched.add(f"T_{i}", deps=[f"T_{i + 1}"] if i + 1 < depth else [])
    sched.add("Root", priority=7, deps=["T_0"])
    assert Task.objects.filter(priority=7).count() == depth + 1


def test_resource_with_limit_one_runs_one_at_a_time(sched):
    sched.configure(resources={"db": 1})
    for worker in ("X", "Y"):
        sched.add("A", worker=worker, resources={"db": 1})
        sched.add("B", worker=worker, resources={"db": 1})
    first = sched.next_id("X")
    assert first in ("A", "B")
    assert sched.next_id("Y") is None
    sched.finish(first, worker="X")
    assert sched.next_id("Y") == ({"A", "B"} - {first}).pop()


def test_undeclared_resource_has_capacity_one(sched):
    sched.add("A", resources={"gpu": 1})
    sched.add("B", resources={"gpu": 1})
    sched.add("C", resources={"gpu": 2})
    got = sched.next_id()
    assert got in ("A", "B")
    assert sched.next_id(current_tasks=[got]) is None


def test_resource_amount_above_capacity_never_runs(sched):
    sched.configure(resources={"db": 2})
    sched.add("A", resources={"db": 3})
    assert sched.next_id() is None


def test_update_resource_at_run_time(sched):
    sched.configure(resources={"db": 0})
    sched.add("A", resources={"db": 1})
    assert sched.next_id() is None
    assert sched("update_resource", resource="db", amount=1) is True
    assert sched.next_id() == "A"
    for bad in (-1, 1.5, "2", True):
        assert sched("update_resource", resource="db", amount=bad) is False
    listed = {r["name"]: r for r in sched("resource_list")}
    assert listed["db"]["num_total"] == 1
    assert listed["db"]["num_used"] == 1
    assert list(listed["db"]["running"]) == ["A"]


def test_decrease_running_task_resources_frees_capacity(sched):
    sched.configure(resources={"db": 2})
    sched.add("A", resources={"db": 2})
    sched.add("B", resources={"db": 1})
    assert sched.next_id() == "A" or True
    running = Task.objects.get(status="RUNNING").task_id
    other = "B" if running == "A" else "A"
    if running == "A":
        assert sched.next_id(current_tasks=["A"]) is None
        sched("decrease_running_task_resources", task_id="A", decrease_resources={"db": 1})
        assert sched("get_running_task_resources", task_id="A")["resources"] == {"db": 1}
        assert sched.next_id(current_tasks=["A"]) == other


def test_greedy_reservation_protects_higher_priority_task_of_other_worker(sched):
    sched.configure(resources={"r": 1})
    sched.add("Important", worker="X", priority=10, resources={"r": 1}, deps=["Prep"])
    sched.add("Prep", worker="X", priority=10)
    sched.add("Minor", worker="Y", priority=1, resources={"r": 1})
    assert sched.next_id("X") == "Prep"
    sched.finish("Prep", worker="X")
    # Important is ready and X (idle, recently asking) will take it: Y must not grab r.
    assert sched.next_id("Y") is None
    assert sched.next_id("X") == "Important"


def test_running_task_ranked_first_uses_up_its_workers_budget(sched):
    sched.configure(resources={"r": 1})
    sched.add("Blocker", worker="X", priority=20)
    assert sched.next_id("X") == "Blocker"
    sched.add("Important", worker="X", priority=10, resources={"r": 1})
    sched.add("Minor", worker="Y", priority=1, resources={"r": 1})
    # X's single process is busy with a higher-ranked task: nothing is reserved for it.
    assert sched.next_id("Y") == "Minor"


def test_running_task_ranked_after_does_not_free_the_reservation(sched):
    sched.configure(resources={"r": 1})
    sched.add("Blocker", worker="X", priority=0)
    assert sched.next_id("X") == "Blocker"
    sched.add("Important", worker="X", priority=10, resources={"r": 1})
    sched.add("Minor", worker="Y", priority=1, resources={"r": 1})
    # As in Luigi's scan, Important is reserved for X before X's running task is counted.
    assert sched.next_id("Y") is None


def test_greedy_reservation_with_idle_capacity_on_other_worker(sched):
    sched.configure(resources={"r": 1})
    sched("add_worker", worker="X", info={"workers": 2})
    sched.add("Blocker", worker="X", priority=0)
    assert sched.next_id("X") == "Blocker"
    sched.add("Important", worker="X", priority=10, resources={"r": 1}, deps=["Dep"])
    sched.add("Dep", worker="X", runnable=False, status="DONE")
    sched.add("Minor", worker="Y", priority=1, resources={"r": 1})
    # X has a free process and Important fits: the resource is reserved for X.
    assert sched.next_id("Y") is None
    assert sched.next_id("X", current_tasks=["Blocker"]) == "Important"


def test_batching_hands_out_one_batch_and_the_claim_completes_members(sched):
    sched(
        "add_task_batcher",
        worker="W",
        task_family="B",
        batched_args=["d"],
        max_batch_size=float("inf"),
    )
    for d in ("a", "b", "c"):
        sched.add(f"B_{d}", family="B", params={"d": d, "k": "1"}, batchable=True)
    sched.add("B_z", family="B", params={"d": "z", "k": "2"}, batchable=True)
    reply = sched.work()
    assert reply["task_id"] is None
    assert reply["task_family"] == "B"
    assert sorted(reply["batch_task_ids"]) == ["B_a", "B_b", "B_c"]
    assert sorted(reply["task_params"]["d"]) == ["a", "b", "c"]
    assert reply["task_params"]["k"] == "1"
    assert all(sched.status(f"B_{d}") == "BATCH_RUNNING" for d in "abc")
    batch_id = reply["batch_id"]
    sched(
        "add_task",
        task_id="B_abc",
        worker="W",
        status="RUNNING",
        batch_id=batch_id,
        family="B",
        params={"d": "a,b,c", "k": "1"},
    )
    sched("set_task_status_message", task_id="B_abc", status_message="going")
    assert sched("get_task_status_message", task_id="B_a")["statusMessage"] == "going"
    sched.finish("B_abc")
    assert all(sched.status(f"B_{d}") == "DONE" for d in "abc")
    assert sched.status("B_z") == "PENDING"


def test_batch_respects_max_batch_size(sched):
    sched("add_task_batcher", worker="W", task_family="B", batched_args=["d"], max_batch_size=2)
    for d in "abcd":
        sched.add(f"B_{d}", family="B", params={"d": d}, batchable=True)
    reply = sched.work()
    assert len(reply["batch_task_ids"]) == 2


def test_unclaimed_batch_returns_to_pending(sched):
    sched("add_task_batcher", worker="W", task_family="B", batched_args=["d"])
    for d in "ab":
        sched.add(f"B_{d}", family="B", params={"d": d}, batchable=True)
    first = sched.work()
    assert first["batch_id"]
    again = sched.work(current_tasks=[])
    assert sorted(again["batch_task_ids"]) == ["B_a", "B_b"]


def test_failed_batch_runner_fails_members(sched):
    sched("add_task_batcher", worker="W", task_family="B", batched_args=["d"])
    for d in "ab":
        sched.add(f"B_{d}", family="B", params={"d": d}, batchable=True)
    reply = sched.work()
    sched(
        "add_task",
        task_id="B_ab",
        worker="W",
        status="RUNNING",
        batch_id=reply["batch_id"],
        family="B",
        params={"d": "a,b"},
    )
    sched.finish("B_ab", status="FAILED", expl='"bad"')
    assert sched.status("B_a") == "FAILED"
    assert sched("fetch_error", task_id="B_b")["error"] == '"bad"'


def test_count_pending_counters(sched):
    sched.add("A", worker="X")
    sched.add("B", worker="X")
    sched.add("B", worker="Y")
    sched.add("C", worker="Y")
    sched.add("C", worker="X")
    counts = sched("count_pending", worker="X")
    assert counts["n_pending_tasks"] == 3
    assert counts["n_unique_pending"] == 1  # A
    assert counts["n_pending_last_scheduled"] == 2  # A, C (X added last)
    assert counts["worker_state"] == "active"
    assert counts["running_tasks"] == []


def test_a_claim_moves_every_wanting_workers_counters_in_one_statement(sched):
    for worker in ("X", "Y", "Z"):
        sched.add("A", worker=worker)
        sched.add("B", worker=worker)
    sched.add("C", worker="Z")
    with CaptureQueriesContext(connection) as queries:
        assert sched.next_id(worker="Y") in ("A", "B")
    counter_writes = [q for q in queries if "workercounters" in q["sql"].lower()]
    # One UPDATE on PostgreSQL for the three rows; SQLite writes a row per statement.
    assert len(counter_writes) == (2 if connection.vendor == "postgresql" else 4)  # + read
    counts = {w: sched("count_pending", worker=w) for w in ("X", "Y", "Z")}
    assert [counts[w]["n_pending_tasks"] for w in ("X", "Y", "Z")] == [1, 1, 2]
    assert [counts[w]["n_unique_pending"] for w in ("X", "Y", "Z")] == [0, 0, 1]
    assert [counts[w]["n_pending_last_scheduled"] for w in ("X", "Y", "Z")] == [0, 0, 2]


def test_get_work_reads_the_counters_with_its_probe(sched):
    sched.add("A", worker="X")
    sched.add("B", worker="X")
    sched.add("B", worker="Y")
    with CaptureQueriesContext(connection) as queries:
        reply = sched.work(worker="X")
    # Statements reading the counters (not the one that moves them after the claim).
    reads = [
        q["sql"]
        for q in queries
        if "workercounters" in q["sql"].lower()
        and not re.search(r'UPDATE "?pipelines_scheduler_workercounters', q["sql"])
    ]
    assert len(reads) == 1 and "EXISTS" in reads[0]  # the probe's statement, no other
    assert reply["task_id"] == "A"
    assert (reply["n_pending_tasks"], reply["n_unique_pending"]) == (2, 1)
    assert reply["n_pending_last_scheduled"] == 1  # A (Y was added to B last)
    fresh = sched.work(worker="never-seen")  # no counters row yet
    assert fresh["task_id"] is None and fresh["n_pending_tasks"] == 0


def test_count_pending_skips_upstream_disabled(sched):
    sched.add("A", deps=["D"])
    sched.add("D", status="DISABLED")
    sched.add("E")
    counts = sched("count_pending", worker="W")
    assert counts["n_pending_tasks"] == 1


def test_get_work_reply_counts_include_the_chosen_task(sched):
    sched.add("A")
    reply = sched.work()
    assert reply["task_id"] == "A"
    assert reply["n_pending_tasks"] == 1
    assert reply["running_tasks"] == []
    second = sched.work(worker="W", current_tasks=["A"])
    assert second["running_tasks"][0]["task_id"] == "A"
    assert second["running_tasks"][0]["worker"] == "W"


@pytest.mark.postgres_only
def test_get_work_touches_its_worker_in_the_probes_statement(sched):
    sched.add("A", worker="X")
    sched.advance(5)
    with CaptureQueriesContext(connection) as queries:
        assert sched.work(worker="X", host="h1")["task_id"] == "A"
    (touch,) = [q["sql"] for q in queries if 'UPDATE "pipelines_scheduler_worker"' in q["sql"]]
    assert "AND has_resources), EXISTS" in touch  # the probe, in the same statement
    worker = Worker.objects.get(pk="X")
    assert (worker.last_active, worker.last_get_work, worker.host) == (sched.now,) * 2 + ("h1",)


def test_an_assistant_asking_for_the_first_time_becomes_one(sched):
    sched.add("A", worker="X")
    sched("add_worker", worker="helper", info={})
    reply = sched("get_work", worker="helper", assistant=True)
    assert reply["task_id"] == "A"  # an assistant runs what others registered
    assert Worker.objects.get(pk="helper").info.get("assistant") is True

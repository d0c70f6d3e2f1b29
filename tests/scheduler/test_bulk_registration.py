"""add_tasks (bulk registration) leaves exactly the state add_task calls one by one leave.

The property test runs the same random registrations twice, once as one
add_task call each and once as one add_tasks call per step, each inside a
transaction that is rolled back afterwards, and compares everything the
scheduler keeps: task rows, edges, runnable links, stakeholders, count_pending
counters, the outbox, history runs and events. Both must also pass the
invariant checker.
"""

from __future__ import annotations

import dataclasses

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from history.models import Event, Run
from scheduler import rpc
from scheduler.conf import get_config
from scheduler.errors import InvalidArgument
from scheduler.models import (
    Dependency,
    RunnableBy,
    Stakeholder,
    StatusEvent,
    Task,
    WorkerCounters,
)
from scheduler.service import Ctx
from scheduler.service import registration as registration_service
from scheduler.service.invariants import violations
from scheduler.service.registration import MAX_TASKS

from .conftest import T0

POOL = [f"T{i}" for i in range(7)]

registration = st.fixed_dictionaries(
    {
        "task_id": st.sampled_from(POOL),
        "status": st.sampled_from(["PENDING"] * 5 + ["DONE", "FAILED", "RUNNING"]),
        "deps": st.one_of(st.none(), st.lists(st.sampled_from(POOL), max_size=3, unique=True)),
        "priority": st.sampled_from([0, 0, 0, 3, 7]),
        "runnable": st.sampled_from([True, True, True, False]),
        "resources": st.sampled_from([None, {"cpu": 1}]),
    },
    optional={
        "batchable": st.booleans(),
        "expl": st.sampled_from(["boom"]),
        "retry_policy_dict": st.sampled_from([{"retry_count": 2}]),
    },
)


def _no_self_dependency(item: dict) -> dict:
    # A task depending on itself is a cycle no worker sends (runworker and Luigi
    # refuse cycles before registering).
    if item["deps"]:
        item["deps"] = [d for d in item["deps"] if d != item["task_id"]]
    return item


step = st.tuples(
    st.sampled_from(["A", "B", "C"]),
    st.lists(registration.map(_no_self_dependency), min_size=1, max_size=8),
)


class _Rollback(Exception):
    pass


def _snapshot() -> dict:
    skip = {"time_running"}
    fields = [f.attname for f in Task._meta.concrete_fields if f.attname not in skip]
    return {
        "tasks": sorted(Task.objects.values_list(*fields)),
        "edges": sorted(Dependency.objects.values_list("task_id", "dep_id")),
        "links": sorted(RunnableBy.objects.values_list("task_id", "worker_id")),
        "stakes": sorted(Stakeholder.objects.values_list("task_id", "worker_id")),
        "counters": sorted(
            WorkerCounters.objects.values_list(
                "worker_id", "n_pending", "n_unique", "n_last_scheduled"
            )
        ),
        "outbox": list(
            StatusEvent.objects.order_by("id").values_list(
                "task_id", "old_status", "new_status", "cause", "worker", "at"
            )
        ),
        "runs": sorted(
            Run.objects.values_list(
                "task_id", "family", "params", "status", "opened_at", "started_at", "ended_at"
            )
        ),
        "events": sorted(
            Event.objects.values_list("run__task_id", "old_status", "status", "cause", "worker")
        ),
    }


def rolled_back(play, config) -> tuple[dict, list[str]]:
    """Run ``play()`` in a transaction rolled back afterwards: the state it left
    (``_snapshot``) and the invariant checker's findings."""
    try:
        with transaction.atomic():
            play()
            state, problems = _snapshot(), violations(config=config)
            raise _Rollback
    except _Rollback:
        pass
    return state, problems


def _play(steps, bulk: bool, config) -> tuple[dict, list[str]]:
    def play() -> None:
        for number, (worker, items) in enumerate(steps):
            ctx = Ctx(now=T0 + 10 * number, config=config)
            if bulk:
                rpc.call("add_tasks", {"worker": worker, "tasks": items}, ctx=ctx)
            else:
                for item in items:
                    rpc.call("add_task", {**item, "worker": worker}, ctx=ctx)

    return rolled_back(play, config)


@pytest.mark.django_db(transaction=False)
@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(step, min_size=1, max_size=5))
def test_add_tasks_equals_add_task_one_by_one(steps):
    config = dataclasses.replace(get_config(), prune_interval=0.0)
    one_by_one, problems_one = _play(steps, bulk=False, config=config)
    bulk, problems_bulk = _play(steps, bulk=True, config=config)
    assert problems_one == []
    assert problems_bulk == []
    for key in one_by_one:
        assert bulk[key] == one_by_one[key], key


@pytest.mark.django_db(transaction=False)
def test_a_graph_registered_root_first_tries_few_bulk_runs(monkeypatch):
    """Root first (as Luigi's workers find a graph), every task after the root is an
    UNKNOWN placeholder when its registration comes: add_task's path, one by one.
    A bulk run reads and locks the whole window, so one tried before each of them
    made a 1,000-task call quadratic (a 5,000-task graph took 100 s to register);
    now the first failed run tells how many to take one by one. Same end state."""
    leaves = [f"Leaf_{i}" for i in range(200)]
    groups = {f"Group_{g}": leaves[g::5] for g in range(5)}
    items = [{"task_id": "Root", "family": "Root", "deps": sorted(groups)}]
    items += [{"task_id": g, "family": "Group", "deps": deps} for g, deps in groups.items()]
    items += [{"task_id": leaf, "family": "Leaf", "deps": []} for leaf in leaves]
    runs = []
    original = registration_service._Run.__init__

    def counting(self, *args, **kwargs):
        runs.append(len(args[2]))
        original(self, *args, **kwargs)

    monkeypatch.setattr(registration_service._Run, "__init__", counting)
    config = dataclasses.replace(get_config(), prune_interval=0.0)
    bulk, problems = _play([("A", items)], bulk=True, config=config)
    assert problems == []
    # The root in bulk; the groups' placeholders found by that run; the leaves'
    # placeholders (made by the groups' registrations) found by one more.
    assert len(runs) <= 3, runs
    monkeypatch.setattr(registration_service._Run, "__init__", original)
    one_by_one, _ = _play([("A", items)], bulk=False, config=config)
    for key in one_by_one:
        assert bulk[key] == one_by_one[key], key
    assert len(bulk["tasks"]) == 206


def test_a_graph_registered_by_two_workers_in_bulk(sched):
    """The common case: a new graph, then a second worker joining it."""
    graph = [{"task_id": f"Leaf_{i}", "family": "Leaf"} for i in range(300)]
    graph.append({"task_id": "Root", "family": "Root", "deps": [t["task_id"] for t in graph]})
    sched("add_tasks", worker="A", tasks=graph)
    sched("add_tasks", worker="B", tasks=graph)
    assert Task.objects.filter(status="PENDING").count() == 301
    assert Task.objects.get(pk="Root").unmet_deps == 300
    assert RunnableBy.objects.count() == 602
    # B's links were saved for all 301 rows at once (one UPDATE on PostgreSQL).
    assert set(Task.objects.values_list("n_workers", "last_worker").distinct()) == {(2, "B")}
    assert violations() == []
    assert StatusEvent.objects.count() == 301  # new -> PENDING once each
    assert Run.objects.count() == 301
    assert sched("count_pending", worker="B")["n_pending_tasks"] == 301
    assert sched("count_pending", worker="A")["n_unique_pending"] == 0
    assert sched.next_id("A").startswith("Leaf_")


@pytest.mark.parametrize(
    "tasks, argument",
    [
        (None, "tasks"),
        ({"task_id": "X"}, "tasks"),
        (["X"], "tasks[0]"),
        ([{"task_id": "X"}, {"task_id": "Y", "status": "SLEEPING"}], "tasks[1].status"),
        ([{"task_id": "X"}, {"task_id": ""}], "tasks[1].task_id"),
        ([{"task_id": "X", "worker": "someone else"}], "tasks[0].worker"),
        ([{"task_id": f"T{i}"} for i in range(MAX_TASKS + 1)], "tasks"),
    ],
)
def test_bad_registrations_are_refused_whole(sched, tasks, argument):
    with pytest.raises(InvalidArgument) as caught:
        sched("add_tasks", worker="A", tasks=tasks)
    assert caught.value.argument == argument
    assert not Task.objects.exists()


def test_add_tasks_over_http_names_the_bad_registration(db, client):
    from tests.urls import at

    reply = client.post(
        at("/api/add_tasks"),
        {"data": '{"worker": "A", "tasks": [{"task_id": "X"}, {"task_id": 5}]}'},
    )
    assert reply.status_code == 400
    assert "tasks[1].task_id" in reply.json()["error"] + reply.json().get("detail", "")
    assert not Task.objects.exists()
    ok = client.post(at("/api/add_tasks"), {"data": '{"worker": "A", "tasks": [{"task_id": "X"}]}'})
    assert ok.status_code == 200 and ok.json() == {"response": {"registered": 1}}
    assert Task.objects.get(pk="X").status == "PENDING"

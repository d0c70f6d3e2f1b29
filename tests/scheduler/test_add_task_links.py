"""add_task reads the task's row, its worker's runnable link and stakeholder row and
whether it has dependencies in one statement; the link, stakeholder and edge
statements run only where they change something."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from scheduler.models import RunnableBy, Stakeholder, Worker

LINK_TABLES = ("pipelines_scheduler_runnableby", "pipelines_scheduler_stakeholder")


def _statements(sched, **call) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        sched("add_task", **call)
    return [q["sql"] for q in captured.captured_queries]


# The task row's locking read, in a WITH clause after the one that touches the worker
# (PostgreSQL).
_LOCKING_READ = re.compile(
    r'(WITH touched AS \(UPDATE [^)]*\), locked AS MATERIALIZED \()?SELECT "task_id", "family"'
)


def _touching(statements: list[str], table: str) -> list[str]:
    """Statements that read or write ``table`` on their own (not as a subquery of the
    task row's locking read)."""
    return [s for s in statements if table in s and not _LOCKING_READ.match(s)]


def test_a_report_by_a_linked_worker_reads_no_link_table_on_its_own(sched):
    sched.add("Leaf", worker="W")
    sched.add("Leaf", worker="V")  # W is no longer the last worker added
    assert sched.next_id("W") == "Leaf"
    statements = _statements(sched, task_id="Leaf", worker="W", status="DONE", runnable=True)
    for table in LINK_TABLES:
        assert _touching(statements, table) == [], table
    # A leaf's edges are not read (its dependants' counters are still moved).
    assert not [s for s in statements if s.startswith("SELECT d.dep_id")]
    assert [s for s in statements if s.startswith("UPDATE pipelines_scheduler_task SET unmet")]
    assert sched.status("Leaf") == "DONE"


def test_a_new_worker_is_linked_and_made_a_stakeholder(sched):
    sched.add("Leaf", worker="W")
    statements = _statements(sched, task_id="Leaf", worker="V", family="Leaf")
    assert _touching(statements, "pipelines_scheduler_runnableby")
    assert set(RunnableBy.objects.filter(task_id="Leaf").values_list("worker_id", flat=True)) == {
        "W",
        "V",
    }
    assert set(Stakeholder.objects.filter(task_id="Leaf").values_list("worker_id", flat=True)) == {
        "W",
        "V",
    }


def test_a_stakeholder_is_still_added_to_the_dependencies(sched):
    # W registered Root alone; when it re-registers Root with its dependencies, the
    # dependencies get W as stakeholder even though W already is one of Root's.
    sched.add("Root", worker="W")
    sched.add("Root", worker="W", deps=["A", "B"])
    assert set(Stakeholder.objects.filter(worker_id="W").values_list("task_id", flat=True)) == {
        "Root",
        "A",
        "B",
    }


def test_a_stakeholder_that_cannot_run_the_task_is_not_linked(sched):
    sched.add("Leaf", worker="W")
    sched.add("Leaf", worker="V", runnable=False)
    assert list(RunnableBy.objects.filter(task_id="Leaf").values_list("worker_id", flat=True)) == [
        "W"
    ]
    assert Stakeholder.objects.filter(task_id="Leaf", worker_id="V").exists()


def test_dependencies_of_a_task_are_read_when_it_has_some(sched):
    sched.add("Root", worker="W", deps=["A"], priority=5)
    sched.add("A", worker="W")
    # Root's report keeps its edge, and priority still flows down to A.
    sched.add("Root", worker="V", priority=9)
    assert sched("dep_graph", task_id="Root")["A"]["priority"] == 9


@pytest.mark.postgres_only
def test_the_locking_read_sets_the_workers_last_active(sched):
    sched.add("Leaf", worker="W")
    sched.add("Leaf", worker="V")
    sched.advance(5)
    statements = _statements(sched, task_id="Leaf", worker="W", status="PENDING")
    (touching_worker,) = [s for s in statements if '"pipelines_scheduler_worker"' in s]
    assert touching_worker.startswith("WITH touched AS (UPDATE")
    assert Worker.objects.get(pk="W").last_active == sched.now


@pytest.mark.postgres_only
@pytest.mark.parametrize("disabled", [False, True])
def test_a_new_tasks_locking_read_also_tells_whether_the_worker_is_disabled(sched, disabled):
    sched.add("Other", worker="W")
    if disabled:
        sched("disable_worker", worker="W")
    sched.advance(5)
    statements = _statements(sched, task_id="New", worker="W", status="PENDING")
    worker_table = '"pipelines_scheduler_worker"'
    (touching_worker,) = [s for s in statements if worker_table in s]
    assert _LOCKING_READ.match(touching_worker)
    assert Worker.objects.get(pk="W").last_active == sched.now
    assert sched.status("New") == (None if disabled else "PENDING")


def test_a_new_worker_registering_a_known_task_is_created(sched):
    sched.add("Leaf", worker="W")
    sched.advance(5)
    sched.add("Leaf", worker="New")
    assert Worker.objects.get(pk="New").last_active == sched.now
    assert RunnableBy.objects.filter(task_id="Leaf", worker_id="New").exists()
    assert sched.next_id("New") == "Leaf"


def test_a_disabled_worker_registering_a_known_task_is_ignored(sched):
    sched.add("Leaf", worker="W")
    sched.add("X", worker="D")
    sched("disable_worker", worker="D")
    sched.advance(5)
    sched.add("Leaf", worker="D")
    assert not RunnableBy.objects.filter(task_id="Leaf", worker_id="D").exists()
    assert not Stakeholder.objects.filter(task_id="Leaf", worker_id="D").exists()
    assert Worker.objects.get(pk="D").last_active == sched.now


def test_another_workers_registration_links_it_with_the_tasks_update(sched):
    sched.add("Leaf", worker="W")
    statements = _statements(sched, task_id="Leaf", worker="V", status="PENDING")
    link = RunnableBy._meta.db_table
    writes = [s for s in statements if f'INSERT INTO "{link}"' in s]
    assert len(writes) == 1
    if connection.vendor == "postgresql":  # one statement: the link and the task's update
        assert 'UPDATE "pipelines_scheduler_task"' in writes[0]
    assert RunnableBy.objects.filter(task_id="Leaf", worker_id="V").exists()
    assert sched("count_pending", worker="V")["n_pending_tasks"] == 1
    assert sched.next_id("V") == "Leaf"

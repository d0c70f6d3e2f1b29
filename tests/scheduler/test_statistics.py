"""The task table's planner statistics are refreshed while a new table fills."""

from __future__ import annotations

import pytest
from django.db import connection

from scheduler.models import Task
from scheduler.service import statistics

pytestmark = pytest.mark.postgres_only


def _known_rows() -> float:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [Task._meta.db_table]
        )
        return cursor.fetchone()[0]


def test_refresh_analyzes_when_the_statistics_know_fewer_rows_than_were_added(sched):
    for i in range(30):
        sched.add(f"A_{i}")
    known = _known_rows()
    assert statistics.refresh(grown=int(max(known, 0)) + 1) is True
    assert _known_rows() == 30  # ANALYZE counts the transaction's own rows
    assert statistics.refresh(grown=30) is False
    assert statistics.refresh(grown=31) is True


def test_inserted_tasks_lead_to_a_look_after_commit(
    sched, monkeypatch, django_capture_on_commit_callbacks
):
    looks: list[int] = []
    monkeypatch.setattr(statistics, "refresh", looks.append)
    monkeypatch.setattr(statistics, "CHECK_EVERY", 5)
    monkeypatch.setattr(statistics, "_inserted", 0)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        for i in range(4):
            sched.add(f"A_{i}")
        assert looks == [] and callbacks == []
        sched("add_tasks", worker="W", tasks=[{"task_id": f"B_{i}"} for i in range(3)])
        sched.add("A_0")  # known already: nothing inserted
    assert looks == [7]
    assert statistics._inserted == 0

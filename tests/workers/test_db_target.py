"""DatabaseTarget: completion markers stored through the Django ORM."""

from __future__ import annotations

import pytest

import workers
from workers import DatabaseTarget, TaskCompletionTarget
from workers.errors import TaskDefinitionError
from workers.models import TargetMarker

pytestmark = pytest.mark.django_db


def test_touch_exists_remove() -> None:
    target = DatabaseTarget("Load_2024_01_01_abc", table="sales")
    assert not target.exists()
    target.touch()
    assert target.exists()
    target.touch()  # idempotent
    assert TargetMarker.objects.filter(update_id="Load_2024_01_01_abc").count() == 1
    target.remove()
    assert not target.exists()


def test_same_update_id_in_different_tables_is_independent() -> None:
    DatabaseTarget("u1", table="a").touch()
    assert not DatabaseTarget("u1", table="b").exists()
    DatabaseTarget("u1", table="b").touch()
    assert TargetMarker.objects.filter(update_id="u1").count() == 2


def test_task_with_database_output_completes() -> None:
    class LoadSales(workers.Task):
        day = workers.DateParameter()

        def output(self):
            return TaskCompletionTarget(self.task_id, table="sales")

        def run(self):
            self.output().touch()

    task = LoadSales.from_str_params({"day": "2024-01-01"})
    assert not task.complete()
    task.run()
    assert task.complete()
    marker = TargetMarker.objects.get()
    assert (marker.update_id, marker.target_table) == (task.task_id, "sales")
    assert marker.inserted_at is not None


def test_update_id_is_validated() -> None:
    with pytest.raises(TaskDefinitionError):
        DatabaseTarget("")
    with pytest.raises(TaskDefinitionError):
        DatabaseTarget("x" * 600)

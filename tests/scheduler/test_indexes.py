"""The scheduler's hot tables carry only the indexes its queries use: every index is
written on each insert, and on each update that is not HOT."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from scheduler import rpc
from scheduler.models import Dependency, RunnableBy, Stakeholder, Task, Worker, WorkerCounters

HOT_TABLES = [
    m._meta.db_table for m in (Task, Worker, WorkerCounters, RunnableBy, Stakeholder, Dependency)
]


def _indexes(table: str) -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes "
            "WHERE schemaname = current_schema() AND tablename = %s",
            [table],
        )
        return dict(cursor.fetchall())


@pytest.mark.postgres_only
@pytest.mark.django_db
def test_no_prefix_search_indexes_on_the_hot_tables():
    # PostgreSQL's extra varchar_pattern_ops index per indexed text column serves only
    # LIKE 'prefix%', which no scheduler query runs.
    found = {
        name
        for table in HOT_TABLES
        for name, definition in _indexes(table).items()
        if "pattern_ops" in definition
    }
    assert found == set()


@pytest.mark.postgres_only
@pytest.mark.django_db
def test_link_tables_index_each_column_order_once():
    # The unique (task, worker) constraint and the (worker, ...) index serve every
    # lookup by either column; single-column foreign-key indexes would repeat them.
    for model in (RunnableBy, Stakeholder):
        assert len(_indexes(model._meta.db_table)) == 3, model.__name__
    assert len(_indexes(Dependency._meta.db_table)) == 3


@pytest.mark.postgres_only
@pytest.mark.django_db
def test_the_columns_written_by_every_call_are_in_no_index():
    # The worker's last_active (every call), last_get_work (get_work), a task's
    # n_workers and last_worker (every registration by another worker): updates that
    # change only these stay HOT, writing no index entry.
    written = {
        Worker._meta.db_table: ("last_active", "last_get_work"),
        Task._meta.db_table: ("n_workers", "last_worker"),
    }
    for table, columns in written.items():
        for name, definition in _indexes(table).items():
            assert not any(column in definition for column in columns), (name, definition)


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_registration_by_another_worker_is_a_hot_update():
    def updates() -> tuple[int, int]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relname = %s",
                [Task._meta.db_table],
            )
            return cursor.fetchone()

    rpc.call("add_task", {"worker": "A", "task_id": "T", "family": "T"})
    with transaction.atomic():
        before = updates()
        rpc.call("add_task", {"worker": "B", "task_id": "T", "family": "T"})
        after = updates()
    assert after[0] - before[0] == 1  # n_workers and last_worker changed
    assert after[1] - before[1] == 1  # and that update was HOT

"""The scheduler's hot tables carry only the indexes its queries use: every index is
written on each insert, and on each update that is not HOT."""

from __future__ import annotations

import pytest
from django.db import connection

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

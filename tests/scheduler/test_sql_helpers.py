"""The hand-written SQL helpers (scheduler.service.sql): the shared cursor, value
conversion, model instances built from rows, and text arrays sent in binary form."""

from __future__ import annotations

from collections import defaultdict

import pytest
from django.conf import settings
from django.db import connection, models, transaction
from django.db.models.base import ModelState
from django.db.models.signals import post_init
from django.test.utils import CaptureQueriesContext

from scheduler.conf import get_config
from scheduler.models import RunnableBy, Task, Worker
from scheduler.service import Ctx, sql
from scheduler.service.registration import FILLED_FIELDS, _Run
from scheduler.service.tasks import MUTABLE_FIELDS, Registration, _values

from .conftest import T0


@pytest.mark.postgres_only
def test_statements_share_one_cursor_per_connection(transactional_db):
    with sql.cursor() as first:
        pass
    assert sql.fetch("SELECT 1") == [(1,)]
    with sql.cursor() as again:
        assert again is first
    connection.close()
    # A new connection gets a cursor of its own.
    assert sql.fetch("SELECT 2") == [(2,)]
    with sql.cursor() as after_close:
        assert after_close is not first


@pytest.mark.postgres_only
def test_a_large_result_is_not_kept_on_the_shared_cursor(db):
    with sql.cursor() as before:
        pass
    rows = sql.fetch("SELECT g FROM generate_series(1, %s) g", [sql.KEEP_ROWS + 1])
    assert len(rows) == sql.KEEP_ROWS + 1
    assert before.closed
    with sql.cursor() as now:
        assert now is not before


def test_statements_are_logged_where_queries_are_captured(db):
    # Tests and DEBUG count statements through Django's logging cursor.
    with CaptureQueriesContext(connection) as captured:
        sql.fetch("SELECT 11")
        sql.execute("SELECT 12")
    assert [q["sql"] for q in captured.captured_queries] == ["SELECT 11", "SELECT 12"]


def test_sqlite_statements_get_a_cursor_each(db):
    # SQLite: a cursor left with an unfinished statement would hold its read lock.
    with sql.cursor() as first:
        pass
    with sql.cursor() as second:
        same = second is first
    assert same is (connection.vendor == "postgresql")


class _Text(str):
    pass


@pytest.mark.parametrize(
    ("model", "name", "value"),
    [
        (Task, "task_id", "A"),
        (Task, "task_id", _Text("A")),  # a str subclass: converted as Django does
        (Task, "priority", 3),  # an int for a float column
        (Task, "priority", 2.5),
        (Task, "unmet_deps", 4),
        (Task, "runnable", True),
        (Task, "runnable", 1),
        (Task, "params", {"a": "1"}),
        (Task, "failures", [1.0]),
        (Task, "remove_at", None),
        (RunnableBy, "task", "A"),
        (RunnableBy, "worker", "W"),
    ],
)
def test_values_are_converted_as_the_fields_convert_them(db, model, name, value):
    field = model._meta.get_field(name)
    expected = field.get_db_prep_save(value, connection)
    for converted in (sql._prep(field, value), sql._prep_rows([field], [[value]])[0][0]):
        assert type(converted) is type(expected)
        if hasattr(expected, "obj"):  # JSON adapters
            assert converted.obj == expected.obj
        else:
            assert converted == expected


def test_rows_become_instances_as_the_orm_makes_them(sched):
    sched.add("A", worker="W", params={"x": "1"}, priority=3)
    select, fields = sql._select_list(Task)
    rows = sql.fetch(f"SELECT {select} FROM {sql.table(Task)} WHERE task_id = %s", ["A"])
    (built,) = sql._instances(Task, fields, rows)
    reference = Task.objects.get(pk="A")
    assert type(built) is Task
    assert isinstance(built._state, ModelState)
    assert built._state.adding is False and built._state.db == connection.alias
    for f in fields:
        assert getattr(built, f.attname) == getattr(reference, f.attname), f.name
    assert built.params == {"x": "1"} and built.priority == 3.0 and built.pk == "A"
    # Saved through the ORM like any loaded instance.
    built.expl = "changed"
    built.save(update_fields=["expl"])
    assert Task.objects.get(pk="A").expl == "changed"


def test_models_with_construction_listeners_are_built_by_django(sched):
    sched.add("A", worker="W")
    seen = []

    def listener(sender, instance, **kwargs):
        seen.append(instance.pk)

    post_init.connect(listener, sender=Worker)
    try:
        loaded = sql.load(Worker, "worker_id = %s", ["W"])
    finally:
        post_init.disconnect(listener, sender=Worker)
    assert [w.pk for w in loaded] == ["W"]
    assert seen == ["W"]


@pytest.mark.parametrize(
    "task_id",
    ["a,b", 'q"uote', "{brace}", "back\\slash", "sp ace", "NULL", "ünï ☃", "x" * 200],
)
def test_ids_that_need_quoting_in_an_array_are_found(sched, task_id):
    sched.add(task_id, worker="W")
    sched.add("other", worker="W")
    with transaction.atomic():
        loaded = sql.load_by_pk(Task, [task_id, "missing"], lock="UPDATE")
    assert [t.task_id for t in loaded] == [task_id]
    having = sql.fetch(*sql.ids_having(RunnableBy, "task_id", [task_id, "other", "missing"]))
    assert sorted(row[0] for row in having) == sorted([task_id, "other"])


def test_bulk_registration_compares_every_field_it_sets(db):
    """Registering in bulk UPDATEs the FILLED_FIELDS that changed: _fill and _link must
    set no other field, or that change would be lost."""
    task = Task(
        task_id="T",
        status="PENDING",
        priority=0.0,
        time=T0,
        updated=T0,
        family="",
        module="",
        params={},
        param_visibilities={},
        resources={},
        retry_policy={},
        n_workers=1,
        last_worker="old",
    )
    before = _values(task)
    registration = Registration(
        worker_id="W",
        task_id="T",
        status="PENDING",
        runnable=True,
        deps=None,
        new_deps=None,
        expl="why",
        resources={"r": 1},
        priority=5.0,
        family="Fam",
        module="mod",
        params={"p": "1"},
        visibilities={"p": 0},
        accepts_messages=True,
        assistant=False,
        tracking_url=None,
        batchable=True,
        batch_id=None,
        policy_dict={"retry_count": 2},
    )
    run = _Run.__new__(_Run)
    run.ctx, run.worker_id = Ctx(now=T0, config=get_config()), "W"
    run.links, run.deltas = [], defaultdict(lambda: [0, 0, 0])
    run._fill(task, registration)
    run._link(task)
    changed = {name for name, value in _values(task).items() if before[name] != value}
    assert changed, "the registration changed nothing: the check proves nothing"
    assert changed <= set(FILLED_FIELDS)
    assert set(FILLED_FIELDS) <= set(MUTABLE_FIELDS)


def test_plain_types_cover_only_fields_that_keep_such_values(db):
    # A field whose conversion changes a value of its plain type (integer fields on
    # PostgreSQL: a typed adapter) must not be in the table.
    for field_class, plain in sql._PLAIN_TYPES.items():
        sample = {str: "x", float: 1.5, bool: True}[plain]
        field = field_class(max_length=10) if field_class is models.CharField else field_class()
        converted = field.get_db_prep_save(sample, connection)
        assert type(converted) is plain and converted == sample


def test_the_vendor_is_read_from_the_configured_backend(monkeypatch):
    assert sql.is_postgres() == (connection.vendor == "postgresql")
    # A backend built on Django's PostgreSQL one (PostGIS, instrumented wrappers)
    # under another module name counts as PostgreSQL.
    monkeypatch.setitem(
        settings.DATABASES["default"], "ENGINE", "tests.scheduler.postgres_like_backend"
    )
    assert sql.is_postgres() is True

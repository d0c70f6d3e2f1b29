"""Hand-written SQL for the hot paths (add_task, get_work), where the ORM's
per-query compilation costs more than the queries themselves.

Values go through each field's own conversion (``get_db_prep_save``), so JSON
fields and the like are stored exactly as the ORM would store them; a value that
already has its column's plain type (a str for a text column, ...) is passed as
it is, which is what that conversion would return.

Statements run on one cursor per database connection (``cursor()``), kept
across statements: opening a cursor costs about as much as PostgreSQL's work on
a small statement.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init
from django.db.utils import load_backend

CHUNK = 5000  # ids per IN (...) list: far below SQLite's limit on query parameters


def chunks(ids: Iterable[Any]) -> list[list[Any]]:
    ids = list(ids)
    return [ids[i : i + CHUNK] for i in range(0, len(ids), CHUNK)]


# Each use of ``connection`` looks this thread's connection up (asgiref's Local):
# a few microseconds that the statements of one call made count by the dozen.
# What does not change while the process runs is read once.


def is_postgres() -> bool:
    """Whether the scheduler's database is PostgreSQL (PostGIS and other backends
    built on Django's count: the vendor of the configured engine's backend)."""
    return _vendor(settings.DATABASES[DEFAULT_DB_ALIAS]["ENGINE"]) == "postgresql"


@cache
def _vendor(engine: str) -> str:
    return load_backend(engine).DatabaseWrapper.vendor


@cache
def quote(name: str) -> str:
    """A quoted table or column name (PostgreSQL and SQLite quote alike)."""
    return connection.ops.quote_name(name)


@cache
def table(model: type[models.Model]) -> str:
    return quote(model._meta.db_table)


@cache
def column_list(model: type[models.Model], fields: tuple[str, ...]) -> str:
    """The quoted columns of these fields, comma-separated."""
    return ", ".join(quote(f.column) for f in _columns(model, fields))


@cache
def _columns(model: type[models.Model], fields: tuple[str, ...]) -> list[models.Field]:
    return [model._meta.get_field(name) for name in fields]


#: Fields whose conversion returns a value of this type as it is. (Not integer
#: fields: on PostgreSQL Django wraps their values in a typed adapter, so that a
#: statement's parameter types do not change with the values' sizes.)
_PLAIN_TYPES: dict[type[models.Field], type] = {
    models.CharField: str,
    models.TextField: str,
    models.FloatField: float,
    models.BooleanField: bool,
}


@cache
def _plain_type(field: models.Field) -> type | None:
    target = field.target_field if isinstance(field, models.ForeignKey) else field
    return _PLAIN_TYPES.get(type(target))


def _prep(field: models.Field, value: Any) -> Any:
    if value is None or type(value) is _plain_type(field):
        return value
    return field.get_db_prep_save(value, connection)


def _prep_rows(fields: Sequence[models.Field], rows: Iterable[Sequence[Any]]) -> list[list[Any]]:
    """``_prep`` of every value of these rows (values in ``fields`` order)."""
    plain = [(f, _plain_type(f)) for f in fields]
    return [
        [
            v if v is None or type(v) is t else f.get_db_prep_save(v, connection)
            for (f, t), v in zip(plain, row, strict=True)
        ]
        for row in rows
    ]


#: Results of more rows than this are not kept on the shared cursor (its memory
#: is released at once rather than at its next statement).
KEEP_ROWS = 1000
#: Attribute of the connection wrapper holding (the connection it was opened on, the
#: cursor); that connection is never None, so a closed wrapper never matches.
_CURSOR = "_pipelines_cursor"
#: The same for statements sent without reading their results (``send``): in pipeline
#: mode their results arrive later and are set on their cursor, where they would
#: take the place of a result that ``fetch`` is about to read.
SENDING = "_pipelines_sending_cursor"


@contextmanager
def cursor(kept_as: str = _CURSOR) -> Iterator[Any]:
    """The connection's shared cursor on PostgreSQL (opened, with the connection if
    need be, on first use; ``SENDING``: the one of ``send``). On SQLite, and where
    queries are being logged (DEBUG, tests capturing them), a new cursor closed
    afterwards, as ``connection.cursor()`` gives."""
    db = connections[DEFAULT_DB_ALIAS]
    if db.queries_logged or db.vendor != "postgresql":
        # SQLite: a cursor's unfinished statement would hold its read lock.
        with db.cursor() as own:
            yield own
        return
    kept = db.__dict__.get(kept_as)
    if kept is None or kept[0] is not db.connection or kept[1].closed:
        opened = db.cursor()
        kept = (db.connection, opened)
        setattr(db, kept_as, kept)
    yield kept[1]


def forget_cursor() -> None:
    """Close this thread's shared cursor (releasing the result it holds)."""
    db = connections[DEFAULT_DB_ALIAS]
    kept = db.__dict__.pop(_CURSOR, None)
    if kept is not None and kept[0] is db.connection:
        kept[1].close()


def _update_sql(model: type[models.Model], columns: list[models.Field]) -> str:
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in columns)
    return f"UPDATE {table(model)} SET {assignments} WHERE {model._meta.pk.column} = %s"


# Reading rows by many ids. Statements are prepared on PostgreSQL (see the
# settings), and from a statement's sixth run PostgreSQL may keep a generic plan,
# made once without the values, until the table is next analyzed. For
# ``IN (200 parameters)``, or ``= ANY`` of an array, planned while a new table was
# small, that plan was a sequential scan comparing every row with each id, and it
# stayed as the table grew (16-27 ms per 200 ids at 5,000 tasks, against about
# 1 ms through the index). A probe per id, a LATERAL subquery over the array of
# ids, weighs one index lookup against a scan of the whole table: its generic plan
# keeps the index. SQLite plans every statement anew and keeps the IN list.


#: Placeholder of a text array parameter on PostgreSQL: sent in binary form, which
#: psycopg writes without checking each element for characters to quote (about 3x
#: cheaper for a few hundred task ids). Other arrays keep the text form, whose
#: numbers PostgreSQL casts whatever their Python types.
TEXT_ARRAY = "%b::text[]"


def array_mark(pg_type: str) -> str:
    """The placeholder of an array parameter of ``pg_type`` elements (PostgreSQL)."""
    if pg_type == "text" or pg_type.startswith("varchar"):
        return f"%b::{pg_type}[]"
    return f"%s::{pg_type}[]"


def rows_by_pk(
    model: type[models.Model], ids: Sequence[str], columns: str, *, lock: str = ""
) -> tuple[str, list[Any]]:
    """A SELECT of ``columns`` (of the alias ``t``) from the rows of ``model`` whose
    primary keys are ``ids``, and its parameters. ``lock`` ("UPDATE", "SHARE") locks
    the rows on PostgreSQL, one by one in the order of ``ids``."""
    pk = quote(model._meta.pk.column)
    if is_postgres():
        suffix = f" FOR {lock}" if lock else ""
        return (
            f"SELECT {columns} FROM unnest({TEXT_ARRAY}) AS v(id) CROSS JOIN LATERAL "
            f"(SELECT * FROM {table(model)} t WHERE t.{pk} = v.id{suffix}) t",
            [list(ids)],
        )
    marks = ", ".join(["%s"] * len(ids))
    return f"SELECT {columns} FROM {table(model)} t WHERE t.{pk} IN ({marks})", list(ids)


def ids_having(
    model: type[models.Model], column: str, ids: Sequence[str], where: str = "", params=()
) -> tuple[str, list[Any]]:
    """A SELECT of those of ``ids`` that some row of ``model`` (alias ``r``) has in
    ``column`` (and matching ``where``, with ``params``), and its parameters."""
    condition = f" AND {where}" if where else ""
    if is_postgres():
        # The OFFSET keeps the EXISTS a probe per id (not a join PostgreSQL may plan
        # as a scan of the whole table).
        return (
            f"SELECT v.id FROM unnest({TEXT_ARRAY}) AS v(id) WHERE EXISTS (SELECT 1 FROM "
            f"{table(model)} r WHERE r.{column} = v.id{condition} LIMIT 1 OFFSET 0)",
            [list(ids), *params],
        )
    marks = ", ".join(["%s"] * len(ids))
    return (
        f"SELECT DISTINCT r.{column} FROM {table(model)} r WHERE r.{column} IN ({marks})"
        f"{condition}",
        [*ids, *params],
    )


def load_by_pk(model: type[models.Model], ids: Sequence[str], *, lock: str = "") -> list:
    """Model instances of the rows with these primary keys (see ``rows_by_pk``)."""
    _, fields = _select_list(model)
    columns = ", ".join(f"t.{quote(f.column)}" for f in fields)
    return _instances(model, fields, fetch(*rows_by_pk(model, ids, columns, lock=lock)))


def save_fields(
    instance: models.Model,
    fields: Sequence[str],
    *,
    also_insert: tuple[type[models.Model], Sequence[str], Sequence[Sequence[Any]]] | None = None,
) -> None:
    """UPDATE one row's columns from the instance (no signals, like update_fields).

    ``also_insert``: (model, columns, rows) for ``insert_ignore``, which on
    PostgreSQL the same statement inserts (a WITH clause): one statement instead of
    two. (Its rows must be of another table.)"""
    model = type(instance)
    columns = _columns(model, tuple(fields))
    values = [_prep(f, getattr(instance, f.attname)) for f in columns]
    if also_insert is None or not is_postgres():
        send(_update_sql(model, columns), [*values, instance.pk])
        if also_insert is not None:
            insert_ignore(*also_insert)
        return
    other, other_columns, rows = also_insert
    _note_insert(other, len(rows))
    prepared = _prep_rows(_columns(other, tuple(other_columns)), rows)
    insert, insert_params = values_insert(other, other_columns, prepared, "ON CONFLICT DO NOTHING")
    send(
        f"WITH inserted AS ({insert}) {_update_sql(model, columns)}",
        [*insert_params, *values, instance.pk],
    )


def save_fields_many(instances: Sequence[models.Model], fields: Sequence[str]) -> None:
    """save_fields for many rows of one model. On PostgreSQL, plain scalar columns
    go in one UPDATE joined to an array per column (unnest), as insert_rows does;
    else one executemany (pipelined on PostgreSQL). The rows should be locked
    already: the join updates them in no particular order."""
    if not instances:
        return
    model = type(instances[0])
    columns = _columns(model, tuple(fields))
    rows = [
        [*row, i.pk]
        for i, row in zip(
            instances,
            _prep_rows(columns, ([getattr(i, f.attname) for f in columns] for i in instances)),
            strict=True,
        )
    ]
    pk = model._meta.pk
    types = None
    if is_postgres() and len(rows) > FEW_ROWS:
        types = _array_types(model, (*fields, pk.name))
    if types is None:
        with cursor(SENDING) as shared:
            run_deferred(shared, _update_sql(model, columns), rows, many=True)
        return
    names = [f"c{i}" for i in range(len(columns))]
    assignments = ", ".join(
        f"{quote(f.column)} = v.{name}" for f, name in zip(columns, names, strict=True)
    )
    select, arrays = _unnest(types, rows)
    aliases = ", ".join([*names, "pk"])
    send(
        f"UPDATE {table(model)} AS t SET {assignments} FROM ({select}) AS v({aliases}) "
        f"WHERE t.{quote(pk.column)} = v.pk",
        arrays,
    )


@cache
def _has_foreign_keys(model: type[models.Model]) -> bool:
    return any(
        f.is_relation and getattr(f, "db_constraint", False) for f in model._meta.concrete_fields
    )


def _note_insert(model: type[models.Model], count: int) -> None:
    if _has_foreign_keys(model):
        from .base import note_references

        note_references()
    if model._meta.label == "pipelines_scheduler.Task" and is_postgres():
        from .statistics import tasks_inserted

        tasks_inserted(count)


@cache
def _insert_fields(model: type[models.Model]) -> list[models.Field]:
    return [f for f in model._meta.concrete_fields if not isinstance(f, models.AutoField)]


def insert(instance: models.Model) -> None:
    """INSERT one row with every concrete field of the instance."""
    model = type(instance)
    _note_insert(model, 1)
    columns = _insert_fields(model)
    names = column_list(model, tuple(f.name for f in columns))
    marks = ", ".join(["%s"] * len(columns))
    values = [_prep(f, getattr(instance, f.attname)) for f in columns]
    send(f"INSERT INTO {table(model)} ({names}) VALUES ({marks})", values)


def insert_ignore(
    model: type[models.Model], columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """INSERT rows, skipping those that would break a unique constraint."""
    insert_rows(model, columns, rows, suffix="ON CONFLICT DO NOTHING")


#: Up to this many rows go into one multi-row INSERT; more, on PostgreSQL, into one
#: pipelined executemany of a one-row INSERT (server-side binding converts every
#: placeholder of a query, and caches only short queries: thousands of
#: placeholders in one query cost more than the rows' round trips in a pipeline).
FEW_ROWS = 10


def insert_rows(
    model: type[models.Model],
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    suffix: str = "",
) -> None:
    """INSERT rows (values in ``columns`` order, converted as the ORM would)."""
    rows = [list(row) for row in rows]
    if not rows:
        return
    _note_insert(model, len(rows))
    fields = _columns(model, tuple(columns))
    names = column_list(model, tuple(columns))
    row_marks = "(" + ", ".join(["%s"] * len(fields)) + ")"
    prepared = _prep_rows(fields, rows)
    with cursor(SENDING) as shared:
        if is_postgres() and len(rows) > FEW_ROWS:
            types = _array_types(model, tuple(columns))
            if types is not None:
                select, arrays = _unnest(types, prepared)
                run_deferred(
                    shared, f"INSERT INTO {table(model)} ({names}) {select} {suffix}", arrays
                )
                return
            run_deferred(
                shared,
                f"INSERT INTO {table(model)} ({names}) VALUES {row_marks} {suffix}",
                prepared,
                many=True,
            )
            return
        for start in range(0, len(prepared), 500):
            run_deferred(
                shared, *values_insert(model, columns, prepared[start : start + 500], suffix)
            )


def values_insert(
    model: type[models.Model],
    columns: Sequence[str],
    prepared: Sequence[Sequence[Any]],
    suffix: str,
) -> tuple[str, list[Any]]:
    """One multi-row ``INSERT ... VALUES`` of rows of database values (``_prep_rows``
    converts model values), with its parameters; ``suffix`` ends it (ON CONFLICT,
    RETURNING)."""
    row_marks = "(" + ", ".join(["%s"] * len(columns)) + ")"
    return (
        f"INSERT INTO {table(model)} ({column_list(model, tuple(columns))}) VALUES "
        f"{', '.join([row_marks] * len(prepared))} {suffix}",
        [value for row in prepared for value in row],
    )


def _unnest(pg_types: Sequence[str], rows: Sequence[Sequence[Any]]) -> tuple[str, list]:
    """``SELECT * FROM unnest(...)`` over ``rows`` (PostgreSQL), one array parameter per
    column: the statement's text and plan stay the same whatever the number of rows."""
    marks = ", ".join(array_mark(t) for t in pg_types)
    return f"SELECT * FROM unnest({marks})", [list(c) for c in zip(*rows, strict=True)]


#: Column types whose values PostgreSQL takes as an array parameter as they are.
_ARRAY_SAFE = re.compile(r"(varchar\(\d+\)|text|integer|bigint|smallint|double precision|boolean)")


@cache
def _array_types(model: type[models.Model], fields: tuple[str, ...]) -> list[str] | None:
    """The PostgreSQL types of these columns if all are plain scalars (no JSON, no
    dates), else None."""
    types = [f.db_type(connection) for f in _columns(model, fields)]
    if all(t and _ARRAY_SAFE.fullmatch(t) for t in types):
        return types
    return None


def insert_returning(
    table_name: str,
    columns: Sequence[str],
    pg_types: Sequence[str],
    rows: Sequence[Sequence[Any]],
    returning: str,
) -> list[tuple]:
    """INSERT prepared rows into ``table_name`` (quoted), what RETURNING gives back.
    On PostgreSQL one statement with one array parameter per column (unnest), so
    its text stays the same whatever the number of rows."""
    if not rows:
        return []
    names = ", ".join(quote(c) for c in columns)
    if is_postgres():
        select, arrays = _unnest(pg_types, rows)
        return fetch(f"INSERT INTO {table_name} ({names}) {select} RETURNING {returning}", arrays)
    marks = "(" + ", ".join(["%s"] * len(columns)) + ")"
    result = []
    for start in range(0, len(rows), 200):
        part = rows[start : start + 200]
        result += fetch(
            f"INSERT INTO {table_name} ({names}) VALUES {', '.join([marks] * len(part))} "
            f"RETURNING {returning}",
            [value for row in part for value in row],
        )
    return result


def fetch(sql: str, params: Sequence[Any] = ()) -> list[tuple]:
    with cursor() as shared:
        run_deferred(shared, sql, params)  # in a pipeline, fetchall waits for this result
        rows = shared.fetchall()
    if len(rows) > KEEP_ROWS:
        forget_cursor()
    return rows


def execute(sql: str, params: Sequence[Any] = ()) -> int:
    """Run a statement; the number of rows it changed (waited for, in a pipeline)."""
    with cursor() as shared:
        shared.execute(sql, params)
        return shared.rowcount


def send(sql: str, params: Sequence[Any] = ()) -> None:
    """Run a statement whose outcome the caller does not read. In pipeline mode (see
    ``pipelining``) it goes out without waiting; its errors show at the next wait."""
    with cursor(SENDING) as shared:
        run_deferred(shared, sql, params)


#: Set on a cursor while it runs a statement whose result may come later (see
#: ``pipelining``): one sent (``send``) or one whose rows are fetched next (``fetch``).
DEFERRED = "pipelines_deferred"


def run_deferred(shared: Any, sql: str, params: Sequence[Any], many: bool = False) -> None:
    """Run a statement on ``shared`` (a cursor) whose result may come later: in
    pipeline mode, with the next statement that waits, or the block's last sync."""
    setattr(shared, DEFERRED, True)
    try:
        if many:
            shared.executemany(sql, params)
        else:
            shared.execute(sql, params)
    finally:
        setattr(shared, DEFERRED, False)


def insert_many(instances: Sequence[models.Model], *, ignore_conflicts: bool = False) -> None:
    """INSERT several rows of one model with every concrete field."""
    if not instances:
        return
    model = type(instances[0])
    columns = _insert_fields(model)
    insert_rows(
        model,
        tuple(f.name for f in columns),
        [[getattr(obj, f.attname) for f in columns] for obj in instances],
        suffix="ON CONFLICT DO NOTHING" if ignore_conflicts else "",
    )


@cache
def _select_list(model: type[models.Model]) -> tuple[str, list[models.Field]]:
    fields = list(model._meta.concrete_fields)
    return ", ".join(quote(f.column) for f in fields), fields


def load(model: type[models.Model], where: str, params: Sequence[Any], *, suffix: str = ""):
    """Model instances for the rows matching `where`, converted as the ORM would."""
    select, fields = _select_list(model)
    rows = fetch(f"SELECT {select} FROM {table(model)} WHERE {where} {suffix}", params)
    return _instances(model, fields, rows)


def load_with(
    model: type[models.Model],
    extra: str,
    where: str,
    params: Sequence[Any],
    *,
    suffix: str = "",
) -> list[tuple[models.Model, tuple]]:
    """``load`` with more columns: (instance, the values of ``extra``) for each row.
    ``extra`` is a select-list fragment; the row's table is aliased ``t``."""
    select, fields = _select_list(model)
    rows = fetch(f"SELECT {select}, {extra} FROM {table(model)} t WHERE {where} {suffix}", params)
    return _with_extra(model, fields, rows)


def lock_with(
    model: type[models.Model],
    extra: str,
    where: str,
    params: Sequence[Any],
    *,
    prefix: str,
    always: Sequence[str],
) -> tuple[list[tuple[models.Model, tuple]], tuple]:
    """``load_with`` of the rows locked FOR UPDATE (PostgreSQL), and the values of the
    ``always`` expressions (which read the CTEs of ``prefix``, a WITH clause whose
    parameters come first in ``params``) even when no row matches: the rows are a
    CTE left-joined to one row."""
    select, fields = _select_list(model)
    rows = fetch(
        f"{prefix.rstrip()}, locked AS MATERIALIZED "
        f"(SELECT {select}, {extra} FROM {table(model)} t WHERE {where} FOR UPDATE OF t) "
        f"SELECT locked.*, {', '.join(always)} FROM (VALUES (0)) AS one(x) "
        "LEFT JOIN locked ON true",
        params,
    )
    width = len(always)
    values = rows[0][-width:]
    pk = fields.index(model._meta.pk)
    found = [row[:-width] for row in rows if row[pk] is not None]
    return _with_extra(model, fields, found), values


def update_returning_with(
    model: type[models.Model],
    assignments: str,
    where: str,
    params: Sequence[Any],
    extra: str,
    extra_params: Sequence[Any],
    *,
    joins: str = "",
) -> list[tuple[models.Model, tuple]]:
    """``update_returning`` with more columns computed by the same statement (PostgreSQL):
    (instance as updated, the values of ``extra``) for each row. ``extra`` and
    ``joins`` see the updated row as ``u``; the other tables as they were before
    the statement."""
    select, fields = _select_list(model)
    columns = ", ".join(f"u.{quote(f.column)}" for f in fields)
    rows = fetch(
        f"WITH u AS (UPDATE {table(model)} SET {assignments} WHERE {where} RETURNING {select}) "
        f"SELECT {columns}, {extra} FROM u {joins}",
        [*params, *extra_params],
    )
    return _with_extra(model, fields, rows)


def _with_extra(model: type[models.Model], fields: list[models.Field], rows: list[tuple]):
    """(instance, the row's remaining values) for rows whose first columns are
    ``fields``."""
    width = len(fields)
    instances = _instances(model, fields, [row[:width] for row in rows])
    return [(i, row[width:]) for i, row in zip(instances, rows, strict=True)]


def update_returning(model: type[models.Model], assignments: str, where: str, params):
    """UPDATE the rows matching `where`; model instances of them as updated."""
    select, fields = _select_list(model)
    rows = fetch(
        f"UPDATE {table(model)} SET {assignments} WHERE {where} RETURNING {select}", params
    )
    return _instances(model, fields, rows)


def _instances(model: type[models.Model], fields: list[models.Field], rows: list[tuple]):
    converters = [(i, f.from_db_value) for i, f in enumerate(fields) if hasattr(f, "from_db_value")]
    names = [f.attname for f in fields]
    alias = DEFAULT_DB_ALIAS
    # Every concrete field, in order, and nothing listening to the model's
    # construction: the instance's attributes are set as Model.__init__ would set
    # them, without its per-field work (a large part of reading many rows).
    direct = (
        fields == list(model._meta.concrete_fields)
        and not pre_init.has_listeners(model)
        and not post_init.has_listeners(model)
    )
    result = []
    for row in rows:
        values = list(row)
        for i, convert in converters:
            values[i] = convert(values[i], None, connection)
        if direct:
            instance = model.__new__(model)
            instance._state = ModelState()
            instance._state.adding = False
            instance._state.db = alias
            instance.__dict__.update(zip(names, values, strict=True))
        else:
            instance = model.from_db(alias, names, values)
        result.append(instance)
    return result

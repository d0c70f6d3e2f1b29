"""Hand-written SQL for the hot paths (add_task, get_work), where the ORM's
per-query compilation costs more than the queries themselves.

Values go through each field's own conversion (``get_db_prep_save``), so JSON
fields and the like are stored exactly as the ORM would store them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any

from django.db import connection, models

CHUNK = 5000  # ids per IN (...) list: far below SQLite's limit on query parameters


def chunks(ids: Iterable[Any]) -> list[list[Any]]:
    ids = list(ids)
    return [ids[i : i + CHUNK] for i in range(0, len(ids), CHUNK)]


def table(model: type[models.Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


@cache
def _columns(model: type[models.Model], fields: tuple[str, ...]) -> list[models.Field]:
    return [model._meta.get_field(name) for name in fields]


def _prep(field: models.Field, value: Any) -> Any:
    return field.get_db_prep_save(value, connection)


def _update_sql(model: type[models.Model], columns: list[models.Field]) -> str:
    assignments = ", ".join(f"{connection.ops.quote_name(f.column)} = %s" for f in columns)
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


def rows_by_pk(
    model: type[models.Model], ids: Sequence[str], columns: str, *, lock: str = ""
) -> tuple[str, list[Any]]:
    """A SELECT of ``columns`` (of the alias ``t``) from the rows of ``model`` whose
    primary keys are ``ids``, and its parameters. ``lock`` ("UPDATE", "SHARE") locks
    the rows on PostgreSQL, one by one in the order of ``ids``."""
    pk = connection.ops.quote_name(model._meta.pk.column)
    if connection.vendor == "postgresql":
        suffix = f" FOR {lock}" if lock else ""
        return (
            f"SELECT {columns} FROM unnest(%s::text[]) AS v(id) CROSS JOIN LATERAL "
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
    if connection.vendor == "postgresql":
        # The OFFSET keeps the EXISTS a probe per id (not a join PostgreSQL may plan
        # as a scan of the whole table).
        return (
            f"SELECT v.id FROM unnest(%s::text[]) AS v(id) WHERE EXISTS (SELECT 1 FROM "
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
    columns = ", ".join(f"t.{connection.ops.quote_name(f.column)}" for f in fields)
    return _instances(model, fields, fetch(*rows_by_pk(model, ids, columns, lock=lock)))


def save_fields(instance: models.Model, fields: Sequence[str]) -> None:
    """UPDATE one row's columns from the instance (no signals, like update_fields)."""
    model = type(instance)
    columns = _columns(model, tuple(fields))
    values = [_prep(f, getattr(instance, f.attname)) for f in columns]
    with connection.cursor() as cursor:
        cursor.execute(_update_sql(model, columns), [*values, instance.pk])


def save_fields_many(instances: Sequence[models.Model], fields: Sequence[str]) -> None:
    """save_fields for many rows of one model. On PostgreSQL, plain scalar columns
    go in one UPDATE joined to an array per column (unnest), as insert_rows does;
    else one executemany (pipelined on PostgreSQL). The rows should be locked
    already: the join updates them in no particular order."""
    if not instances:
        return
    model = type(instances[0])
    columns = _columns(model, tuple(fields))
    rows = [[*(_prep(f, getattr(i, f.attname)) for f in columns), i.pk] for i in instances]
    pk = model._meta.pk
    types = None
    if connection.vendor == "postgresql" and len(rows) > FEW_ROWS:
        types = _array_types(model, (*fields, pk.name))
    if types is None:
        with connection.cursor() as cursor:
            cursor.executemany(_update_sql(model, columns), rows)
        return
    quote = connection.ops.quote_name
    names = [f"c{i}" for i in range(len(columns))]
    assignments = ", ".join(
        f"{quote(f.column)} = v.{name}" for f, name in zip(columns, names, strict=True)
    )
    select, arrays = _unnest(types, rows)
    aliases = ", ".join([*names, "pk"])
    execute(
        f"UPDATE {table(model)} AS t SET {assignments} FROM ({select}) AS v({aliases}) "
        f"WHERE t.{quote(pk.column)} = v.pk",
        arrays,
    )


def insert(instance: models.Model) -> None:
    """INSERT one row with every concrete field of the instance."""
    model = type(instance)
    columns = [f for f in model._meta.concrete_fields if not isinstance(f, models.AutoField)]
    names = ", ".join(connection.ops.quote_name(f.column) for f in columns)
    marks = ", ".join(["%s"] * len(columns))
    values = [_prep(f, getattr(instance, f.attname)) for f in columns]
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table(model)} ({names}) VALUES ({marks})", values)


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
    fields = _columns(model, tuple(columns))
    names = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    row_marks = "(" + ", ".join(["%s"] * len(fields)) + ")"
    prepared = [[_prep(f, v) for f, v in zip(fields, row, strict=True)] for row in rows]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and len(rows) > FEW_ROWS:
            types = _array_types(model, tuple(columns))
            if types is not None:
                select, arrays = _unnest(types, prepared)
                cursor.execute(f"INSERT INTO {table(model)} ({names}) {select} {suffix}", arrays)
                return
            cursor.executemany(
                f"INSERT INTO {table(model)} ({names}) VALUES {row_marks} {suffix}", prepared
            )
            return
        for start in range(0, len(prepared), 500):
            part = prepared[start : start + 500]
            cursor.execute(
                f"INSERT INTO {table(model)} ({names}) VALUES "
                f"{', '.join([row_marks] * len(part))} {suffix}",
                [value for row in part for value in row],
            )


def _unnest(pg_types: Sequence[str], rows: Sequence[Sequence[Any]]) -> tuple[str, list]:
    """``SELECT * FROM unnest(...)`` over ``rows`` (PostgreSQL), one array parameter per
    column: the statement's text and plan stay the same whatever the number of rows."""
    marks = ", ".join(f"%s::{t}[]" for t in pg_types)
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
    names = ", ".join(connection.ops.quote_name(c) for c in columns)
    if connection.vendor == "postgresql":
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
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def execute(sql: str, params: Sequence[Any] = ()) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def insert_many(instances: Sequence[models.Model], *, ignore_conflicts: bool = False) -> None:
    """INSERT several rows of one model with every concrete field."""
    if not instances:
        return
    model = type(instances[0])
    columns = [f for f in model._meta.concrete_fields if not isinstance(f, models.AutoField)]
    insert_rows(
        model,
        tuple(f.name for f in columns),
        [[getattr(obj, f.attname) for f in columns] for obj in instances],
        suffix="ON CONFLICT DO NOTHING" if ignore_conflicts else "",
    )


@cache
def _select_list(model: type[models.Model]) -> tuple[str, list[models.Field]]:
    fields = list(model._meta.concrete_fields)
    return ", ".join(connection.ops.quote_name(f.column) for f in fields), fields


def load(model: type[models.Model], where: str, params: Sequence[Any], *, suffix: str = ""):
    """Model instances for the rows matching `where`, converted as the ORM would."""
    select, fields = _select_list(model)
    rows = fetch(f"SELECT {select} FROM {table(model)} WHERE {where} {suffix}", params)
    return _instances(model, fields, rows)


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
    result = []
    for row in rows:
        values = list(row)
        for i, convert in converters:
            values[i] = convert(values[i], None, connection)
        result.append(model.from_db(connection.alias, names, values))
    return result

"""Reads behind live views: the StatusEvent outbox and scoped task snapshots.

Live views (the visualiser's WebSocket feed) learn of changes by reading the
outbox in id order and show a scope of tasks serialized like Luigi's task
objects. These are plain reads, no transaction of their own; callers in async
code reach them through ``database_sync_to_async``.
"""

from __future__ import annotations

from typing import Any

from django.db import connection

from ..models import StatusEvent, Task
from . import sql
from .base import Ctx
from .reads import dep_graph, task_list
from .serialize import serialize_many

EVENT_FIELDS = (
    "id",
    "at",
    "task_id",
    "family",
    "old_status",
    "new_status",
    "cause",
    "worker",
    "host",
    "user",
)


def event_dict(row: dict[str, Any]) -> dict[str, Any]:
    """An outbox row as a live view sends it: ``seq`` is the row id."""
    data = {name: row[name] for name in EVENT_FIELDS if name != "id"}
    return {"seq": row["id"], **data}


def events_after(
    after: int,
    *,
    upto: int | None = None,
    limit: int = 2000,
    also: list[int] | None = None,
    family: str | None = None,
) -> list[dict[str, Any]]:
    """At most ``limit`` outbox events with ``after < seq (<= upto)``, oldest first,
    plus the ids in ``also`` (gaps a tailer gave up on, in case they committed late).

    ``family`` narrows the result (catch-up of a family view)."""
    rows = StatusEvent.objects.filter(id__gt=after)
    if upto is not None:
        rows = rows.filter(id__lte=upto)
    if family is not None:
        rows = rows.filter(family=family)
    found = [event_dict(r) for r in rows.order_by("id").values(*EVENT_FIELDS)[:limit]]
    if also:
        extra = StatusEvent.objects.filter(id__in=also).order_by("id").values(*EVENT_FIELDS)
        found = sorted([*found, *(event_dict(r) for r in extra)], key=lambda e: e["seq"])
    return found


def latest_seq() -> int:
    """The highest outbox id written so far: the highest row's, or with the outbox
    empty (all of it pruned) the id sequence's position (0 before the first event).

    An emptied outbox must not read as 0: the live feed would take it for a reset
    database and wait out a gap before the next event (a whole grace period of
    changes held back), and a subscriber's snapshot at 0 could not be caught up."""
    last = StatusEvent.objects.order_by("-id").values_list("id", flat=True).first()
    return last or _sequence_position()


def _sequence_position() -> int:
    table = StatusEvent._meta.db_table
    if connection.vendor == "postgresql":
        query = "SELECT pg_sequence_last_value(pg_get_serial_sequence(%s, 'id'))"
        rows = sql.fetch(query, [connection.ops.quote_name(table)])
    elif connection.vendor == "sqlite":
        rows = sql.fetch("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
    else:
        rows = []
    return int(rows[0][0] or 0) if rows else 0


def retained_since(seq: int) -> bool:
    """Whether every event after ``seq`` is still in the outbox.

    Trimming deletes a prefix of the table, so the events after ``seq`` are all
    there when a row at or before ``seq`` still is (or nothing was ever trimmed
    past it: the oldest row is ``seq + 1``)."""
    if StatusEvent.objects.filter(id__lte=seq).exists():
        return True
    oldest = StatusEvent.objects.order_by("id").values_list("id", flat=True).first()
    return oldest is not None and oldest == seq + 1


def snapshot_all(ctx: Ctx) -> dict[str, Any]:
    """Every task (``{"num_tasks": n}`` beyond ``max_shown_tasks``, as task_list)."""
    return task_list(ctx)


def snapshot_family(ctx: Ctx, family: str) -> dict[str, Any]:
    tasks = Task.objects.filter(family=family).order_by("time", "task_id")
    count = tasks.count()
    if count > ctx.config.max_shown_tasks:
        return {"num_tasks": count}
    return serialize_many(ctx, tasks)


def snapshot_graph(ctx: Ctx, task_id: str) -> dict[str, Any]:
    """The task's dependency graph, as dep_graph answers it."""
    return dep_graph(ctx, task_id=task_id)

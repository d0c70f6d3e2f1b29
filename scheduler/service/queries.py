"""Reads of the REST API: filtered task lists, counts, a task's neighbours, workers
and resources, each in a fixed number of queries whatever the page size.

Filters arrive as a query string (any mapping of str to str or a ``QueryDict``);
a bad one raises :class:`InvalidArgument` naming the parameter and what is wrong.

Derived statuses: a PENDING task that waits (through PENDING tasks only) on a
DISABLED task shows as UPSTREAM_DISABLED, else on a FAILED one as
UPSTREAM_FAILED, as Luigi's visualiser shows them. These display statuses are
disjoint: PENDING means "pending and not blocked by a failed or disabled task",
so the counts add up to the total.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import BooleanField, Count, F, Func, Q, QuerySet
from django.db.models.functions import Collate, Left, Upper
from django.db.models.lookups import Contains, IContains

from ..errors import InvalidArgument
from ..models import Dependency, Task
from ..policy import task_id_family_guess
from ..status import Status, Upstream
from . import sql
from .reads import _BASE
from .upstream import label_closure, walk_up

# Display statuses a task list can be filtered by, in the order counts list them.
DISPLAY_STATUSES = (
    Status.PENDING,
    Status.RUNNING,
    Status.BATCH_RUNNING,
    Status.DONE,
    Status.FAILED,
    Status.DISABLED,
    Status.UNKNOWN,
    Upstream.FAILED,
    Upstream.DISABLED,
)
BLOCKING = (Upstream.DISABLED, Upstream.FAILED)  # most severe first

# Each ordering ends with the id (a total order) and has an index (pl_task_*): the
# name is ordered by its first NAME_PREFIX characters, the indexed prefix.
NAME_PREFIX = 200
_NAME = Left("display_name", NAME_PREFIX)
ORDERINGS: dict[str, tuple[Any, ...]] = {
    "-updated": ("-updated", "-task_id"),
    "updated": ("updated", "task_id"),
    "name": (_NAME.asc(), "task_id"),
    "-name": (_NAME.desc(), "-task_id"),
    "priority": ("priority", "task_id"),
    "-priority": ("-priority", "-task_id"),
    "status": ("status", "-updated", "-task_id"),
    "-status": ("-status", "-updated", "-task_id"),
}
DEFAULT_ORDERING = "-updated"

# Query parameter -> what it does (also the API schema's descriptions).
TASK_FILTERS: dict[str, str] = {
    "status": "Comma-separated display statuses: "
    + ", ".join(DISPLAY_STATUSES)
    + ". PENDING excludes the UPSTREAM_* ones.",
    "family": "Task family, exact (comma-separated for several).",
    "search": "Words that must each appear in the task's display name (its family and "
    "public parameters, ignoring case) or in its id.",
    "updated_after": "Last status change at or after this time (ISO 8601 or epoch seconds).",
    "updated_before": "Last status change before this time (ISO 8601 or epoch seconds).",
    "ordering": "One of " + ", ".join(ORDERINGS) + f" (default {DEFAULT_ORDERING}).",
}


@dataclass(frozen=True)
class TaskFilter:
    statuses: tuple[str, ...] = ()
    families: tuple[str, ...] = ()
    search: tuple[str, ...] = ()
    updated_after: float | None = None
    updated_before: float | None = None
    ordering: str = DEFAULT_ORDERING


def parse_time(name: str, raw: str) -> float:
    """Seconds since the epoch, from epoch seconds or ISO 8601 (UTC if no zone)."""
    text = raw.strip()
    try:
        value = float(text)
    except ValueError:
        try:
            moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidArgument(
                name, f"{raw!r} is neither an ISO 8601 time nor seconds since the epoch"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        return moment.timestamp()
    if value != value or value in (float("inf"), float("-inf")):
        raise InvalidArgument(name, f"{raw!r} is not a finite number of seconds")
    return value


def _values(query: Mapping[str, Any], name: str) -> list[str]:
    raw = query.getlist(name) if hasattr(query, "getlist") else [query.get(name) or ""]
    return [part.strip() for value in raw for part in str(value).split(",") if part.strip()]


def _text(name: str, value: str) -> str:
    if "\x00" in value:
        raise InvalidArgument(name, "contains a NUL character")
    return value


def parse_task_filter(query: Mapping[str, Any]) -> TaskFilter:
    statuses = [s.upper() for s in _values(query, "status")]
    unknown = [s for s in statuses if s not in DISPLAY_STATUSES]
    if unknown:
        raise InvalidArgument(
            "status",
            f"unknown status {unknown[0]!r}; expected any of {', '.join(DISPLAY_STATUSES)}",
        )
    ordering = (query.get("ordering") or DEFAULT_ORDERING).strip()
    if ordering not in ORDERINGS:
        raise InvalidArgument(
            "ordering", f"unknown ordering {ordering!r}; expected one of {', '.join(ORDERINGS)}"
        )
    after, before = query.get("updated_after"), query.get("updated_before")
    return TaskFilter(
        statuses=tuple(dict.fromkeys(statuses)),
        families=tuple(_text("family", f) for f in _values(query, "family")),
        search=tuple(_text("search", w) for w in (query.get("search") or "").split()),
        updated_after=parse_time("updated_after", after) if after else None,
        updated_before=parse_time("updated_before", before) if before else None,
        ordering=ordering,
    )


def _reach_cte(name: str, label: str) -> str:
    """PENDING tasks with a path of PENDING tasks to a dependency contributing `label`
    (the same rule as ``reads.reaching``), as a named recursive CTE.

    The joins must follow the dep_id index from the few FAILED/DISABLED tasks: on
    PostgreSQL, LATERAL subqueries fenced with OFFSET 0 keep it from hashing the
    whole dependency table at every step; on SQLite, CROSS JOIN keeps the written
    join order (without statistics it would scan every PENDING task per step)."""
    dep, task = sql.table(Dependency), sql.table(Task)
    base = _BASE[label].format(dep=dep, task=task)
    if connection.vendor == "postgresql":

        def step(source: str) -> str:
            return (
                f"CROSS JOIN LATERAL (SELECT d.task_id FROM {dep} d "
                f"WHERE d.dep_id = {source}.task_id OFFSET 0) d "
                f"CROSS JOIN LATERAL (SELECT 1 FROM {task} t WHERE t.task_id = d.task_id "
                "AND t.status = 'PENDING' OFFSET 0) t"
            )

        return (
            f"{name}(task_id) AS (SELECT d.task_id FROM {task} up {step('up')} WHERE {base} "
            f"UNION SELECT d.task_id FROM {name} r {step('r')})"
        )
    return (
        f"{name}(task_id) AS ("
        f"SELECT d.task_id FROM {task} up CROSS JOIN {dep} d CROSS JOIN {task} t "
        f"WHERE ({base}) AND d.dep_id = up.task_id "
        "AND t.task_id = d.task_id AND t.status = 'PENDING' "
        f"UNION SELECT d.task_id FROM {name} r CROSS JOIN {dep} d CROSS JOIN {task} t "
        "WHERE d.dep_id = r.task_id AND t.task_id = d.task_id AND t.status = 'PENDING')"
    )


@dataclass(frozen=True)
class Blocked:
    """The PENDING tasks that show as UPSTREAM_DISABLED and as UPSTREAM_FAILED."""

    disabled: frozenset[str]
    failed: frozenset[str]

    def label(self, task_id: str) -> str | None:
        if task_id in self.disabled:
            return Upstream.DISABLED
        if task_id in self.failed:
            return Upstream.FAILED
        return None

    def labels(self, task_ids: list[str]) -> dict[str, str]:
        return {t: label for t in task_ids if (label := self.label(t)) is not None}


def blocked_tasks() -> Blocked:
    """One query, whose cost grows with the PENDING descendants of FAILED and DISABLED
    tasks, not with the number of tasks."""
    rows = sql.fetch(
        f"WITH RECURSIVE {_reach_cte('dis', Upstream.DISABLED)}, "
        f"{_reach_cte('fail', Upstream.FAILED)} "
        "SELECT task_id, 1 FROM dis UNION ALL SELECT task_id, 0 FROM fail"
    )
    disabled = frozenset(task_id for task_id, is_disabled in rows if is_disabled)
    failed = frozenset(task_id for task_id, is_disabled in rows if not is_disabled) - disabled
    return Blocked(disabled=disabled, failed=failed)


class IdIn(Func):
    """``task_id IN <ids>`` with the ids bound as one parameter (an array on
    PostgreSQL, a JSON array on SQLite): no limit on their number, one plan."""

    output_field = BooleanField()
    conditional = True

    def __init__(self, ids: Iterable[str]) -> None:
        super().__init__(F("task_id"))
        self.ids = sorted(ids)

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list]:
        column, params = compiler.compile(self.source_expressions[0])
        if connection.vendor == "postgresql":
            return f"{column} = ANY(%s)", [*params, self.ids]
        return f"{column} IN (SELECT value FROM json_each(%s))", [*params, json.dumps(self.ids)]


def needs_blocked(f: TaskFilter) -> bool:
    """Whether filtering by these statuses needs the blocked sets."""
    return any(s in (Status.PENDING, *BLOCKING) for s in f.statuses)


def _status_q(statuses: tuple[str, ...], blocked: Blocked | None) -> Q:
    stored = [s for s in statuses if s in Status.values and s != Status.PENDING]
    q = Q(status__in=stored) if stored else Q(pk__in=[])
    if blocked is None:
        return q
    pending = Q(status=Status.PENDING)
    if Status.PENDING in statuses:
        q |= pending & ~Q(IdIn(blocked.disabled | blocked.failed))
    if Upstream.DISABLED in statuses:
        q |= pending & Q(IdIn(blocked.disabled))
    if Upstream.FAILED in statuses:
        q |= pending & Q(IdIn(blocked.failed))
    return q


def _word_q(word: str) -> Q:
    """The display name contains the word ignoring case, or the id contains it as typed
    (SQLite's LIKE ignores ASCII case there too).

    On PostgreSQL an ASCII word is matched against the name upper-cased in the C
    collation, which is several times cheaper per row than full Unicode case folding
    and gives the same answer for ASCII letters."""
    if connection.vendor == "postgresql" and word.isascii():
        name = Contains(Upper(Collate(F("display_name"), "C")), word.upper())
    else:
        name = IContains(F("display_name"), word)
    return Q(name) | Q(task_id__contains=word)


def filter_tasks(
    f: TaskFilter, blocked: Blocked | None = None, *, by_status: bool = True
) -> QuerySet[Task]:
    """The tasks matching the filter, in its ordering (status ignored if not by_status).
    Filtering by PENDING or an UPSTREAM_* status needs ``blocked``."""
    queryset = Task.objects.all()
    if f.families:
        queryset = queryset.filter(family__in=f.families)
    for word in f.search:
        queryset = queryset.filter(_word_q(word))
    if f.updated_after is not None:
        queryset = queryset.filter(updated__gte=f.updated_after)
    if f.updated_before is not None:
        queryset = queryset.filter(updated__lt=f.updated_before)
    if by_status and f.statuses:
        if blocked is None and needs_blocked(f):
            raise ValueError("filtering by PENDING or UPSTREAM_* statuses needs the blocked sets")
        queryset = queryset.filter(_status_q(f.statuses, blocked))
    return queryset.order_by(*ORDERINGS[f.ordering])


def task_counts(f: TaskFilter) -> dict[str, int]:
    """How many tasks match the filter (status aside) in each display status, and the total."""
    base = filter_tasks(f, by_status=False).order_by()
    counts = dict.fromkeys(DISPLAY_STATUSES, 0)
    for status, n in base.values_list("status").annotate(n=Count("pk")):
        counts[status] = n
    total = sum(counts.values())
    if counts[Status.PENDING]:
        blocked = blocked_tasks()
        if f == TaskFilter(statuses=f.statuses, ordering=f.ordering):  # every task counts
            split = {"disabled": len(blocked.disabled), "failed": len(blocked.failed)}
        else:
            split = base.filter(status=Status.PENDING).aggregate(
                disabled=Count("pk", filter=Q(IdIn(blocked.disabled))),
                failed=Count("pk", filter=Q(IdIn(blocked.failed))),
            )
        counts[Upstream.DISABLED] = split["disabled"]
        counts[Upstream.FAILED] = split["failed"]
        counts[Status.PENDING] -= split["disabled"] + split["failed"]
    return {**counts, "total": total}


def upstream_labels(task_ids: list[str], blocked: Blocked | None = None) -> dict[str, str]:
    """UPSTREAM_DISABLED / UPSTREAM_FAILED for those of these PENDING tasks that have one:
    from ``blocked`` if given, else by walking up from them (one query; a second, the
    blocked sets, only when their upstream is too large to walk); none for no tasks."""
    if not task_ids:
        return {}
    if blocked is None:
        edges = walk_up(task_ids)
        if edges is not None:
            return label_closure(task_ids, edges)
        blocked = blocked_tasks()
    return blocked.labels(task_ids)


def neighbours(task_id: str) -> tuple[list[dict], list[dict]]:
    """The task's dependencies and dependents: [{task_id, display_name, status}], by id.
    A dependency no worker registered yet shows as UNKNOWN with its id as display name."""
    dep, task = sql.table(Dependency), sql.table(Task)
    deps = [
        {
            "task_id": dep_id,
            "display_name": name or dep_id,
            "status": status or Status.UNKNOWN.value,
        }
        for dep_id, name, status in sql.fetch(
            f"SELECT d.dep_id, t.display_name, t.status FROM {dep} d "
            f"LEFT JOIN {task} t ON t.task_id = d.dep_id WHERE d.task_id = %s ORDER BY d.dep_id",
            [task_id],
        )
    ]
    dependents = [
        {"task_id": dependent, "display_name": name or dependent, "status": status}
        for dependent, name, status in sql.fetch(
            f"SELECT t.task_id, t.display_name, t.status FROM {dep} d "
            f"JOIN {task} t ON t.task_id = d.task_id WHERE d.dep_id = %s ORDER BY t.task_id",
            [task_id],
        )
    ]
    return deps, dependents


def unknown_node(task_id: str) -> dict:
    return {
        "task_id": task_id,
        "family": task_id_family_guess(task_id),
        "display_name": task_id,
        "status": Status.UNKNOWN.value,
        "priority": 0,
        "progress_percentage": None,
    }

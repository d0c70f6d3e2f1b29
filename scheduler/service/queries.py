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
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Count, Q, QuerySet

from ..errors import InvalidArgument
from ..models import Dependency, Task
from ..policy import task_id_family_guess
from ..status import Status, Upstream
from . import sql
from .reads import _BASE
from .registry import chunks

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

ORDERINGS: dict[str, tuple[str, ...]] = {
    "-updated": ("-updated", "-task_id"),
    "updated": ("updated", "task_id"),
    "name": ("display_name", "task_id"),
    "-name": ("-display_name", "-task_id"),
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
    "public parameters) or id, ignoring case.",
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
    (the same rule as ``reads.reaching``), as a named recursive CTE."""
    dep, task = sql.table(Dependency), sql.table(Task)
    base = _BASE[label].format(dep=dep, task=task)
    return (
        f"{name}(task_id) AS ("
        f"SELECT d.task_id FROM {dep} d "
        f"JOIN {task} up ON up.task_id = d.dep_id AND ({base}) "
        f"JOIN {task} t ON t.task_id = d.task_id AND t.status = 'PENDING' "
        f"UNION SELECT d.task_id FROM {dep} d JOIN {name} r ON d.dep_id = r.task_id "
        f"JOIN {task} t ON t.task_id = d.task_id AND t.status = 'PENDING')"
    )


def _blocked_by(label: str) -> str:
    """A subquery: the PENDING tasks that show as `label` (UPSTREAM_DISABLED wins)."""
    if label == Upstream.DISABLED:
        return f"WITH RECURSIVE {_reach_cte('dis', Upstream.DISABLED)} SELECT task_id FROM dis"
    return (
        f"WITH RECURSIVE {_reach_cte('dis', Upstream.DISABLED)}, "
        f"{_reach_cte('fail', Upstream.FAILED)} "
        "SELECT task_id FROM fail EXCEPT SELECT task_id FROM dis"
    )


def _any_blocked() -> str:
    return (
        f"WITH RECURSIVE {_reach_cte('dis', Upstream.DISABLED)}, "
        f"{_reach_cte('fail', Upstream.FAILED)} "
        "SELECT task_id FROM fail UNION SELECT task_id FROM dis"
    )


def _status_clause(statuses: tuple[str, ...]) -> tuple[str, list[str]]:
    """A WHERE clause on the task table for a set of display statuses."""
    column = f"{sql.table(Task)}.{connection.ops.quote_name('status')}"
    task_id = f"{sql.table(Task)}.{connection.ops.quote_name('task_id')}"
    stored = [s for s in statuses if s in Status.values and s != Status.PENDING]
    parts, params = [], []
    if stored:
        parts.append(f"{column} IN ({', '.join(['%s'] * len(stored))})")
        params.extend(stored)
    pending = f"{column} = 'PENDING'"
    if Status.PENDING in statuses:
        parts.append(f"({pending} AND {task_id} NOT IN ({_any_blocked()}))")
    for label in BLOCKING:
        if label in statuses:
            parts.append(f"({pending} AND {task_id} IN ({_blocked_by(label)}))")
    return "(" + " OR ".join(parts) + ")", params


def filter_tasks(f: TaskFilter, *, by_status: bool = True) -> QuerySet[Task]:
    """The tasks matching the filter, in its ordering (status ignored if not by_status)."""
    queryset = Task.objects.all()
    if f.families:
        queryset = queryset.filter(family__in=f.families)
    for word in f.search:
        queryset = queryset.filter(Q(display_name__icontains=word) | Q(task_id__icontains=word))
    if f.updated_after is not None:
        queryset = queryset.filter(updated__gte=f.updated_after)
    if f.updated_before is not None:
        queryset = queryset.filter(updated__lt=f.updated_before)
    if by_status and f.statuses:
        clause, params = _status_clause(f.statuses)
        queryset = queryset.extra(where=[clause], params=params)
    return queryset.order_by(*ORDERINGS[f.ordering])


def task_counts(f: TaskFilter) -> dict[str, int]:
    """How many tasks match the filter (status aside) in each display status, and the total."""
    base = filter_tasks(f, by_status=False).order_by()
    counts = dict.fromkeys(DISPLAY_STATUSES, 0)
    for status, n in base.values_list("status").annotate(n=Count("pk")):
        counts[status] = n
    total = sum(counts.values())
    if counts[Status.PENDING]:
        for label in BLOCKING:
            clause, params = _status_clause((label,))
            n = base.extra(where=[clause], params=params).count()
            counts[label] = n
            counts[Status.PENDING] -= n
    return {**counts, "total": total}


def upstream_labels(task_ids: list[str]) -> dict[str, str]:
    """UPSTREAM_DISABLED / UPSTREAM_FAILED for those of these PENDING tasks that have one
    (one query; none for an empty list)."""
    if not task_ids:
        return {}
    labels: dict[str, str] = {}
    for part in chunks(task_ids):
        marks = ", ".join(["%s"] * len(part))
        rows = sql.fetch(
            f"WITH RECURSIVE {_reach_cte('dis', Upstream.DISABLED)}, "
            f"{_reach_cte('fail', Upstream.FAILED)} "
            f"SELECT task_id, 1 FROM dis WHERE task_id IN ({marks}) "
            f"UNION ALL SELECT task_id, 0 FROM fail WHERE task_id IN ({marks})",
            [*part, *part],
        )
        for task_id, disabled in rows:
            if disabled:
                labels[task_id] = Upstream.DISABLED
            else:
                labels.setdefault(task_id, Upstream.FAILED)
    return labels


def display_status(task: Task, labels: Mapping[str, str]) -> str:
    if task.status == Status.PENDING:
        return labels.get(task.task_id, Status.PENDING)
    return task.status


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

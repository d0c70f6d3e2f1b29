"""UPSTREAM_DISABLED / UPSTREAM_FAILED labels of a few PENDING tasks (a page), found by
walking up from them through their PENDING dependencies: the cost follows their own
upstream, not the number of failed tasks in the database.

``label_closure`` is the rule (plain Python); ``walk_up`` the one query. A walk that
reaches more than ``cap`` PENDING tasks gives up (None), and the caller uses the
database-wide blocked sets instead.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from django.db import connection

from ..models import Dependency, Task
from ..status import Status, Upstream
from . import sql

WALK_CAP = 2000


def label_closure(
    origins: Iterable[str], edges: Iterable[tuple[str, str, str | None]]
) -> dict[str, str]:
    """Labels of the origins, given every (task, dependency, dependency status) edge of
    the PENDING tasks reachable from them through PENDING tasks. A path to a DISABLED
    dependency makes UPSTREAM_DISABLED, else one to a FAILED dependency UPSTREAM_FAILED."""
    dependents: dict[str, list[str]] = {}
    seeds: dict[str, set[str]] = {Upstream.DISABLED: set(), Upstream.FAILED: set()}
    for task, dep, status in edges:
        if status == Status.PENDING:
            dependents.setdefault(dep, []).append(task)
        elif status == Status.DISABLED:
            seeds[Upstream.DISABLED].add(task)
        elif status == Status.FAILED:
            seeds[Upstream.FAILED].add(task)
    reached: dict[str, set[str]] = {}
    for label, start in seeds.items():
        seen, queue = set(start), deque(start)
        while queue:
            for dependent in dependents.get(queue.popleft(), ()):
                if dependent not in seen:
                    seen.add(dependent)
                    queue.append(dependent)
        reached[label] = seen
    labels = {}
    for task_id in origins:
        if task_id in reached[Upstream.DISABLED]:
            labels[task_id] = Upstream.DISABLED
        elif task_id in reached[Upstream.FAILED]:
            labels[task_id] = Upstream.FAILED
    return labels


def _deps_of(alias: str) -> str:
    """Join the dependency rows of `alias`.task_id as `e`, following the index."""
    dep = sql.table(Dependency)
    if connection.vendor == "postgresql":
        return (
            f"CROSS JOIN LATERAL (SELECT d.dep_id FROM {dep} d "
            f"WHERE d.task_id = {alias}.task_id OFFSET 0) e"
        )
    return f"CROSS JOIN {dep} e"


def _on(alias: str) -> str:
    return "1 = 1" if connection.vendor == "postgresql" else f"e.task_id = {alias}.task_id"


def walk_up(task_ids: list[str], cap: int = WALK_CAP) -> list[tuple[str, str, str]] | None:
    """The edges of the PENDING closure above these tasks (one query), or None if it
    holds more than `cap` tasks."""
    task = sql.table(Task)
    marks = ", ".join(["%s"] * len(task_ids))
    rows = sql.fetch(
        f"WITH RECURSIVE c(task_id) AS ("
        f"SELECT task_id FROM {task} WHERE task_id IN ({marks}) AND status = 'PENDING' "
        f"UNION SELECT e.dep_id FROM c {_deps_of('c')} CROSS JOIN {task} t "
        f"WHERE {_on('c')} AND t.task_id = e.dep_id AND t.status = 'PENDING'), "
        f"k(task_id) AS (SELECT task_id FROM c LIMIT {int(cap) + 1}) "
        "SELECT k.task_id, NULL, NULL FROM k "
        f"UNION ALL SELECT k.task_id, e.dep_id, t.status FROM k {_deps_of('k')} "
        f"CROSS JOIN {task} t WHERE {_on('k')} AND t.task_id = e.dep_id "
        "AND t.status IN ('PENDING', 'FAILED', 'DISABLED')",
        task_ids,
    )
    if sum(1 for _, dep, _ in rows if dep is None) > cap:
        return None
    return [(a, b, s) for a, b, s in rows if b is not None]

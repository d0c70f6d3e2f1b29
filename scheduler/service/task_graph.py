"""A task's dependency graph as nodes and edges (for front ends and Grafana's node graph).

The reachable edges come from one recursive query per direction; nodes are kept
breadth first from the root up to ``max_nodes``, and their rows fetched in bulk.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from django.db import connection

from ..errors import InvalidArgument, NotFound
from ..models import Dependency, Task
from ..status import Status
from . import sql
from .base import Ctx
from .queries import unknown_node, upstream_labels
from .sql import chunks

DIRECTIONS = ("upstream", "downstream", "both")
DEFAULT_MAX_NODES = 1000


def _edges_sql(direction: str) -> str:
    """Every edge reachable from the root (%s) in one direction, as (dependent,
    dependency). Joins follow the index from the rows found so far (LATERAL with
    OFFSET 0 on PostgreSQL, CROSS JOIN order on SQLite), never a scan of all edges."""
    task, dep = sql.table(Task), sql.table(Dependency)
    near, far = ("task_id", "dep_id") if direction == "upstream" else ("dep_id", "task_id")
    if connection.vendor == "postgresql":
        edges = (
            f"CROSS JOIN LATERAL (SELECT d.task_id, d.dep_id FROM {dep} d "
            f"WHERE d.{near} = r.task_id OFFSET 0) e"
        )
        where = "1 = 1"
    else:
        edges, where = f"CROSS JOIN {dep} e", f"e.{near} = r.task_id"
    return (
        f"WITH RECURSIVE r(task_id) AS (SELECT task_id FROM {task} WHERE task_id = %s "
        f"UNION SELECT e.{far} FROM r {edges} WHERE {where}) "
        f"SELECT e.task_id, e.dep_id FROM r {edges} WHERE {where}"
    )


def parse_graph_args(ctx: Ctx, direction: Any, max_nodes: Any) -> tuple[str, int]:
    direction = direction or "upstream"
    if direction not in DIRECTIONS:
        raise InvalidArgument(
            "direction", f"unknown direction {direction!r}; expected one of {', '.join(DIRECTIONS)}"
        )
    cap = ctx.config.max_graph_nodes
    if max_nodes in (None, ""):
        return direction, min(DEFAULT_MAX_NODES, cap)
    try:
        n = int(max_nodes)
    except (TypeError, ValueError):
        raise InvalidArgument("max_nodes", f"{max_nodes!r} is not an integer") from None
    if not 1 <= n <= cap:
        raise InvalidArgument("max_nodes", f"must be between 1 and {cap}, got {n}")
    return direction, n


def _edges(direction: str, root: str) -> list[tuple[str, str]]:
    return [(a, b) for a, b in sql.fetch(_edges_sql(direction), [root])]


def _breadth_first(root: str, adjacency: dict[str, dict[str, list[str]]], cap: int) -> list[str]:
    """Nodes nearest the root first; each side of `adjacency` is followed on its own."""
    kept, seen = [root], {(root, side) for side in adjacency}
    queue = deque((root, side) for side in adjacency)
    while queue and len(kept) < cap:
        node, side = queue.popleft()
        for neighbour in adjacency[side].get(node, ()):
            if (neighbour, side) in seen:
                continue
            seen.add((neighbour, side))
            queue.append((neighbour, side))
            if neighbour not in kept:
                kept.append(neighbour)
                if len(kept) >= cap:
                    break
    return kept


def task_graph(ctx: Ctx, task_id: str, direction: Any = None, max_nodes: Any = None) -> dict:
    direction, cap = parse_graph_args(ctx, direction, max_nodes)
    if not Task.objects.filter(pk=task_id).exists():
        raise NotFound(f"no task with id {task_id!r}")
    edges: set[tuple[str, str]] = set()
    adjacency: dict[str, dict[str, list[str]]] = {}
    reached = {task_id}
    if direction in ("upstream", "both"):
        up = _edges("upstream", task_id)
        edges.update(up)
        adjacency["up"] = {}
        for dependent, dependency in sorted(up):
            adjacency["up"].setdefault(dependent, []).append(dependency)
            reached.add(dependency)
    if direction in ("downstream", "both"):
        down = _edges("downstream", task_id)
        edges.update(down)
        adjacency["down"] = {}
        for dependent, dependency in sorted(down):
            adjacency["down"].setdefault(dependency, []).append(dependent)
            reached.add(dependent)
    kept = _breadth_first(task_id, adjacency, cap)
    keep = set(kept)
    rows: dict[str, dict] = {}
    columns = ("task_id", "family", "display_name", "status", "priority", "progress_percentage")
    for part in chunks(kept):
        for values in Task.objects.filter(pk__in=part).values_list(*columns):
            rows[values[0]] = dict(zip(columns, values, strict=True))
    pending = [i for i, row in rows.items() if row["status"] == Status.PENDING]
    labels = upstream_labels(pending)
    nodes = []
    for node_id in kept:
        node = rows.get(node_id)
        if node is None or not node["family"]:  # not registered by a worker yet
            node = unknown_node(node_id)
        node["display_status"] = labels.get(node_id, node["status"])
        nodes.append(node)
    return {
        "root": task_id,
        "direction": direction,
        "nodes": nodes,
        "edges": [{"source": a, "target": b} for a, b in sorted(edges) if a in keep and b in keep],
        "truncated": len(kept) < len(reached),
        "total_nodes": len(reached),
    }

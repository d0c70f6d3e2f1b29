"""A task's dependency graph as the dashboard draws it: nodes, edges, positions.

Nodes and edges come from the service's ``dep_graph`` (upstream: what the task
needs) and ``inverse_dep_graph`` (downstream: what needs it).
Beyond ``GROUP_ABOVE`` nodes, every family with at least ``GROUP_MIN`` tasks in
the graph is collapsed into one group node (its status is the most urgent of its
members'); if the graph is still too big, it is cut to ``MAX_DRAWN`` nodes,
breadth-first from the task. Either way the answer says so in ``message``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from scheduler.errors import InvalidArgument, NotFound
from scheduler.models import Task
from scheduler.service import Ctx
from scheduler.service.reads import dep_graph, inverse_dep_graph

from .layout import layered

GROUP_ABOVE = 5000
GROUP_MIN = 20
MAX_DRAWN = 5000
# A group takes the colour of its most urgent member status, in this order.
URGENCY = ["FAILED", "RUNNING", "BATCH_RUNNING", "PENDING", "DISABLED", "UNKNOWN", "DONE"]


@dataclass
class Graph:
    root: str
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    edges: set[tuple[str, str]] = field(default_factory=set)  # (dependent, dependency)
    messages: list[str] = field(default_factory=list)
    total_nodes: int = 0
    grouped: bool = False
    truncated: bool = False


DIRECTIONS = ("upstream", "downstream", "both")


def label(task_id: str, data: dict[str, Any]) -> str:
    """Luigi's display name: the root's is given; the others' are made the same way."""
    if data.get("display_name"):
        return str(data["display_name"])
    name, params = data.get("name") or "", data.get("params") or {}
    if not name:
        return task_id
    return f"{name}({', '.join(f'{k}={v}' for k, v in params.items())})"


def _node(task_id: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": task_id,
        "family": data.get("name") or "",
        "label": label(task_id, data),
        "status": data.get("status") or "UNKNOWN",
        "progress": data.get("progress_percentage"),
    }


def collect(ctx: Ctx, task_id: str, direction: str) -> Graph:
    """The graph around ``task_id`` (up to ``max_graph_nodes`` each way).

    Read with the service's ``dep_graph`` / ``inverse_dep_graph``, whose cost grows
    with the graph, not with the database."""
    if direction not in DIRECTIONS:
        raise InvalidArgument(
            "direction", f"unknown direction {direction!r}; expected one of {', '.join(DIRECTIONS)}"
        )
    if not Task.objects.filter(pk=task_id).exists():
        raise NotFound(f"no task with id {task_id!r}")
    graph = Graph(root=task_id)
    cap = ctx.config.max_graph_nodes
    if direction in ("upstream", "both"):
        up = dep_graph(ctx, task_id=task_id)
        graph.truncated |= len(up) >= cap
        for tid, data in up.items():
            graph.nodes[tid] = _node(tid, data)
            graph.edges.update((tid, dep) for dep in data.get("deps") or ())
    if direction in ("downstream", "both"):
        down = inverse_dep_graph(ctx, task_id=task_id)
        graph.truncated |= len(down) >= cap
        for tid, data in down.items():
            graph.nodes.setdefault(tid, _node(tid, data))
            # In the inverse graph a task's "deps" are the tasks that need it.
            graph.edges.update((dependent, tid) for dependent in data.get("deps") or ())
    graph.edges = {(a, b) for a, b in graph.edges if a in graph.nodes and b in graph.nodes}
    graph.total_nodes = len(graph.nodes)
    if graph.truncated:
        graph.messages.append(
            f"The graph is bigger than the {cap:,} tasks read each way (max_graph_nodes)."
        )
    return graph


def group_families(graph: Graph) -> None:
    """Collapse every family with ``GROUP_MIN`` or more tasks into one node."""
    sizes = Counter(n["family"] for tid, n in graph.nodes.items() if tid != graph.root)
    big = {family for family, size in sizes.items() if family and size >= GROUP_MIN}
    if not big:
        return
    owner: dict[str, str] = {}
    groups: dict[str, dict[str, Any]] = {}
    for tid, node in graph.nodes.items():
        if tid != graph.root and node["family"] in big:
            gid = f"family:{node['family']}"
            owner[tid] = gid
            group = groups.setdefault(
                gid,
                {
                    "id": gid,
                    "family": node["family"],
                    "status": "DONE",
                    "progress": None,
                    "group": {"count": 0, "statuses": Counter()},
                },
            )
            group["group"]["count"] += 1
            group["group"]["statuses"][node["status"]] += 1
    for group in groups.values():
        statuses = group["group"]["statuses"]
        group["status"] = min(statuses, key=lambda s: URGENCY.index(s) if s in URGENCY else 99)
        group["group"]["statuses"] = dict(statuses)
        group["label"] = f"{group['family']} \u00d7{group['group']['count']}"
    kept = {tid: n for tid, n in graph.nodes.items() if tid not in owner}
    graph.nodes = {**kept, **groups}
    graph.edges = {
        (owner.get(a, a), owner.get(b, b))
        for a, b in graph.edges
        if owner.get(a, a) != owner.get(b, b)
    }
    graph.grouped = True
    graph.messages.append(
        f"{graph.total_nodes:,} tasks: families with {GROUP_MIN} or more tasks are shown as "
        "one group each; open a group to list its tasks."
    )


def cut(graph: Graph, limit: int) -> None:
    """Keep ``limit`` nodes, breadth-first from the root along edges either way."""
    near: dict[str, list[str]] = {}
    for a, b in graph.edges:
        near.setdefault(a, []).append(b)
        near.setdefault(b, []).append(a)
    keep, frontier = {graph.root}, [graph.root]
    while frontier and len(keep) < limit:
        following = []
        for tid in frontier:
            for other in sorted(near.get(tid, ())):
                if other not in keep and len(keep) < limit:
                    keep.add(other)
                    following.append(other)
        frontier = following
    shown = len(graph.nodes)
    graph.nodes = {tid: n for tid, n in graph.nodes.items() if tid in keep}
    graph.edges = {(a, b) for a, b in graph.edges if a in keep and b in keep}
    graph.truncated = True
    graph.messages.append(
        f"Showing the {len(keep):,} nodes nearest the task of {shown:,}; "
        "open a task further out to see its own graph."
    )


def drawing(ctx: Ctx, task_id: str, direction: str = "both") -> dict[str, Any]:
    """The JSON the graph view draws (the service's InvalidArgument / NotFound on bad input)."""
    graph = collect(ctx, task_id, direction)
    if len(graph.nodes) > GROUP_ABOVE:
        group_families(graph)
    if len(graph.nodes) > MAX_DRAWN:
        cut(graph, MAX_DRAWN)
    ids = list(graph.nodes)
    edges = sorted(graph.edges)
    positions = layered(ids, edges)
    nodes = [{**graph.nodes[tid], "x": positions[tid][0], "y": positions[tid][1]} for tid in ids]
    index = {tid: i for i, tid in enumerate(ids)}
    return {
        "root": task_id,
        "direction": direction,
        "nodes": nodes,
        # [dependent, dependency] as indexes into nodes: half the size of the ids.
        "edges": [[index[a], index[b]] for a, b in edges],
        "total_nodes": graph.total_nodes,
        "grouped": graph.grouped,
        "truncated": graph.truncated,
        "message": " ".join(graph.messages),
    }

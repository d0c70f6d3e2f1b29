"""The dependency graph below one or many root tasks.

Built iteratively (a 10,000-task chain needs no recursion), one node per
``task_id``, with cycles reported as they are found::

    DependencyCycleError: dependency cycle: A(x=1) -> B() -> A(x=1)

``requires()`` is called once per task, behind the error boundary
(:mod:`workers.boundary`). Pass ``expand`` to skip the requirements of some
tasks, e.g. ``expand=lambda t: not boundary.is_complete(t)`` as Luigi's worker
does for tasks that are already complete.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from workers import boundary
from workers.errors import DependencyCycleError, InvalidDependencyError
from workers.task import Task
from workers.util import flatten


@dataclass
class DependencyGraph:
    #: task_id -> task, in the order tasks were first found
    tasks: dict[str, Task] = field(default_factory=dict)
    #: task_id -> ids of its direct requirements (deduplicated, in requires() order)
    edges: dict[str, list[str]] = field(default_factory=dict)
    #: ids of the root tasks
    roots: list[str] = field(default_factory=list)
    #: ids with every task after all of its requirements
    order: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.tasks)

    def __contains__(self, task: object) -> bool:
        return isinstance(task, Task) and task.task_id in self.tasks

    def __iter__(self) -> Iterator[Task]:
        return iter(self.topological_order())

    def requirements(self, task: Task) -> list[Task]:
        return [self.tasks[dep] for dep in self.edges.get(task.task_id, [])]

    def topological_order(self) -> list[Task]:
        """Every task, each after all of its requirements."""
        return [self.tasks[task_id] for task_id in self.order]

    def dependents(self) -> dict[str, list[str]]:
        """task_id -> ids of the tasks that require it."""
        reverse: dict[str, list[str]] = {task_id: [] for task_id in self.tasks}
        for task_id, deps in self.edges.items():
            for dep in deps:
                reverse[dep].append(task_id)
        return reverse


def _as_roots(roots: Task | Iterable[Task]) -> list[Task]:
    found = [roots] if isinstance(roots, Task) else flatten(roots)
    for item in found:
        if not isinstance(item, Task):
            raise InvalidDependencyError(
                f"root {item!r} (a {type(item).__name__}) is not a Task instance"
            )
    return found


def build_graph(
    roots: Task | Iterable[Task], expand: Callable[[Task], bool] | None = None
) -> DependencyGraph:
    """Walk the requirements of ``roots`` depth-first, without recursion."""
    graph = DependencyGraph()
    done: set[str] = set()
    for root in _as_roots(roots):
        if root.task_id not in graph.roots:
            graph.roots.append(root.task_id)
        if root.task_id in done:
            continue
        _walk(graph, root, expand, done)
    return graph


def _requirement_ids(
    graph: DependencyGraph, task: Task, expand: Callable[[Task], bool] | None
) -> list[str]:
    if expand is not None and not expand(task):
        graph.edges[task.task_id] = []
        return []
    ids: dict[str, None] = {}
    for dep in boundary.requirements(task):
        graph.tasks.setdefault(dep.task_id, dep)
        ids.setdefault(dep.task_id, None)
    graph.edges[task.task_id] = list(ids)
    return graph.edges[task.task_id]


def _walk(
    graph: DependencyGraph, root: Task, expand: Callable[[Task], bool] | None, done: set[str]
) -> None:
    graph.tasks.setdefault(root.task_id, root)
    path: list[str] = [root.task_id]  # the current chain of requirements
    on_path: dict[str, int] = {root.task_id: 0}  # task_id -> index in path
    pending: list[Iterator[str]] = [iter(_requirement_ids(graph, root, expand))]
    while pending:
        next_id = next(pending[-1], None)
        if next_id is None:  # every requirement of path[-1] is done
            finished = path.pop()
            del on_path[finished]
            pending.pop()
            done.add(finished)
            graph.order.append(finished)
            continue
        if next_id in done:
            continue
        if next_id in on_path:
            cycle = [*path[on_path[next_id] :], next_id]
            raise DependencyCycleError([graph.tasks[task_id] for task_id in cycle])
        on_path[next_id] = len(path)
        path.append(next_id)
        pending.append(iter(_requirement_ids(graph, graph.tasks[next_id], expand)))

"""Scheduling: walk the graph below the root tasks and say what each task needs.

``complete()`` is checked level by level, in parallel threads once a level is
large (a check is often a file stat or a database query, so threads overlap
the waiting). Complete tasks are not expanded, as in Luigi. The result is a
:class:`Plan`: every task reached with its :class:`Initial` state, its
requirements and an order with every task after its requirements (cycles are
refused with :class:`~workers.errors.DependencyCycleError`).
"""

from __future__ import annotations

import enum
import logging
import queue
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from workers import boundary
from workers.errors import UserCodeError, WorkersError
from workers.graph import build_graph
from workers.task import Task, is_external

logger = logging.getLogger(__name__)

#: Levels smaller than this are checked in the calling thread.
PARALLEL_THRESHOLD = 16


class Initial(enum.Enum):
    """What the worker found when it scheduled a task."""

    # complete() was True: registered DONE, never run, requirements not expanded.
    DONE = "done"
    # Incomplete and runnable here: registered PENDING with its requirements.
    PENDING = "pending"
    # An ExternalTask (no run()) whose output is missing: registered PENDING, not runnable.
    EXTERNAL = "external"
    # The task class says disabled: registered DISABLED.
    DISABLED = "disabled"
    # complete() or requires() raised: registered UNKNOWN, not runnable.
    ERROR = "error"


@dataclass
class Plan:
    tasks: dict[str, Task] = field(default_factory=dict)
    initial: dict[str, Initial] = field(default_factory=dict)
    #: task_id -> ids of its requirements (only for PENDING tasks)
    deps: dict[str, list[str]] = field(default_factory=dict)
    #: task_id -> explanation, for ERROR tasks
    errors: dict[str, str] = field(default_factory=dict)
    #: every task id, each after its requirements
    order: list[str] = field(default_factory=list)
    roots: list[str] = field(default_factory=list)

    def merge(self, other: Plan) -> list[str]:
        """Add the tasks of ``other`` not known yet; return their ids (in order)."""
        new = [task_id for task_id in other.order if task_id not in self.tasks]
        for task_id in new:
            self.tasks[task_id] = other.tasks[task_id]
            self.initial[task_id] = other.initial[task_id]
            if task_id in other.deps:
                self.deps[task_id] = other.deps[task_id]
            if task_id in other.errors:
                self.errors[task_id] = other.errors[task_id]
            self.order.append(task_id)
        return new


def parallel_map(
    func: Callable[[Task], Any], items: list[Task], threads: int
) -> list[tuple[Any, BaseException | None]]:
    """``func`` over ``items`` in up to ``threads`` threads: (result, exception) per item.

    Each thread closes the database connections it opened before it ends.
    """
    results: list[tuple[Any, BaseException | None]] = [(None, None)] * len(items)
    if threads <= 1 or len(items) < PARALLEL_THRESHOLD:
        for index, item in enumerate(items):
            try:
                results[index] = (func(item), None)
            except Exception as exc:
                results[index] = (None, exc)
        return results

    work: queue.SimpleQueue[int] = queue.SimpleQueue()
    for index in range(len(items)):
        work.put(index)

    def drain() -> None:
        try:
            while True:
                try:
                    index = work.get_nowait()
                except queue.Empty:
                    return
                try:
                    results[index] = (func(items[index]), None)
                except Exception as exc:
                    results[index] = (None, exc)
        finally:
            _close_thread_connections()

    pool = [threading.Thread(target=drain, daemon=True) for _ in range(min(threads, len(items)))]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return results


def _close_thread_connections() -> None:
    try:
        from django.db import connections

        for conn in connections.all(initialized_only=True):
            conn.close()
    except Exception:  # no Django project, or nothing to close
        pass


def _explain(exc: BaseException) -> str:
    if isinstance(exc, UserCodeError):
        return f"{exc}\n{exc.traceback_text}"
    return f"{type(exc).__name__}: {exc}"


def walk(roots: Iterable[Task], threads: int = 8) -> Plan:
    """Check and expand the graph below ``roots``; raises DependencyCycleError on a cycle."""
    plan = Plan()
    frontier: list[Task] = []
    for root in roots:
        if root.task_id not in plan.tasks:
            plan.roots.append(root.task_id)
            plan.tasks[root.task_id] = root
            frontier.append(root)
    while frontier:
        checks = parallel_map(boundary.is_complete, frontier, threads)
        following: list[Task] = []
        for task, (complete, error) in zip(frontier, checks, strict=True):
            task_id = task.task_id
            if error is not None:
                if not isinstance(error, WorkersError):
                    raise error
                logger.error("%s: complete() failed: %s", task_id, error)
                plan.initial[task_id], plan.errors[task_id] = Initial.ERROR, _explain(error)
                continue
            if complete:
                plan.initial[task_id] = Initial.DONE
                continue
            if is_external(task):
                plan.initial[task_id] = Initial.EXTERNAL
                continue
            if task.disabled:
                plan.initial[task_id] = Initial.DISABLED
                continue
            try:
                requirements = boundary.requirements(task)
            except UserCodeError as exc:
                logger.error("%s: requires() failed: %s", task_id, exc)
                plan.initial[task_id], plan.errors[task_id] = Initial.ERROR, _explain(exc)
                continue
            plan.initial[task_id] = Initial.PENDING
            plan.deps[task_id] = list(dict.fromkeys(dep.task_id for dep in requirements))
            for dep in requirements:
                if dep.task_id not in plan.tasks:
                    plan.tasks[dep.task_id] = dep
                    following.append(dep)
        frontier = following
    # The second walk only detects cycles and orders the tasks; requires() of the
    # pending tasks already succeeded once.
    graph = build_graph(
        [plan.tasks[task_id] for task_id in plan.roots],
        expand=lambda task: plan.initial.get(task.task_id) is Initial.PENDING,
    )
    plan.order = list(graph.order)
    return plan


_REGISTERED_STATUS = {
    Initial.DONE: "DONE",
    Initial.PENDING: "PENDING",
    Initial.EXTERNAL: "PENDING",
    Initial.DISABLED: "DISABLED",
    Initial.ERROR: "UNKNOWN",
}


def task_payload(
    task: Task,
    worker: str,
    *,
    status: str,
    runnable: bool | None,
    deps: list[str] | None = None,
    new_deps: list[str] | None = None,
    expl: str | None = None,
    assistant: bool = False,
) -> dict[str, Any]:
    """An ``add_task`` payload with every key a Luigi worker sends (spec section 2.3)."""
    return {
        "task_id": task.task_id,
        "status": status,
        "runnable": runnable,
        "deps": deps,
        "new_deps": new_deps,
        "expl": expl,
        "resources": dict(task.process_resources() or {}),
        "priority": task.priority,
        "family": task.get_task_family(),
        "module": task.task_module,
        "params": task.to_str_params(),
        "param_visibilities": task.param_visibilities(),
        "accepts_messages": bool(task.accepts_messages),
        "assistant": assistant,
        "tracking_url": None,
        "worker": worker,
        "batchable": False,
        "batch_id": None,
        "retry_policy_dict": task.retry_policy_dict(),
        "owners": task.owner_list(),
    }


def registration_payloads(
    plan: Plan, task_ids: Iterable[str], worker: str, assistant: bool = False
) -> list[dict[str, Any]]:
    """Payloads registering ``task_ids`` as this worker found them."""
    payloads = []
    for task_id in task_ids:
        initial = plan.initial[task_id]
        payloads.append(
            task_payload(
                plan.tasks[task_id],
                worker,
                status=_REGISTERED_STATUS[initial],
                runnable=initial is Initial.PENDING,
                deps=plan.deps.get(task_id),
                expl=plan.errors.get(task_id),
                assistant=assistant,
            )
        )
    return payloads

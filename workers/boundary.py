"""The error boundary around a task's own code.

``requires()``, ``output()`` and ``complete()`` are user code: anything they
raise becomes a :class:`UserCodeError` (original exception as ``__cause__``,
traceback text kept), and what they return is checked, so a mistake is
reported against the task that made it.
"""

from __future__ import annotations

from typing import Any

from workers.errors import InvalidDependencyError, InvalidOutputError, UserCodeError
from workers.target import Target
from workers.task import Task
from workers.util import flatten


def _call(task: Task, method: str) -> Any:
    try:
        return getattr(task, method)()
    except Exception as exc:
        raise UserCodeError(task, method, exc) from exc


def requirements(task: Task) -> list[Task]:
    """``task.requires()``, flattened and checked to contain only Tasks."""
    found = flatten(_call(task, "requires"))
    for item in found:
        if isinstance(item, Task):
            continue
        if isinstance(item, Target):
            raise InvalidDependencyError(
                f"{task!r}.requires() returned the target {item!r}; requires() must return "
                "tasks: wrap existing data in an ExternalTask whose output() is that target"
            )
        raise InvalidDependencyError(
            f"{task!r}.requires() returned {item!r} (a {type(item).__name__}); it must return "
            "a Task or a list/tuple/dict of Tasks"
        )
    return found


def outputs(task: Task) -> list[Target]:
    """``task.output()``, flattened and checked to contain only Targets."""
    found = flatten(_call(task, "output"))
    for item in found:
        if not isinstance(item, Target):
            raise InvalidOutputError(
                f"{task!r}.output() returned {item!r} (a {type(item).__name__}); it must return "
                "a Target (e.g. LocalTarget) or a list/tuple/dict of Targets"
            )
    return found


def is_complete(task: Task) -> bool:
    """``task.complete()`` behind the boundary; with the default complete(), outputs are checked."""
    if type(task).complete is Task.complete:
        found = outputs(task)
        try:
            return bool(found) and all(target.exists() for target in found)
        except Exception as exc:
            raise UserCodeError(task, "complete", exc) from exc
    return bool(_call(task, "complete"))

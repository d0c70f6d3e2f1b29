"""Helpers over the nested structures that requires() and output() may return."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workers.task import Task


def flatten(struct: Any) -> list[Any]:
    """All leaves of nested dicts (values) and iterables, in order; None gives []."""
    if struct is None:
        return []
    if isinstance(struct, dict):
        return [leaf for value in struct.values() for leaf in flatten(value)]
    if isinstance(struct, str | bytes):
        return [struct]
    try:
        items = iter(struct)
    except TypeError:
        return [struct]
    return [leaf for item in items for leaf in flatten(item)]


def getpaths(struct: Any) -> Any:
    """The same structure with every Task replaced by its output()."""
    from workers.task import Task

    if isinstance(struct, Task):
        return struct.output()
    if isinstance(struct, dict):
        return struct.__class__((key, getpaths(value)) for key, value in struct.items())
    if isinstance(struct, list | tuple):
        return struct.__class__(getpaths(item) for item in struct)
    if isinstance(struct, Iterable):
        return [getpaths(item) for item in struct]
    raise TypeError(f"cannot map {struct!r} to Task/dict/list")


def flatten_output(task: Task) -> list[Any]:
    """Outputs of ``task``; for a task without outputs, those of its requirements, and so on."""
    with_outputs: dict[Task, None] = {}
    queue: deque[Task] = deque([task])
    seen: set[Task] = set()
    while queue:
        current = queue.popleft()
        if current in seen:
            continue
        seen.add(current)
        if flatten(current.output()):
            with_outputs.setdefault(current, None)
        else:
            queue.extend(flatten(current.requires()))
    return flatten([found.output() for found in with_outputs])

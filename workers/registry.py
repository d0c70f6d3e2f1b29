"""Every Task class ever defined, looked up by family name (``namespace.ClassName``).

Redefining a class (same module and qualified name, e.g. a module reloaded or a
test run twice) replaces the earlier definition. Two different classes with
the same family resolve to the later one only if it subclasses the others;
otherwise the lookup is ambiguous and raises.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

from workers.errors import AmbiguousTaskClassError, TaskClassNotFoundError

if TYPE_CHECKING:
    from workers.task import Task

_classes: list[type[Task]] = []


def register(cls: type[Task]) -> None:
    """Record a newly created Task class (called by the metaclass)."""
    key = (cls.__module__, cls.__qualname__)
    _classes[:] = [old for old in _classes if (old.__module__, old.__qualname__) != key]
    _classes.append(cls)


def _visible() -> list[type[Task]]:
    return [cls for cls in _classes if cls.__dict__.get("_visible_in_registry", True)]


def _by_family() -> dict[str, list[type[Task]]]:
    families: dict[str, list[type[Task]]] = {}
    for cls in _visible():
        families.setdefault(cls.get_task_family(), []).append(cls)
    return families


def task_classes() -> list[type[Task]]:
    """Every registered (visible) Task class."""
    return _visible()


def task_names() -> list[str]:
    """Every registered family name, sorted."""
    return sorted(_by_family())


def get_task_class(family: str) -> type[Task]:
    """The Task class registered under ``family``; raises a TaskClassError otherwise."""
    candidates = _by_family().get(family, [])
    if not candidates:
        close = difflib.get_close_matches(family, task_names(), n=5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise TaskClassNotFoundError(
            f"no task class named {family!r} is registered (is its module imported?).{hint}"
        )
    latest = candidates[-1]
    if all(issubclass(latest, other) for other in candidates):
        return latest
    where = ", ".join(f"{cls.__module__}.{cls.__qualname__}" for cls in candidates)
    raise AmbiguousTaskClassError(
        f"task family {family!r} is ambiguous: defined by {where}; "
        "rename one of them or give it a task_namespace"
    )


def unregister(cls: type[Task]) -> None:
    """Forget ``cls`` (mostly for tests)."""
    _classes[:] = [old for old in _classes if old is not cls]

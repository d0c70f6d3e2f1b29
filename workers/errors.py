"""One error hierarchy for everything the pipeline-authoring API raises.

Every message says which task (family or ``Family(k=v)``) and which parameter,
dependency or output was wrong, so a failure in a big graph points at its cause.
"""

from __future__ import annotations

import traceback
from typing import Any


class WorkersError(Exception):
    """Base class of every error raised by the ``workers`` package."""


class TaskDefinitionError(WorkersError):
    """A Task class or Parameter is declared incorrectly (a programming error)."""


class ParameterError(WorkersError):
    """A parameter value for a task is missing, unknown or invalid."""


class MissingParameterError(ParameterError):
    """A required parameter has no value and no default in code or configuration."""


class UnknownParameterError(ParameterError):
    """A value was given for a parameter the task does not declare."""


class DuplicateParameterError(ParameterError):
    """The same parameter was given both positionally and by keyword."""


class UnparsableParameterError(ParameterError, ValueError):
    """A parameter value cannot be parsed or is outside the accepted values."""


class TaskClassError(WorkersError):
    """A task family name cannot be resolved to exactly one Task class."""


class TaskClassNotFoundError(TaskClassError):
    """No registered Task class has the requested family."""


class AmbiguousTaskClassError(TaskClassError):
    """Several unrelated Task classes share the requested family."""


class DependencyError(WorkersError):
    """The dependency graph cannot be built."""


class DependencyCycleError(DependencyError):
    """Tasks require each other in a cycle; ``cycle`` lists the tasks, first == last."""

    def __init__(self, cycle: list[Any]) -> None:
        self.cycle = cycle
        super().__init__("dependency cycle: " + " -> ".join(repr(task) for task in cycle))


class InvalidDependencyError(DependencyError):
    """``requires()`` (or a dynamic ``yield``) produced something that is not a Task."""


class InvalidOutputError(DependencyError):
    """``output()`` produced something that is not a Target."""


class UserCodeError(WorkersError):
    """A task's own code (``requires``, ``output``, ``complete``, ...) raised.

    The original exception is the ``__cause__`` and ``original``; its formatted
    traceback is kept in ``traceback_text`` so it can be reported to the scheduler.
    """

    def __init__(self, task: Any, method: str, original: BaseException) -> None:
        self.task = task
        self.method = method
        self.original = original
        self.traceback_text = "".join(traceback.format_exception(original))
        super().__init__(f"{task!r}.{method}() raised {type(original).__name__}: {original}")

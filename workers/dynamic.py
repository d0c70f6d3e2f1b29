"""Dynamic dependencies: a ``run()`` that yields tasks it needs before it can go on.

``run()`` may be a generator. Each ``yield`` hands over a task, a list/dict of
tasks, or a :class:`DynamicRequirements`; once they are complete the generator
is resumed with their outputs (the same structure, as ``input()`` gives).
:class:`RunDriver` does the bookkeeping, so the runtime only loops::

    driver = RunDriver(task)
    while not (step := driver.step()).done:
        schedule(step.missing)      # ...and call driver.step() again once they are done
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from workers.errors import InvalidDependencyError
from workers.task import Task
from workers.util import flatten, getpaths


class DynamicRequirements:
    """Yielded requirements with an optional custom completeness check.

    ``custom_complete(complete_fn)`` returns True when the requirements are
    satisfied; it may be cheaper than checking every task (e.g. one listing).
    """

    def __init__(
        self,
        requirements: Any,
        custom_complete: Callable[[Callable[[Task], bool]], bool] | None = None,
    ) -> None:
        self.requirements = requirements
        self.custom_complete = custom_complete

    @property
    def flat_requirements(self) -> list[Task]:
        return flatten(self.requirements)

    @property
    def paths(self) -> Any:
        return getpaths(self.requirements)

    def complete(self, complete_fn: Callable[[Task], bool] | None = None) -> bool:
        check = complete_fn or (lambda task: task.complete())
        if self.custom_complete is not None:
            return self.custom_complete(check)
        return all(check(task) for task in self.flat_requirements)


@dataclass
class RunStep:
    """The outcome of one :meth:`RunDriver.step`."""

    #: run() has returned: the task's work is finished.
    done: bool
    #: Requested tasks that are not complete yet (empty when done).
    missing: list[Task] = field(default_factory=list)
    #: Every task requested by the current yield (for registering dependencies).
    requested: list[Task] = field(default_factory=list)


def _requested(task: Task, yielded: Any) -> tuple[list[Task], DynamicRequirements]:
    dynamic = yielded if isinstance(yielded, DynamicRequirements) else DynamicRequirements(yielded)
    tasks = dynamic.flat_requirements
    for item in tasks:
        if not isinstance(item, Task):
            raise InvalidDependencyError(
                f"{task!r}.run() yielded {item!r} (a {type(item).__name__}); "
                "a dynamic dependency must be a Task or a list/dict of Tasks"
            )
    return tasks, dynamic


class RunDriver:
    """Drives one task's ``run()``, pausing whenever it yields incomplete tasks.

    Exceptions raised by ``run()`` propagate unchanged: the runtime reports them.
    """

    def __init__(self, task: Task, complete: Callable[[Task], bool] | None = None) -> None:
        self.task = task
        self._complete = complete or (lambda t: t.complete())
        self._generator: Generator[Any, Any, Any] | None = None
        self._started = False
        self._waiting: tuple[list[Task], DynamicRequirements] | None = None
        self.done = False

    def step(self) -> RunStep:
        """Run until ``run()`` returns (done) or yields tasks that are not complete."""
        if self.done:
            return RunStep(done=True)
        if not self._started:
            self._started = True
            result = self.task.run()  # type: ignore[misc]
            if not inspect.isgenerator(result):
                self.done = True
                return RunStep(done=True)
            self._generator = result
            return self._advance(None)
        assert self._waiting is not None
        tasks, dynamic = self._waiting
        if not dynamic.complete(self._complete):
            missing = [t for t in tasks if not self._complete(t)]
            return RunStep(done=False, missing=missing, requested=tasks)
        return self._advance(getpaths(dynamic.requirements))

    def _advance(self, value: Any) -> RunStep:
        assert self._generator is not None
        while True:
            try:
                yielded = self._generator.send(value)
            except StopIteration:
                self.done = True
                self._waiting = None
                return RunStep(done=True)
            tasks, dynamic = _requested(self.task, yielded)
            if dynamic.complete(self._complete):
                value = getpaths(dynamic.requirements)
                continue
            self._waiting = (tasks, dynamic)
            missing = [t for t in tasks if not self._complete(t)]
            return RunStep(done=False, missing=missing, requested=tasks)

    def close(self) -> None:
        """Abandon the run (e.g. a dependency failed): lets the generator clean up."""
        if self._generator is not None:
            self._generator.close()
        self.done = True

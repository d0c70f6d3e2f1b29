"""Task classes the runworker tests run in real ``manage.py runworker`` subprocesses.

Every task takes ``root`` (the test's temp directory), so ids never collide
between tests, and writes its evidence under it: ``runs/<task_id>`` is created
exclusively (a second run of the same task fails loudly), ``out/`` holds outputs.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from workers import (
    DateParameter,
    ExternalTask,
    IntParameter,
    LocalTarget,
    Parameter,
    Task,
    WrapperTask,
)


def mark_run(root: str, task_id: str) -> None:
    runs = Path(root) / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    fd = os.open(runs / task_id, os.O_CREAT | os.O_EXCL | os.O_WRONLY)  # fails on a second run
    os.write(fd, f"{os.getpid()}\n".encode())
    os.close(fd)


class _Marked(Task):
    root = Parameter()

    def output(self) -> LocalTarget:
        return LocalTarget(Path(self.root) / "out" / self.task_id)

    def run(self) -> None:
        mark_run(self.root, self.task_id)
        self.work()
        with self.output().open("w") as out:
            out.write("ok\n")

    def work(self) -> None:
        pass


class Node(_Marked):
    """Node ``idx`` of an ``n``-task DAG: needs 2i+1, 2i+2 and one cross link."""

    idx = IntParameter()
    n = IntParameter()

    def requires(self) -> list[Node]:
        children = {2 * self.idx + 1, 2 * self.idx + 2, (self.idx * 7 + 3) % self.n}
        return [
            Node(root=self.root, idx=i, n=self.n) for i in sorted(children) if self.idx < i < self.n
        ]

    def work(self) -> None:
        time.sleep(0.005)


class Ok(_Marked):
    pass


class Failing(_Marked):
    def work(self) -> None:
        raise ValueError("this task always fails")


class AfterFailing(_Marked):
    def requires(self) -> Failing:
        return Failing(root=self.root)


class FailureRoot(WrapperTask):
    root = Parameter()

    def requires(self) -> list[Task]:
        return [AfterFailing(root=self.root), Ok(root=self.root)]


class Missing(ExternalTask):
    root = Parameter()

    def output(self) -> LocalTarget:
        return LocalTarget(Path(self.root) / "never-there")


class NeedsMissing(_Marked):
    def requires(self) -> Missing:
        return Missing(root=self.root)


class Long(Task):
    """Sleeps ``seconds`` on its first attempt (writing its pid first), then is quick."""

    root = Parameter()
    seconds = IntParameter(default=60)

    def output(self) -> LocalTarget:
        return LocalTarget(Path(self.root) / "out" / self.task_id)

    def run(self) -> None:
        attempts = Path(self.root) / "attempts"
        attempts.mkdir(parents=True, exist_ok=True)
        number = len(list(attempts.iterdir())) + 1
        (attempts / f"{number}.pid").write_text(str(os.getpid()))
        if number == 1:
            time.sleep(self.seconds)
        with self.output().open("w") as out:
            out.write(f"attempt {number}\n")


class LongRoot(_Marked):
    seconds = IntParameter(default=60)

    def requires(self) -> Long:
        return Long(root=self.root, seconds=self.seconds)


class Crash(_Marked):
    def work(self) -> None:
        os._exit(3)


class Leaf(_Marked):
    idx = IntParameter()


class Dynamic(_Marked):
    """Yields three leaves at run time, then writes its output."""

    def run(self):  # type: ignore[override]
        leaves = yield [Leaf(root=self.root, idx=i) for i in range(3)]
        assert all(target.exists() for target in leaves)
        mark_run(self.root, self.task_id)
        with self.output().open("w") as out:
            out.write("dynamic\n")


class Dated(_Marked):
    date = DateParameter()
    days = IntParameter(default=1)


class CycleA(_Marked):
    def requires(self) -> Task:
        return CycleB(root=self.root)


class CycleB(_Marked):
    def requires(self) -> Task:
        return CycleA(root=self.root)


class Everything(WrapperTask):
    """A small mixed graph for the HTTP tests: a DAG, dynamic dependencies."""

    root = Parameter()

    def requires(self) -> list[Task]:
        return [Node(root=self.root, idx=0, n=12), Dynamic(root=self.root)]

"""Pipelines the run and schedule tests start through the API and qcluster."""

from __future__ import annotations

from pathlib import Path

from workers import IntParameter, LocalTarget, Parameter, Task, WrapperTask


class Step(Task):
    root = Parameter()
    number = IntParameter()

    def output(self) -> LocalTarget:
        return LocalTarget(Path(self.root) / f"step-{self.number}.txt")

    def run(self) -> None:
        with self.output().open("w") as out:
            out.write(f"step {self.number}\n")


class Steps(WrapperTask):
    """``count`` independent steps under ``root``."""

    root = Parameter()
    count = IntParameter(default=3)

    def requires(self) -> list[Step]:
        return [Step(root=self.root, number=n) for n in range(self.count)]


class Broken(Task):
    root = Parameter()

    def output(self) -> LocalTarget:
        return LocalTarget(Path(self.root) / "never.txt")

    def run(self) -> None:
        raise RuntimeError("broken on purpose")

"""Luigi's twins of ``pipelines.RelNode``: same family, parameters and ids."""

from __future__ import annotations

import time
from pathlib import Path

import luigi

from tests.reliability import journal
from tests.reliability.pipelines import node_deps


class RelNode(luigi.Task):
    root = luigi.Parameter()
    idx = luigi.IntParameter()
    n = luigi.IntParameter()
    ms = luigi.IntParameter(default=0)

    def requires(self) -> list[RelNode]:
        return [
            RelNode(root=self.root, idx=i, n=self.n, ms=self.ms)
            for i in node_deps(self.idx, self.n)
        ]

    def output(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(str(Path(self.root) / "out" / self.task_id))

    def run(self) -> None:
        journal.record(self.root, "S", self.task_id)
        time.sleep(self.ms / 1000)
        with self.output().open("w") as out:
            out.write("ok\n")
        journal.record(self.root, "E", self.task_id)


class Idle(luigi.Task):
    """An assistant's root task: already complete, so the worker goes straight to
    running whatever the scheduler hands it."""

    def complete(self) -> bool:
        return True

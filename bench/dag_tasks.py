"""Trivial Luigi tasks forming a fan-in DAG, run by real `luigi` worker processes.

    BenchDagRoot(n_tasks, n_groups)
      -> BenchDagGroup(group=0 .. n_groups-1)
           -> BenchDagLeaf(idx) for every leaf idx with idx % n_groups == group

There are exactly `n_tasks` tasks: 1 root, `n_groups` groups and
`n_tasks - 1 - n_groups` leaves. Every run() writes a tiny file (the pid of the
worker process that ran it) under `[bench_dag] out_dir` from the Luigi config, so
the benchmark can check that every task ran exactly once and who ran it.
"""

from __future__ import annotations

import os

import luigi


class bench_dag(luigi.Config):  # a Luigi config section is named by its class
    out_dir = luigi.Parameter()


def _target(*parts: str) -> luigi.LocalTarget:
    return luigi.LocalTarget(os.path.join(bench_dag().out_dir, *parts))


class _WritesPid(luigi.Task):
    def run(self):
        with self.output().open("w") as handle:
            handle.write(f"{os.getpid()}\n")


class BenchDagLeaf(_WritesPid):
    idx = luigi.IntParameter()
    group = luigi.IntParameter()

    def output(self):
        return _target(f"g{self.group}", f"leaf-{self.idx}.txt")


class BenchDagGroup(_WritesPid):
    group = luigi.IntParameter()
    n_tasks = luigi.IntParameter()
    n_groups = luigi.IntParameter()

    def requires(self):
        n_leaves = self.n_tasks - 1 - self.n_groups
        return [
            BenchDagLeaf(idx=idx, group=self.group)
            for idx in range(self.group, n_leaves, self.n_groups)
        ]

    def output(self):
        return _target(f"group-{self.group}.txt")


class BenchDagRoot(_WritesPid):
    n_tasks = luigi.IntParameter(default=5000)
    n_groups = luigi.IntParameter(default=50)

    def requires(self):
        return [
            BenchDagGroup(group=g, n_tasks=self.n_tasks, n_groups=self.n_groups)
            for g in range(self.n_groups)
        ]

    def output(self):
        return _target("root.txt")

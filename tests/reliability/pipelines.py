"""Task classes of the reliability tests, for ``runworker`` (``workers.Task``).

``luigi_pipelines.py`` defines the same families with Luigi's classes, so a
Luigi worker and a runworker compute the same task ids and share one DAG.
Every run is journaled (``journal.py``): the tests find duplicate and
overlapping runs from it.
"""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path

from tests.reliability import journal
from workers import IntParameter, LocalTarget, Parameter, Task, WrapperTask


def node_deps(idx: int, n: int) -> list[int]:
    """Node ``idx`` of an ``n``-node DAG needs 2i+1, 2i+2 and one cross link."""
    return [i for i in sorted({2 * idx + 1, 2 * idx + 2, (idx * 7 + 3) % n}) if idx < i < n]


class RelNode(Task):
    root = Parameter()
    idx = IntParameter()
    n = IntParameter()
    ms = IntParameter(default=0)  # how long run() takes

    def requires(self) -> list[RelNode]:
        return [
            RelNode(root=self.root, idx=i, n=self.n, ms=self.ms)
            for i in node_deps(self.idx, self.n)
        ]

    def output(self) -> LocalTarget:
        return LocalTarget(Path(self.root) / "out" / self.task_id)

    def run(self) -> None:
        journal.record(self.root, "S", self.task_id)
        time.sleep(self.ms / 1000)
        with self.output().open("w") as out:
            out.write("ok\n")
        journal.record(self.root, "E", self.task_id)


class _Fault(Task):
    root = Parameter()
    priority = 10  # run before the healthy tasks, which prove the worker still serves

    def output(self) -> LocalTarget:
        return LocalTarget(Path(self.root) / "out" / self.task_id)


class Hang(_Fault):
    """run() never returns by itself; its worker_timeout ends it."""

    worker_timeout = 1

    def run(self) -> None:
        journal.record(self.root, "S", self.task_id)
        time.sleep(120)


class Hog(_Fault):
    """Allocates until its child process runs out of (limited) address space."""

    HEADROOM = 256 * 2**20
    CHUNK = 64 * 2**20
    MAX_CHUNKS = 32  # 2 GiB at most, never reached: the limit stops it first

    def run(self) -> None:
        journal.record(self.root, "S", self.task_id)
        with open("/proc/self/statm") as statm:
            size = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        resource.setrlimit(resource.RLIMIT_AS, (size + self.HEADROOM, resource.RLIM_INFINITY))
        held = [bytearray(self.CHUNK) for _ in range(self.MAX_CHUNKS)]
        raise AssertionError(f"allocated {len(held)} chunks past the address-space limit")


class Exits(_Fault):
    """The task's process ends itself without a word (os._exit)."""

    def run(self) -> None:
        journal.record(self.root, "S", self.task_id)
        os._exit(7)


class Healthy(Task):
    root = Parameter()
    idx = IntParameter()

    def output(self) -> LocalTarget:
        return LocalTarget(Path(self.root) / "out" / self.task_id)

    def run(self) -> None:
        journal.record(self.root, "S", self.task_id)
        with self.output().open("w") as out:
            out.write("ok\n")
        journal.record(self.root, "E", self.task_id)


class Faults(WrapperTask):
    root = Parameter()

    def requires(self) -> list[Task]:
        return [
            Hang(root=self.root),
            Hog(root=self.root),
            Exits(root=self.root),
            *(Healthy(root=self.root, idx=i) for i in range(3)),
        ]


class Idle(Task):
    """An assistant's root task: already complete, so the worker goes straight to
    running whatever the scheduler hands it."""

    def complete(self) -> bool:
        return True
